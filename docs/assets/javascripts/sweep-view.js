// Interactive sweep figures: every <div class="sweep-view"> on a page becomes a chart of a
// sweep's metric against its knob, a slider over the knob's values, and the learning curves
// (and kernel weight histogram) of the selected value. The numbers come from the sweep's JSON
// file (docs/generated/sweep_<name>_view.json, written by the report); the page's own static SVG
// inside the div stays for print and for readers without JavaScript. See README.md,
// "Interactive figures", for the markdown a page uses.
//
// Vega, Vega-Lite and vega-embed are vendored at set-up (make assets) next to this file's
// folder and loaded only on pages that have a sweep view; nothing is fetched from elsewhere.
(function () {
  "use strict";

  // Captured now: document.currentScript is only set while this file first runs.
  const HERE = document.currentScript ? document.currentScript.src : document.baseURI;
  const VENDOR = ["vega.min.js", "vega-lite.min.js", "vega-embed.min.js"].map(
    (name) => new URL("../vendor/vega/" + name, HERE).href,
  );

  // Colours for Material's two palettes (body[data-md-color-scheme]). Series colours are the
  // site's primary (indigo) and accent (deep orange), in shades with at least 4.5:1 contrast on
  // the page background; "mark" draws the selected point and its guide line.
  const THEMES = {
    default: { text: "#1f1f1f", muted: "#4d4d4d", grid: "#e3e3e3", domain: "#767676", mark: "#000000",
               series: ["#3949ab", "#c63f17"] },
    slate: { text: "#e8e9ee", muted: "#c3c6d2", grid: "#3b3e4d", domain: "#9a9eb0", mark: "#ffffff",
             series: ["#9fa8ff", "#ffab91"] },
  };
  // The curves' names; the report says what the training labels are ("training (noisy labels)").
  const curveNames = (sweep) => ({ accuracy: sweep.training_curve || "training", val_accuracy: "validation" });

  let vegaLoading = null;
  const views = [];
  let counter = 0;

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = () => reject(new Error("could not load " + src));
      document.head.appendChild(script);
    });
  }

  // In order: Vega-Lite needs window.vega, vega-embed needs both.
  function loadVega() {
    if (window.vegaEmbed) return Promise.resolve();
    if (!vegaLoading) vegaLoading = VENDOR.reduce((done, src) => done.then(() => loadScript(src)), Promise.resolve());
    return vegaLoading;
  }

  function scheme() {
    const name = document.body.getAttribute("data-md-color-scheme");
    return THEMES[name] ? name : "default";
  }

  function element(tag, attributes, text) {
    const e = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) e.setAttribute(key, value);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // The JSON as flat tables for Vega-Lite. On a log axis a knob value of 0 cannot be drawn:
  // it is plotted at a third of the smallest positive value, and its tick is labelled "0".
  function tables(sweep) {
    const positive = sweep.values.filter((v) => v > 0);
    const zeroAt = positive.length ? Math.min(...positive) / 3 : 1;
    const xs = sweep.values.map((v) => (sweep.log_x && v <= 0 ? zeroAt : v));
    const summary = [], curves = [], histogram = [];
    const top = sweep.best || {};
    for (const p of sweep.points) {
      const best = p.series === top.series && p.index === top.index;
      summary.push({ series: p.series, index: p.index, x: xs[p.index], label: sweep.labels[p.index], best,
                     mean: p.metric.mean, low: p.metric.low, high: p.metric.high });
      for (const [key, kind] of Object.entries(curveNames(sweep))) {
        const c = p.curves[key];
        p.curves.epoch.forEach((epoch, i) => curves.push(
          { series: p.series, index: p.index, epoch, kind, mean: c.mean[i], low: c.low[i], high: c.high[i] }));
      }
      if (p.histogram) {
        const { edges, counts } = p.histogram;
        counts.forEach((count, i) => histogram.push(
          { series: p.series, index: p.index, x0: edges[i], x1: edges[i + 1], count }));
      }
    }
    return { xs, summary, curves, histogram };
  }

  function extent(values) {
    return [Math.min(...values), Math.max(...values)];
  }

  // One Vega-Lite spec per (sweep, palette, width). The selected point is the top-level
  // parameter "selected": the slider sets it with view.signal, and every panel filters on it.
  function spec(state) {
    const { sweep, data } = state;
    const theme = THEMES[scheme()];
    const two = sweep.series.length > 1;
    const color = { field: "series", type: "nominal", title: null,
                    scale: { domain: sweep.series, range: theme.series.slice(0, sweep.series.length) },
                    legend: two ? { orient: "top" } : null };
    const width = Math.max(260, state.chart.clientWidth - 40);
    const hasHistogram = data.histogram.length > 0;
    const panel = hasHistogram ? Math.floor((width - 90) / 2) : width - 60;
    const [x0, x1] = extent(data.xs);
    const xScale = sweep.log_x
      ? { type: "log", domain: [x0 / 1.6, x1 * 1.6], nice: false }
      : { type: "linear", domain: [x0 - 0.04 * (x1 - x0), x1 + 0.04 * (x1 - x0)], nice: false, zero: false };
    const x = { field: "x", type: "quantitative", title: sweep.knob, scale: xScale,
                axis: { values: data.xs, labelOverlap: true,
                        labelExpr: JSON.stringify(sweep.labels) + "[indexof(" + JSON.stringify(data.xs) + ", datum.value)]" } };
    const y = (title, domain) => ({ field: "mean", type: "quantitative", title, scale: { zero: false, domain } });
    const band = (opacity) => ({ mark: { type: "area", opacity },
      encoding: { y: { field: "low", type: "quantitative" }, y2: { field: "high" }, color } });
    const selected = { filter: "datum.index == selected" };
    const at = JSON.stringify(sweep.knob + " = ") + " + " + JSON.stringify(sweep.labels) + "[selected]";
    // Room above the highest band for the "best" label.
    const [low, high] = extent(data.summary.flatMap((d) => [d.low, d.high]));
    const metricRange = [low - 0.04 * (high - low), high + 0.12 * (high - low)];

    const overview = {
      width, height: 220,
      title: sweep.title + ": " + sweep.metric.replace(/ \(%\)$/, "") + " (mean and 95% interval over seeds)",
      data: { values: data.summary },
      encoding: { x, y: y(sweep.metric, metricRange) },
      layer: [
        { mark: { type: "area", opacity: 0.22 },
          encoding: { y: { field: "low", type: "quantitative" }, y2: { field: "high" }, color } },
        { mark: { type: "line", point: { size: 36 } }, encoding: { color } },
        // The selected value: a guide line across the chart and a ring on each series' point.
        { transform: [selected, { filter: { field: "series", equal: sweep.series[0] } }],
          mark: { type: "rule", strokeDash: [4, 3], color: theme.mark, opacity: 0.7 }, encoding: { y: null } },
        { transform: [selected], mark: { type: "point", size: 260, strokeWidth: 2.5, color: theme.mark, filled: false } },
        // The best value, with its interval.
        { transform: [{ filter: "datum.best" }], mark: { type: "rule", strokeWidth: 3 },
          encoding: { y: { field: "low", type: "quantitative" }, y2: { field: "high" }, color } },
        { transform: [{ filter: "datum.best" }], mark: { type: "point", shape: "diamond", size: 200, filled: true },
          encoding: { color } },
        { transform: [{ filter: "datum.best" }], mark: { type: "text", dy: -16, fontWeight: "bold", color: theme.text },
          encoding: { y: { field: "high", type: "quantitative" }, text: { value: "best" } } },
      ],
    };

    const curveRange = extent(data.curves.flatMap((d) => [d.low, d.high]));
    const curves = {
      width: panel, height: 200,
      title: { text: { expr: JSON.stringify("Learning curves at ") + " + " + at } },
      data: { values: data.curves },
      transform: [selected],
      encoding: { x: { field: "epoch", type: "quantitative", title: "Epoch", scale: { nice: false },
                       axis: { tickMinStep: 1, format: "d" } },
                  y: y("Accuracy (%)", curveRange) },
      layer: [
        { mark: { type: "area", opacity: 0.2 },
          encoding: { y: { field: "low", type: "quantitative" }, y2: { field: "high" }, color, detail: { field: "kind" } } },
        { mark: { type: "line", strokeWidth: 2 },
          encoding: { color, strokeDash: { field: "kind", type: "nominal", title: null,
                                           scale: { domain: Object.values(curveNames(sweep)), range: [[1, 0], [5, 3]] },
                                           legend: { orient: "bottom", direction: "horizontal" } } } },
      ],
    };

    const panels = [curves];
    if (hasHistogram) {
      const maxCount = Math.max(...data.histogram.map((d) => d.count));
      const edges = extent(data.histogram.flatMap((d) => [d.x0, d.x1]));
      panels.push({
        width: panel, height: 200,
        title: { text: { expr: JSON.stringify("Kernel weights at ") + " + " + at } },
        data: { values: data.histogram },
        transform: [selected],
        mark: { type: "rect", opacity: two ? 0.6 : 0.85 },
        encoding: { x: { field: "x0", type: "quantitative", title: "Weight", scale: { domain: edges, nice: false } },
                    x2: { field: "x1" },
                    y: { field: "count", type: "quantitative", title: "Count", stack: null, scale: { domain: [0, maxCount] } },
                    y2: { datum: 0 }, color },
      });
    }

    return {
      description: state.label(),
      params: [{ name: "selected", value: state.selected }],
      background: null,
      padding: 6,
      vconcat: [overview, { hconcat: panels, spacing: 40 }],
      spacing: 28,
      config: {
        font: "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif",
        // The container is one role="img" with a label: no ARIA roles inside it, guides or marks.
        aria: false,
        mark: { aria: false },
        view: { stroke: null },
        title: { color: theme.text, fontSize: 13, fontWeight: 600, anchor: "start" },
        axis: { labelColor: theme.muted, titleColor: theme.text, gridColor: theme.grid, domainColor: theme.domain,
                tickColor: theme.domain, labelFontSize: 11, titleFontSize: 12, titleFontWeight: 600 },
        legend: { labelColor: theme.text, titleColor: theme.text, labelFontSize: 12, symbolOpacity: 1 },
        line: { strokeWidth: 2 },
      },
    };
  }

  // Re-embeds the chart (first render, palette switch, new width); the slider then only sets
  // the "selected" signal of the current view.
  function render(state) {
    const token = ++state.token;
    const theme = scheme();
    if (state.result) { state.result.finalize(); state.result = null; }
    const target = element("div");
    state.chart.replaceChildren(target);
    // actions: false: no export/"open in editor" menu, which would reach outside the site.
    return window.vegaEmbed(target, spec(state), { renderer: "svg", actions: false, tooltip: false })
      .then((result) => {
        if (token !== state.token) { result.finalize(); return; }  // a newer render started meanwhile
        state.result = result;
        if (state.selected !== result.view.signal("selected")) result.view.signal("selected", state.selected).runAsync();
        state.width = state.chart.clientWidth;
        state.root.classList.add("sweep-view--live");
        state.root.setAttribute("data-sweep-scheme", theme);  // the browser tests wait on this
      });
  }

  function select(state, index) {
    state.selected = index;
    const { sweep } = state;
    const value = sweep.knob + " = " + sweep.labels[index];
    state.slider.value = String(index);
    state.slider.setAttribute("aria-valuetext", value);
    state.output.textContent = sweep.labels[index];
    state.chart.setAttribute("aria-label", state.label());
    state.caption.textContent = state.describe();
    if (state.result) state.result.view.signal("selected", index).runAsync();
  }

  function build(root, sweep) {
    const id = "sweep-view-" + (sweep.sweep || "sweep") + "-" + ++counter;
    const n = sweep.values.length;
    const start = sweep.best && Number.isInteger(sweep.best.index) ? sweep.best.index : 0;
    const box = element("div", { class: "sweep-view__interactive" });
    const controls = element("div", { class: "sweep-view__controls" });
    const label = element("label", { for: id }, sweep.knob + ": ");
    const output = element("output", { for: id, "aria-hidden": "true" });
    label.appendChild(output);
    const slider = element("input", { type: "range", id, min: "0", max: String(n - 1), step: "1", value: String(start) });
    controls.append(label, slider);
    const chart = element("div", { class: "sweep-view__chart", role: "img" });
    const caption = element("p", { class: "sweep-view__caption", "aria-live": "polite" });
    box.append(controls, chart, caption);
    // In the static figure's place, so the data link (and anything else) stays below it.
    const statics = root.querySelectorAll(".sweep-view__static");
    if (statics.length) statics[statics.length - 1].after(box);
    else root.prepend(box);

    const state = { root, sweep, data: tables(sweep), slider, output, chart, caption, selected: start, token: 0 };
    const byPoint = (index) => sweep.points.filter((p) => p.index === index);
    state.describe = () => sweep.knob + " = " + sweep.labels[state.selected] + ": " + byPoint(state.selected).map((p) =>
      (sweep.series.length > 1 ? p.series + ", " : "") + sweep.metric.replace(/ \(%\)$/, "").toLowerCase() + " " +
      p.metric.mean.toFixed(1) + "% (95% interval " + p.metric.low.toFixed(1) + " to " + p.metric.high.toFixed(1) +
      ", " + p.seeds + " seeds), training accuracy " + p.train.mean.toFixed(1) + "%").join("; ") + ".";
    state.label = () => {
      const best = sweep.best && sweep.points.find((p) => p.series === sweep.best.series && p.index === sweep.best.index);
      return sweep.title + ": " + sweep.metric + " against " + sweep.knob + " (" + sweep.labels.join(", ") +
        "), mean and 95% interval over seeds" + (sweep.series.length > 1 ? " for " + sweep.series.join(" and ") : "") +
        (best ? "; best " + sweep.knob + " = " + sweep.labels[best.index] +
                (sweep.series.length > 1 ? " (" + best.series + ")" : "") + " at " + best.metric.mean.toFixed(1) + "%" : "") +
        ". Below, the learning curves" + (state.data.histogram.length ? " and kernel weight histogram" : "") +
        " at the selected value. " + state.describe();
    };
    slider.addEventListener("input", () => select(state, Number(slider.value)));
    select(state, start);
    views.push(state);
    return render(state);
  }

  function mount(root) {
    if (root.hasAttribute("data-sweep-mounted")) return;
    root.setAttribute("data-sweep-mounted", "");
    // The static figure: shown in print and until the interactive view has rendered.
    root.querySelectorAll("img").forEach((img) => (img.closest("p") || img).classList.add("sweep-view__static"));
    // Prefer a link to the JSON inside the div: MkDocs rewrites its href for the served page
    // (use_directory_urls), so a.href is right; data-src is read relative to the served URL.
    const link = root.querySelector('a[href$=".json"]');
    const source = link ? link.href : root.getAttribute("data-src");
    if (!source) { console.error("sweep view: no JSON link or data-src", root); return; }
    const url = new URL(source, document.baseURI).href;
    Promise.all([fetch(url).then((r) => {
      if (!r.ok) throw new Error("HTTP " + r.status + " for " + url);
      return r.json();
    }), loadVega()])
      .then(([sweep]) => build(root, sweep))
      .catch((error) => console.error("sweep view: " + url + ": " + error));  // the static figure stays
  }

  function mountAll() {
    document.querySelectorAll(".sweep-view").forEach(mount);
  }

  // Material's palette toggle sets body[data-md-color-scheme]: redraw in the other colours.
  new MutationObserver(() => views.forEach((state) => {
    if (state.root.isConnected && state.root.getAttribute("data-sweep-scheme") !== scheme()) render(state);
  })).observe(document.body, { attributes: true, attributeFilter: ["data-md-color-scheme"] });

  // A narrower or wider page: redraw at the new width.
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => views.forEach((state) => {
      if (state.root.isConnected && state.result && Math.abs(state.chart.clientWidth - state.width) > 20) render(state);
    }), 200);
  });

  // Material's document$ emits on every page, including pages swapped in by instant navigation.
  if (typeof document$ !== "undefined") document$.subscribe(mountAll);
  else if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
  else mountAll();
})();
