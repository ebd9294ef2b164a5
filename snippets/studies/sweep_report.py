"""The sweep pages: per sweep a table, a band figure, the interactive view's data and the findings.

A sweep's points are runs of the regularizer study or of the sweeps study
(``configs.sweeps``). Every number here comes from those runs: means over seeds with a 95%
t-interval, and differences paired by seed. A difference is called *resolved* when its paired
t-test's p-value, adjusted with Holm's method over every comparison the sweep's page reports
(``comparisons``), is below 0.05, and the page says "not resolved" otherwise: more seeds would
be needed to tell its sign. Its 95% interval is shown as measured, unadjusted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from snippets.plotting import COLORS, Figure
from snippets.studies.configs import Sweep, sweep_study, sweeps
from snippets.studies.results import StudyResults
from snippets.studies.statistics import METRICS, holm, paired_difference, summarize, value
from snippets.studies.tables import Numbers, markdown_table


@dataclass
class SweepRuns:
    """A sweep and the runs of each of its points: ``runs[series][index]`` (empty where none yet)."""

    sweep: Sweep
    runs: list[list[list[dict]]]

    @property
    def complete(self) -> bool:
        return all(points for series in self.runs for points in series)

    def labels(self) -> list[str]:
        return [value_label(self.sweep, v) for v in self.sweep.values]


def value_label(sweep: Sweep, x: float) -> str:
    if sweep.name == "train_size" or sweep.name == "width":
        return f"{x:,.0f}"
    if sweep.name == "label_noise":
        return f"{x:.0%}"
    return f"{x:g}"


def sweep_runs(best_name: str, studies: dict[str, StudyResults]) -> list[SweepRuns]:
    """Every sweep with its runs, looked up in the studies' results by (study, configuration)."""
    from snippets.studies.configs import REGULARIZER_STUDY

    best = next(c for c in REGULARIZER_STUDY if c.name == best_name)
    found = []
    for sweep in sweeps(best):
        found.append(SweepRuns(sweep, [[studies[study].runs.get(name, []) if study in studies else []
                                        for study, name in series.points] for series in sweep.series]))
    return found


def _percent(s: dict) -> dict:
    return {key: (None if math.isnan(s[key]) else round(100 * s[key], 3)) for key in ("mean", "low", "high")}


def _best_index(sweep_runs: SweepRuns, only: int | None = None) -> tuple[int, int]:
    """(series, point) with the highest mean validation accuracy (in series ``only`` if given):
    the choice is made on validation."""
    scored = [(np.mean([value(r, METRICS["val"]) for r in runs]), s, i)
              for s, series in enumerate(sweep_runs.runs) for i, runs in enumerate(series)
              if runs and only in (None, s)]
    _, s, i = max(scored, key=lambda t: (t[0], -t[1], -t[2]))
    return s, i


def _curve(runs: list[dict], key: str) -> dict:
    """Per epoch: mean and 95% t-interval over seeds, in percent (runs cut to the shortest)."""
    epochs = min(len(r["history"][key]) for r in runs)
    data = np.array([r["history"][key][:epochs] for r in runs], dtype=float)
    stats = [summarize(list(column)) if len(runs) > 1 else {"mean": column[0], "low": column[0], "high": column[0]}
             for column in data.T]
    clean = lambda x: None if x is None or not np.isfinite(x) else round(100 * float(x), 3)  # noqa: E731
    return {part: [clean(s[part]) for s in stats] for part in ("mean", "low", "high")}


def _histogram(runs: list[dict]) -> dict | None:
    found = [r["kernel_histogram"] for r in runs if r.get("kernel_histogram")]
    if not found:
        return None
    return {"edges": found[0]["edges"], "counts": [float(c) for c in np.mean([h["counts"] for h in found], axis=0)]}


def view_data(sweep_runs: SweepRuns) -> dict:
    """The interactive view's data (docs/assets/javascripts/sweep-view.js reads it)."""
    sweep = sweep_runs.sweep
    points = []
    for s, series in enumerate(sweep.series):
        for i, runs in enumerate(sweep_runs.runs[s]):
            if not runs:
                continue
            epochs = min(len(r["history"]["accuracy"]) for r in runs)
            points.append({
                "series": series.label, "index": i, "seeds": len(runs),
                "metric": _percent(summarize([value(r, METRICS["test"]) for r in runs])),
                "train": _percent(summarize([value(r, METRICS["train"]) for r in runs])),
                "curves": {"epoch": list(range(1, epochs + 1)), "accuracy": _curve(runs, "accuracy"),
                           "val_accuracy": _curve(runs, "val_accuracy")},
                "histogram": _histogram(runs) if sweep.name in ("l2", "dropout") else None,
            })
    noise = {r["config"]["label_noise"] > 0 for series in sweep_runs.runs for p in series for r in p}
    return {
        "sweep": sweep.name, "title": sweep.title, "knob": sweep.knob, "log_x": sweep.log_x,
        "training_curve": {frozenset({True}): "training (noisy labels)", frozenset({False}): "training"}.get(
            frozenset(noise), "training (labels as given)"),
        "metric": "Test accuracy (%)", "values": list(sweep.values), "labels": sweep_runs.labels(),
        "series": [series.label for series in sweep.series],
        "best": _best_json(sweep_runs),
        "points": points,
    }


def _best_json(sweep_runs: SweepRuns) -> dict | None:
    if not sweep_runs.sweep.chosen:
        return None
    s, i = _best_index(sweep_runs)
    return {"series": sweep_runs.sweep.series[s].label, "index": i}


def _x_positions(sweep: Sweep) -> np.ndarray:
    """Where each value goes on the x-axis: a log axis draws a zero a third of the next value to its left."""
    x = np.array(sweep.values, dtype=float)
    if sweep.log_x and x[0] == 0:
        x[0] = x[1] / 3
    return x


def band_figure(sweep_runs: SweepRuns):
    """Test accuracy (solid) and accuracy on the training labels (dashed) against the knob,
    mean with a 95% band over seeds; the point chosen on validation is starred, with its interval."""
    sweep = sweep_runs.sweep
    x = _x_positions(sweep)
    fig = Figure(figsize=(7.2, 4.0))
    ax = fig.subplots()
    for s, series in enumerate(sweep.series):
        color = COLORS[s % len(COLORS)]
        have = [i for i, runs in enumerate(sweep_runs.runs[s]) if runs]
        for metric, style, label in (("test", "-", "test"), ("train", "--", "training labels")):
            stats = [summarize([value(r, METRICS[metric]) for r in sweep_runs.runs[s][i]]) for i in have]
            mean = np.array([100 * t["mean"] for t in stats])
            ax.plot(x[have], mean, style, color=color, marker="o" if metric == "test" else None, markersize=4,
                    label=f"{series.label}: {label}")
            if metric == "test" and all(len(sweep_runs.runs[s][i]) > 1 for i in have):
                ax.fill_between(x[have], [100 * t["low"] for t in stats], [100 * t["high"] for t in stats],
                                color=color, alpha=0.18, linewidth=0)
    if sweep.chosen:
        _mark_best(ax, sweep_runs, x)
    if sweep.log_x:
        ax.set_xscale("log")
    ax.set_xticks(x, sweep_runs.labels())
    ax.minorticks_off()
    ax.set_xlabel(sweep.knob)
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(f"{sweep.title}: mean over seeds, 95% band", fontsize=10)
    fig.tight_layout()
    return fig


def _mark_best(ax, sweep_runs: SweepRuns, x) -> None:
    best_series, best_index = _best_index(sweep_runs)
    best = summarize([value(r, METRICS["test"]) for r in sweep_runs.runs[best_series][best_index]])
    ax.errorbar([x[best_index]], [100 * best["mean"]],
                yerr=[[100 * (best["mean"] - best["low"])], [100 * (best["high"] - best["mean"])]] if best["n"] > 1 else None,
                fmt="*", markersize=14, color="black", capsize=4, label="best on validation (test, 95% CI)")


#: A comparison of a sweep's page: (series, index) of the minuend and of the subtrahend.
Pair = tuple[tuple[int, int], tuple[int, int]]


def comparisons(sweep_runs: SweepRuns) -> dict[Pair, dict]:
    """Every paired difference of test accuracy the sweep's page reports (the table's last column,
    each best against the first value, the bests compared), each with ``p_holm``: its p-value
    adjusted with Holm's method over all of them, and ``family``, their number."""
    sweep = sweep_runs.sweep
    two = len(sweep.series) == 2
    pairs = [((1, i), (0, i)) if two else ((0, i), (0, 0)) for i in range(len(sweep.values)) if two or i]
    if sweep.chosen:
        bests = {s: _best_index(sweep_runs, only=s)[1] for s in range(len(sweep.series)) if any(sweep_runs.runs[s])}
        pairs += [((s, i), (s, 0)) for s, i in bests.items() if i != 0]
        if two and len(bests) == 2:
            pairs.append(((1, bests[1]), (0, bests[0])))
    found = {}
    for pair in dict.fromkeys(pairs):
        (sa, ia), (sb, ib) = pair
        delta = paired_difference(sweep_runs.runs[sa][ia], sweep_runs.runs[sb][ib], METRICS["test"])
        if delta:
            found[pair] = delta
    for delta, adjusted in zip(found.values(), holm([d["p"] for d in found.values()])):
        delta.update(p_holm=adjusted, family=len(found))
    return found


def resolved_text(delta: dict, numbers: Numbers, where: str, unit: str = "") -> str:
    """A paired difference in points with its 95% interval, and whether the seeds resolve its sign
    (Holm-adjusted p below 0.05 over the page's comparisons)."""
    sign = "+" if delta["mean"] > 0 else ""
    verdict = ("resolved" if delta["p_holm"] < 0.05
               else f"**not resolved** at {delta['n']} seeds")
    return (f"{sign}{numbers.pct(delta['mean'], where)}{unit} [{numbers.pct(delta['low'], where + ' low')}, "
            f"{numbers.pct(delta['high'], where + ' high')}], Holm p {numbers.p_value(delta['p_holm'], where + ' holm p')}, "
            f"{verdict}")


def sweep_table(sweep_runs: SweepRuns, numbers: Numbers) -> str:
    """Per knob value and series: seeds, accuracy on the training labels, validation and test accuracy
    (mean and 95% CI), and the paired test difference to the reference point."""
    sweep = sweep_runs.sweep
    two = len(sweep.series) == 2
    header = [sweep.knob[0].upper() + sweep.knob[1:]]
    for series in sweep.series:
        prefix = f"{series.label}: " if two else ""
        header += [f"{prefix}seeds", f"{prefix}train acc. (%)", f"{prefix}val. acc. (%)", f"{prefix}test acc. (%) [95% CI]"]
    header.append(f"Δ test, {sweep.series[1].label} − {sweep.series[0].label} (pts) [95% CI]" if two
                  else f"Δ test vs {value_label(sweep, sweep.values[0])} (pts) [95% CI]")
    found = comparisons(sweep_runs)
    rows = []
    for i, label in enumerate(sweep_runs.labels()):
        row = [label]
        for s, series in enumerate(sweep.series):
            runs = sweep_runs.runs[s][i]
            where = f"sweep {sweep.name} {series.label} {label}"
            if not runs:
                row += ["0", "–", "–", "–"]
                continue
            train, val, test = (summarize([value(r, METRICS[m]) for r in runs]) for m in ("train", "val", "test"))
            row += [str(len(runs)), numbers.pct(train["mean"], where + " train"), numbers.pct(val["mean"], where + " val"),
                    f"{numbers.pct(test['mean'], where + ' test')} {numbers.ci(test, where + ' test')}"]
        delta = found.get(((1, i), (0, i)) if two else ((0, i), (0, 0)))
        row.append("(reference)" if delta is None and not two and i == 0
                   else "–" if delta is None else resolved_text(delta, numbers, f"sweep {sweep.name} {label} delta"))
        rows.append(row)
    return markdown_table(header, rows, align="l" + "r" * (len(header) - 1))


def _best_text(sweep_runs: SweepRuns, series: int, numbers: Numbers) -> str:
    """The best point of one series on validation, its test interval, and its difference to the first value."""
    sweep, labels = sweep_runs.sweep, sweep_runs.labels()
    s, i = _best_index(sweep_runs, only=series)
    runs = sweep_runs.runs[s][i]
    name = sweep.series[s].label
    where = f"sweep {sweep.name} {name} best"
    test = summarize([value(r, METRICS["test"]) for r in runs])
    val = summarize([value(r, METRICS["val"]) for r in runs])
    text = (f"- **Best on validation{f' ({name})' if len(sweep.series) > 1 else ''}**: {sweep.knob} = {labels[i]}, "
            f"mean validation accuracy {numbers.pct(val['mean'], where + ' val')}%. Its test accuracy: "
            f"{numbers.pct(test['mean'], where + ' test')}% (95% CI {numbers.ci(test, where + ' test')}, "
            f"{len(runs)} seeds).")
    delta = comparisons(sweep_runs).get(((s, i), (s, 0)))
    if delta:
        text += (f" Against {sweep.knob} = {labels[0]}, paired by seed: "
                 f"{resolved_text(delta, numbers, where + ' vs first', ' points of test accuracy')}.")
    return text + "\n"


def _bests_compared(sweep_runs: SweepRuns, numbers: Numbers) -> str:
    """Each series at its own best value: which value is larger, and the paired test difference."""
    sweep, labels = sweep_runs.sweep, sweep_runs.labels()
    (_, i0), (_, i1) = _best_index(sweep_runs, only=0), _best_index(sweep_runs, only=1)
    delta = comparisons(sweep_runs).get(((1, i1), (0, i0)))
    if delta is None:
        return ""
    order = "the same as" if i1 == i0 else ("larger than" if i1 > i0 else "smaller than")
    return (f"- **Each at its best**: the best {sweep.knob} of {sweep.series[1].label} ({labels[i1]}) is {order} "
            f"that of {sweep.series[0].label} ({labels[i0]}); {sweep.series[1].label} at its best − "
            f"{sweep.series[0].label} at its best: "
            f"{resolved_text(delta, numbers, f'sweep {sweep.name} bests', ' points of test accuracy')}.\n")


def train_size_settings() -> str:
    """Per training-set size of its sweep: the epochs, the examples seen and the updates, read from
    the configurations (the sizes other than the regime's own are the sweeps study's runs)."""
    from snippets.studies.configs import REGULARIZER_STUDY, TRAIN_SIZES

    regime = REGULARIZER_STUDY[0]  # `none`: the regime's size, epochs and batch size
    by_size = {config.train_size or 55_000: config for config in sweep_study(regime) if config.name.startswith("train_size-")}
    by_size[regime.train_size] = regime
    rows = []
    for size in TRAIN_SIZES:
        config = by_size[size]
        steps = math.ceil(size / config.batch_size) * config.epochs  # the last batch of an epoch may be smaller
        rows.append([f"{size:,}", str(config.epochs), f"{size * config.epochs:,}", f"{steps:,}"])
    return markdown_table(["Training images", "Epochs", "Examples seen", f"Updates (batches of {regime.batch_size})"],
                          rows, align="rrrr")


def sweep_findings(sweep_runs: SweepRuns, numbers: Numbers) -> str:
    """For a knob to choose: the best point on validation with its test interval and its difference to
    the first value. For two series: where their difference is resolved. And what the sweep cost."""
    sweep = sweep_runs.sweep
    labels = sweep_runs.labels()
    text = ""
    if sweep.chosen:
        for s, series in enumerate(sweep.series):  # the best of each series, chosen on validation
            text += _best_text(sweep_runs, s, numbers)
        if len(sweep.series) == 2:
            text += _bests_compared(sweep_runs, numbers)
    found = comparisons(sweep_runs)
    if len(sweep.series) == 2:
        resolved = [label for i, label in enumerate(labels)
                    if ((1, i), (0, i)) in found and found[((1, i), (0, i))]["p_holm"] < 0.05]
        text += (f"- **{sweep.series[1].label} − {sweep.series[0].label}** in test accuracy, paired by seed: "
                 f"resolved at {len(resolved)} of {len(labels)} values"
                 + (f" ({', '.join(resolved)})" if resolved else "") + "; the table's last column gives each.\n")
    if found:
        text += (f"- **Resolved** means a Holm-adjusted p below 0.05 over the {len(found)} paired comparisons this "
                 "page reports (Holm, 1979): the chance that any of them is called resolved by seed-to-seed noise "
                 "alone stays below 5%. The 95% intervals are as measured, unadjusted.\n")
    count = sum(len(p) for series_runs in sweep_runs.runs for p in series_runs)
    points = sum(1 for series_runs in sweep_runs.runs for p in series_runs if p)
    seeds = sorted({len(p) for series_runs in sweep_runs.runs for p in series_runs if p})
    minutes = sum(r["wall_seconds"] for series_runs in sweep_runs.runs for p in series_runs for r in p) / 60
    text += (f"- **Cost**: {points} points × {'/'.join(map(str, seeds))} seeds = {count} runs, "
             f"{numbers.plain(minutes, f'sweep {sweep.name} minutes', 1)} minutes of training in total "
             "(one run per core; runs shared with the regularizer study counted here too).\n")
    return text
