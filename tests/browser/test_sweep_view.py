"""The sweeps' interactive figures in a real browser (docs/assets/javascripts/sweep-view.js).

Every ``<div class="sweep-view">`` of the built site must render its chart from the sweep's
JSON with the vendored Vega (no request leaves the site), redraw the selected point's learning
curves and weight histogram when the slider moves (by keyboard and by setting its value),
redraw in the other colours when the palette switches, and leave axe-core without a serious or
critical violation in either palette. The site must hold at least one sweep view: a test that
finds none fails instead of passing on nothing.
"""

from __future__ import annotations

import json

import pytest

VIEW = ".sweep-view"
SLIDER = ".sweep-view__controls input[type=range]"

# The drawn data of one view, by panel: the panels are found by their titles (the chart's own
# words), and their marks by Vega's SVG classes.
SNAPSHOT = r"""(root) => {
  const svg = root.querySelector('.sweep-view__chart svg');
  if (!svg) return null;
  const panel = (start) => {
    const title = [...svg.querySelectorAll('g.role-title text')].find(t => t.textContent.startsWith(start));
    return title ? title.closest('g.role-scope') : null;
  };
  const paths = (g, selector) => g ? [...g.querySelectorAll(selector)].map(p => p.getAttribute('d') || '') : [];
  const curves = panel('Learning curves at'), weights = panel('Kernel weights at');
  return {
    marks: svg.querySelectorAll('g.role-mark > *').length,
    curves: paths(curves, 'g.mark-line.role-mark path'),
    curve_title: curves ? curves.querySelector('g.role-title text').textContent : null,
    histogram: paths(weights, 'g.mark-rect.role-mark path'),
    has_histogram: !!weights,
    strokes: curves ? [...curves.querySelectorAll('g.mark-line.role-mark path')].map(p => p.getAttribute('stroke')) : [],
    text_fill: (svg.querySelector('g.role-axis-label text') || {getAttribute: () => null}).getAttribute('fill'),
  };
}"""

RUN_AXE = """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
  .filter(v => v.impact === 'serious' || v.impact === 'critical')
  .map(v => ({id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map(n => n.target.join(' '))}))"""


@pytest.fixture(scope="module")
def sweep_pages(site_dir, page_paths) -> dict[str, int]:
    """The built pages with sweep views: {path: number of views}. None is a failure."""
    pages = {}
    for path in page_paths:
        html = (site_dir / path / "index.html").read_text("utf8")
        count = html.count('class="sweep-view"')
        if count:
            pages[path] = count
    assert pages, (
        f"no page of the site in {site_dir} has a sweep view (<div class=\"sweep-view\" markdown> with a link "
        "to the sweep's JSON, see README.md): the interactive figures would go untested"
    )
    return pages


def outside(urls: list[str], base_url: str) -> list[str]:
    return sorted({u for u in urls if not u.startswith((base_url, "data:", "blob:", "about:"))})


def open_page(watched, path: str, views: int):
    """The page, once each of its sweep views has rendered in the page's palette."""
    page = watched.new_page()
    page.goto(watched.base_url + path, wait_until="networkidle", timeout=60000)
    page.wait_for_function(
        f"""() => {{
          const views = [...document.querySelectorAll('{VIEW}')];
          const scheme = document.body.getAttribute('data-md-color-scheme');
          return views.length === {views} && views.every(v => v.getAttribute('data-sweep-scheme') === scheme
            && v.querySelector('.sweep-view__chart svg g.role-mark'));
        }}""",
        timeout=30000,
    )
    return page


def snapshot(page, index: int) -> dict:
    return page.locator(VIEW).nth(index).evaluate(SNAPSHOT)


def wait_for_change(page, index: int, before: dict, where: str, key: str = "curve_title") -> dict:
    """The snapshot once the learning-curve panel shows another knob value (its title says which)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            f"([root, before]) => {{ const now = ({SNAPSHOT})(root); return now && JSON.stringify(now.{key}) !== before; }}",
            arg=[page.locator(VIEW).nth(index).element_handle(), json.dumps(before[key])],
            timeout=10000,
        )
    except PlaywrightTimeout:
        pytest.fail(f"{where}: the slider moved but the learning-curve panel was not redrawn within 10 s", pytrace=False)
    return snapshot(page, index)


def test_the_site_has_sweep_views(sweep_pages, summary):
    from snippets.studies.generated import SWEEP_NAMES

    summary["sweep_views"] = {"pages": len(sweep_pages), "views": sum(sweep_pages.values())}
    assert sum(sweep_pages.values()) >= len(SWEEP_NAMES), f"one view per sweep expected, found {sweep_pages}"


def test_sweep_views_render_and_follow_the_slider(watched, sweep_pages, summary):
    checked, problems = 0, []
    for path, count in sweep_pages.items():
        page = open_page(watched, path, count)
        for index in range(count):
            where = f"{path} view {index + 1}"
            view = page.locator(VIEW).nth(index)
            first = snapshot(page, index)
            assert first and first["marks"] > 0 and first["curves"], f"{where}: no chart drawn: {first}"
            chart = view.locator(".sweep-view__chart")
            assert chart.get_attribute("role") == "img" and chart.get_attribute("aria-label"), f"{where}: chart unlabelled"
            assert view.locator(".sweep-view__static").count() >= 1, f"{where}: no static figure inside the div"
            assert view.locator(".sweep-view__static").first.is_hidden(), f"{where}: static figure still shown on screen"
            slider = view.locator(SLIDER)
            slider_id = slider.get_attribute("id")
            assert view.locator(f'label[for="{slider_id}"]').is_visible(), f"{where}: the slider has no visible label"
            top = int(slider.get_attribute("max"))
            assert top >= 1, f"{where}: a sweep of one value"
            start = int(slider.input_value())

            # The keyboard: focus, then one step (left when already at the last value).
            slider.focus()
            key, step = ("ArrowLeft", -1) if start == top else ("ArrowRight", 1)
            page.keyboard.press(key)
            moved = wait_for_change(page, index, first, where)
            assert int(slider.input_value()) == start + step, f"{where}: {key} did not move the slider"
            text = slider.get_attribute("aria-valuetext")
            assert text and text.endswith(view.locator(".sweep-view__controls output").inner_text()), (
                f"{where}: aria-valuetext {text!r} does not give the shown value")
            assert moved["curves"] != first["curves"], f"{where}: the learning curves did not change"
            assert moved["curve_title"] != first["curve_title"], f"{where}: the panel title did not change"
            if first["has_histogram"]:
                assert moved["histogram"] != first["histogram"], f"{where}: the weight histogram did not change"

            # Setting a value (as a pointer does): the far end from where it is.
            target = 0 if start + step > top // 2 else top
            slider.fill(str(target))
            far = wait_for_change(page, index, moved, where)
            assert int(slider.input_value()) == target
            assert far["curves"] not in (first["curves"], moved["curves"]), f"{where}: setting the value drew nothing new"
            checked += 1
        requests, errors = watched.take()
        problems += [f"{path}: {e}" for e in errors]
        problems += [f"{path}: request outside the site: {u}" for u in outside(requests, watched.base_url)]
        assert any("/vendor/vega/vega-embed.min.js" in u for u in requests), f"{path}: the vendored vega-embed was not loaded"
        page.close()
    summary.setdefault("sweep_views", {})["slider_checked"] = checked
    assert checked == sum(sweep_pages.values()) and checked > 0
    assert not problems, "console errors or outside requests on pages with sweep views:\n" + "\n".join(problems)


def test_sweep_views_follow_the_palette_and_pass_axe(watched, sweep_pages, axe_source, summary):
    checked, problems = 0, []
    for path, count in sweep_pages.items():
        page = open_page(watched, path, count)
        assert page.evaluate("document.body.getAttribute('data-md-color-scheme')") == "default"
        light = [snapshot(page, i) for i in range(count)]
        page.add_script_tag(content=axe_source)
        problems += [f"{path} (light): {v}" for v in page.evaluate(RUN_AXE)]
        # Material's own toggle, as a reader switches.
        page.locator('form[data-md-component="palette"] label:not([hidden])').click()
        page.wait_for_function(
            "() => [...document.querySelectorAll('.sweep-view')].every(v => v.getAttribute('data-sweep-scheme') === 'slate'"
            " && v.querySelector('.sweep-view__chart svg g.role-mark'))",
            timeout=30000,
        )
        for index in range(count):
            dark = snapshot(page, index)
            where = f"{path} view {index + 1}"
            assert dark["curves"] == light[index]["curves"], f"{where}: the palette switch changed the data"
            assert dark["strokes"] != light[index]["strokes"], f"{where}: the curves kept their light colours"
            assert dark["text_fill"] != light[index]["text_fill"], f"{where}: the axis labels kept their light colour"
            checked += 1
        problems += [f"{path} (dark): {v}" for v in page.evaluate(RUN_AXE)]
        # And back (Material keeps the choice for the next page): the light colours again.
        page.locator('form[data-md-component="palette"] label:not([hidden])').click()
        page.wait_for_function(
            "() => [...document.querySelectorAll('.sweep-view')].every(v => v.getAttribute('data-sweep-scheme') === 'default'"
            " && v.querySelector('.sweep-view__chart svg g.role-mark'))",
            timeout=30000,
        )
        for index in range(count):
            assert snapshot(page, index)["strokes"] == light[index]["strokes"], f"{path} view {index + 1}: not light again"
        requests, errors = watched.take()
        problems += [f"{path}: {e}" for e in errors]
        problems += [f"{path}: request outside the site: {u}" for u in outside(requests, watched.base_url)]
        page.close()
    summary.setdefault("sweep_views", {})["palette_checked"] = checked
    assert checked == sum(sweep_pages.values()) and checked > 0
    assert not problems, "on pages with sweep views:\n" + "\n".join(problems)


def test_pages_without_a_sweep_view_do_not_load_vega(watched, sweep_pages, page_paths):
    plain = next(path for path in page_paths if path not in sweep_pages)
    page = watched.new_page()
    page.goto(watched.base_url + plain, wait_until="networkidle")
    requests, errors = watched.take()
    page.close()
    assert not [u for u in requests if "/vendor/vega/" in u], f"{plain or '/'} loads Vega without a sweep view"
    assert not errors, errors
