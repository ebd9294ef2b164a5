"""From results files to the tables, figures and provenance the site includes.

Everything here reads results files only; nothing is typed in by hand except
figures quoted from the literature and the source notebook's own claim, each
with its source. Output goes to ``docs/generated`` (git-ignored), which the
study pages include. ``numbers.json`` lists every number written into a table,
so that a check can compare the built pages with the results files.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np

from snippets.studies.configs import STUDIES
from snippets.studies.results import (
    DEFAULT_RESULTS_DIR,
    PROJECT_ROOT,
    ResultsFileError,
    read_results,
    write_json_atomically,
)

DEFAULT_OUTPUT_DIR = PROJECT_ROOT / "docs" / "generated"

#: The source notebook's closing line: "The accuracy of model without batch normalisation
#: is 98.3 and with batch normalisation is 99.1" (metric not named).
NOTEBOOK_CLAIM = {"plain": 98.3, "batchnorm": 99.1}

#: MNIST test error (%) of comparable fully connected networks in the literature.
LITERATURE = [
    ("LeCun et al. (1998)", "MLP 784-300-100-10, no distortions", 3.05),
    ("LeCun et al. (1998)", "MLP 784-300-100-10, with distortions", 2.50),
    ("Srivastava et al. (2014)", "standard net, no dropout", 1.60),
    ("Srivastava et al. (2014)", "dropout, 3x1024 logistic units", 1.35),
    ("Srivastava et al. (2014)", "dropout, 3x1024 ReLU units", 1.25),
    ("Srivastava et al. (2014)", "dropout + max-norm, 3x1024 ReLU units", 1.06),
    ("Srivastava et al. (2014)", "dropout + max-norm, 2x8192 ReLU units", 0.95),
]

METRICS = {
    "train": "final.train_accuracy",
    "val": "final.val_accuracy",
    "test": "final.test_accuracy",
}


# ---------------------------------------------------------------- loading


@dataclasses.dataclass
class StudyResults:
    study: str
    runs: dict[str, list[dict]]  # configuration name -> runs sorted by seed
    problems: list[str]  # files ignored, and why
    nonstandard: list[str]  # configurations run with settings other than the study's own

    @property
    def all_runs(self) -> list[dict]:
        return [run for runs in self.runs.values() for run in runs]

    @property
    def complete(self) -> bool:
        return bool(self.runs) and all(self.runs.get(c.name) for c in STUDIES[self.study])


def load_study(results_dir: Path, study: str) -> StudyResults:
    """Read every results file of a study; corrupt or foreign files are listed, not trusted."""
    canonical = {c.name: dataclasses.asdict(c) for c in STUDIES[study]}
    runs: dict[str, list[dict]] = {}
    problems, nonstandard = [], []
    folder = Path(results_dir) / study
    for path in sorted(folder.glob("*/seed-*.json")) if folder.is_dir() else []:
        try:
            run = read_results(path)
        except ResultsFileError as error:
            problems.append(str(error))
            continue
        name = run["config"].get("name")
        if run["config"].get("study") != study or name not in canonical or path.parent.name != name:
            problems.append(f"{path}: belongs to {run['config'].get('study')}/{name}, not to this study's folder")
            continue
        if run["config"] != canonical[name] and name not in nonstandard:
            nonstandard.append(name)
        runs.setdefault(name, []).append(run)
    order = [c.name for c in STUDIES[study]]
    runs = {name: sorted(runs[name], key=lambda r: r["seed"]) for name in order if name in runs}
    return StudyResults(study, runs, problems, nonstandard)


def value(run: dict, dotted: str) -> float:
    node = run
    for part in dotted.split("."):
        node = node[part]
    return float(node)


# ---------------------------------------------------------------- statistics


def summarize(values: list[float]) -> dict:
    """Mean, sample standard deviation and a 95% t-interval of the mean."""
    from scipy import stats

    data = np.asarray(values, dtype=float)
    n = len(data)
    mean = float(data.mean())
    sd = float(data.std(ddof=1)) if n > 1 else float("nan")
    half = float(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)) if n > 1 else float("nan")
    return {"n": n, "mean": mean, "sd": sd, "low": mean - half, "high": mean + half}


def paired_difference(runs: list[dict], baseline: list[dict], metric: str) -> dict | None:
    """Difference to the baseline over the seeds both have, with a paired t-test."""
    from scipy import stats

    base = {run["seed"]: value(run, metric) for run in baseline}
    pairs = [(value(run, metric), base[run["seed"]]) for run in runs if run["seed"] in base]
    if len(pairs) < 2:
        return None
    diffs = np.array([a - b for a, b in pairs])
    summary = summarize(list(diffs))
    summary["p"] = float(stats.ttest_rel([a for a, _ in pairs], [b for _, b in pairs]).pvalue) if diffs.std() > 0 else 1.0
    return summary


# ---------------------------------------------------------------- formatting


class Numbers:
    """Formats numbers for tables and records each one, for the published-numbers check."""

    def p_value(self, p: float, where: str) -> str:
        text = "< 0.001" if p < 0.001 else f"{p:.3f}"
        self.records.append({"file": self.file, "where": where, "text": text, "value": p, "scale": 1})
        return text

    def __init__(self):
        self.records: list[dict] = []
        self.file = ""  # the generated file being written, set by write_report

    def pct(self, x: float, where: str, digits: int = 2) -> str:
        text = "–" if math.isnan(x) else f"{100 * x:.{digits}f}"
        if text != "–":
            self.records.append({"file": self.file, "where": where, "text": text, "value": x, "scale": 100})
        return text

    def plain(self, x: float, where: str, digits: int = 2) -> str:
        text = "–" if math.isnan(x) else f"{x:.{digits}f}"
        if text != "–":
            self.records.append({"file": self.file, "where": where, "text": text, "value": x, "scale": 1})
        return text

    def interval(self, s: dict, where: str) -> str:
        return f"{self.pct(s['mean'], where)} ± {self.pct(s['sd'], where + ' sd')}"

    def ci(self, s: dict, where: str) -> str:
        return f"[{self.pct(s['low'], where + ' ci low')}, {self.pct(s['high'], where + ' ci high')}]"


def markdown_table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def describe(study: str) -> dict[str, str]:
    return {c.name: c.description for c in STUDIES[study]}


# ---------------------------------------------------------------- tables


def accuracy_table(results: StudyResults, baseline: str, numbers: Numbers) -> str:
    """Mean ± sd and 95% interval over seeds for train, validation and test accuracy (%)."""
    header = [
        "Configuration",
        "Seeds",
        "Train acc. (%)",
        "Validation acc. (%)",
        "Test acc. (%)",
        "Test 95% CI",
        "Train − test gap (pts)",
        f"Δ test vs {baseline} (pts)",
        "Paired p",
        "Epochs run",
    ]
    # The epochs column only says something when early stopping ends some runs early.
    show_epochs = any(r["epochs_run"] != r["config"]["epochs"] for r in results.all_runs)
    if not show_epochs:
        header.pop()
    rows = []
    for name, runs in results.runs.items():
        where = f"{results.study}/{name}"
        train = summarize([value(r, METRICS["train"]) for r in runs])
        val = summarize([value(r, METRICS["val"]) for r in runs])
        test = summarize([value(r, METRICS["test"]) for r in runs])
        gap = summarize([value(r, METRICS["train"]) - value(r, METRICS["test"]) for r in runs])
        if name == baseline:
            delta_text, p_text = "(baseline)", ""
        else:
            delta = paired_difference(runs, results.runs.get(baseline, []), METRICS["test"])
            delta_text = f"{numbers.pct(delta['mean'], where + ' delta', 2)}" if delta else "–"
            if delta and delta["mean"] > 0:
                delta_text = "+" + delta_text
            p_text = numbers.p_value(delta["p"], where + " p") if delta else "–"
        epochs = summarize([r["epochs_run"] for r in runs])
        rows.append(
            [
                f"`{name}`",
                str(len(runs)),
                numbers.interval(train, where + " train"),
                numbers.interval(val, where + " val"),
                numbers.interval(test, where + " test"),
                numbers.ci(test, where + " test"),
                numbers.pct(gap["mean"], where + " gap"),
                delta_text,
                p_text,
                *([numbers.plain(epochs["mean"], where + " epochs", 1)] if show_epochs else []),
            ]
        )
    return markdown_table(header, rows)


def claim_table(results: StudyResults, numbers: Numbers) -> str:
    """The notebook's two figures against each metric a reader might have meant."""
    candidates = {
        "Keras' training accuracy, last epoch (progress bar)": lambda r: r["history"]["accuracy"][-1],
        "Training accuracy, evaluated after training": lambda r: value(r, METRICS["train"]),
        "Validation accuracy, last epoch": lambda r: value(r, METRICS["val"]),
        "Test accuracy": lambda r: value(r, METRICS["test"]),
    }
    header = ["Model", "Notebook's figure (%)", *candidates, "Closest metric"]
    rows = []
    for name, claimed in NOTEBOOK_CLAIM.items():
        runs = results.runs.get(name)
        if not runs:
            continue
        means = {label: float(np.mean([pick(r) for r in runs])) for label, pick in candidates.items()}
        closest = min(means, key=lambda label: abs(100 * means[label] - claimed))
        rows.append(
            [
                f"`{name}`",
                f"{claimed:.1f}",
                *[numbers.pct(m, f"claim {name} {label}") for label, m in means.items()],
                closest,
            ]
        )
    return markdown_table(header, rows, align="lr" + "r" * len(candidates) + "l")


def fitting_table(results: StudyResults, numbers: Numbers) -> str:
    """How fast each configuration fits: training loss at a few epochs, and the validation loss."""
    rows = []
    for name, runs in results.runs.items():
        where = f"{results.study}/{name} fit"
        epochs = min(len(r["history"]["loss"]) for r in runs)
        marks = sorted({1, min(5, epochs), epochs})
        losses = [numbers.plain(float(np.mean([r["history"]["loss"][e - 1] for r in runs])), f"{where} loss {e}", 4)
                  for e in marks]
        val = np.array([r["history"]["val_loss"][:epochs] for r in runs]).mean(axis=0)
        rows.append([f"`{name}`", *losses, numbers.plain(float(val.min()), where + " best val loss", 4),
                     str(int(val.argmin()) + 1), numbers.plain(float(val[-1]), where + " last val loss", 4)])
        header_marks = marks
    header = ["Configuration", *[f"Train loss, epoch {e}" for e in header_marks],
              "Lowest val. loss", "at epoch", f"Val. loss, epoch {header_marks[-1]}"]
    return markdown_table(header, rows)


def literature_table(results: StudyResults, numbers: Numbers) -> str:
    rows = [[source, model, f"{error:.2f}", "published"] for source, model, error in LITERATURE]
    for name, runs in results.runs.items():
        test = summarize([1 - value(r, METRICS["test"]) for r in runs])
        rows.append(
            [
                "this site (measured)",
                f"`{name}`: {describe(results.study)[name]}",
                f"{numbers.pct(test['mean'], f'literature {name} error')} ± {numbers.pct(test['sd'], f'literature {name} error sd')}",
                f"{len(runs)} seeds",
            ]
        )
    return markdown_table(["Source", "Model", "Test error (%)", "Basis"], rows, align="llrl")


def technique_summary(results: StudyResults, name: str, baseline: str, numbers: Numbers) -> str:
    """One sentence of numbers for a technique's section of the study page."""
    runs = results.runs.get(name)
    if not runs:
        return f"No results for `{name}` yet: run `python -m snippets study {results.study}`.\n"
    where = f"{results.study}/{name} summary"
    test = summarize([value(r, METRICS["test"]) for r in runs])
    gap = summarize([value(r, METRICS["train"]) - value(r, METRICS["test"]) for r in runs])
    val = np.array([r["history"]["val_accuracy"][: min(len(x["history"]["val_accuracy"]) for x in runs)] for r in runs])
    curve = val.mean(axis=0)
    train_fit = summarize([r["history"]["accuracy"][-1] for r in runs])
    text = (
        f"Mean validation accuracy over seeds peaks at {numbers.pct(float(curve.max()), where + ' best val')}% "
        f"in epoch {int(curve.argmax()) + 1} and is {numbers.pct(float(curve[-1]), where + ' last val')}% in the "
        f"last epoch ({numbers.plain(float(np.mean([r['epochs_run'] for r in runs])), where + ' epochs', 1)} epochs run "
        f"on average); accuracy on the noisy training labels in the last epoch: "
        f"{numbers.pct(train_fit['mean'], where + ' train fit')}%.\n\n"
        f"Measured over {len(runs)} seeds: test accuracy {numbers.pct(test['mean'], where + ' test')}% "
        f"(95% CI {numbers.ci(test, where + ' test')}), train − test gap {numbers.pct(gap['mean'], where + ' gap')} points"
    )
    if name != baseline:
        delta = paired_difference(runs, results.runs.get(baseline, []), METRICS["test"])
        if delta:
            sign = "+" if delta["mean"] > 0 else ""
            text += (
                f"; {sign}{numbers.pct(delta['mean'], where + ' delta')} points of test accuracy against `{baseline}` "
                f"(paired t-test p {'' if delta['p'] < 0.001 else '= '}{numbers.p_value(delta['p'], where + ' p')})"
            )
    return text + ".\n"


def settings_table(study: str) -> str:
    """Each configuration's settings, read from the study's definition in snippets/studies/configs.py."""
    rows = []
    for c in STUDIES[study]:
        knobs = [f"{key}={val}" for key, val in c.model.items()]
        if c.augmentation:
            knobs.append(
                f"shift ≤ {c.augmentation['translate']:.0%} of the image, rotation ≤ {360 * c.augmentation['rotate']:.0f}°"
            )
        if c.early_stopping_patience is not None:
            knobs.append(f"early stopping, patience {c.early_stopping_patience}, best weights restored")
        rows.append([f"`{c.name}`", c.description, ", ".join(knobs) or "–"])
    first = STUDIES[study][0]
    common = (
        f"Common to all: {first.train_size or 55000:,} training images"
        + (f" with {first.label_noise:.0%} of their labels replaced by a wrong class" if first.label_noise else "")
        + f", SGD with learning rate {first.learning_rate}, batch size {first.batch_size}, up to {first.epochs} epochs.\n\n"
    )
    return common + markdown_table(["Configuration", "What it adds", "Settings"], rows, align="lll")


# ---------------------------------------------------------------- figures


def learning_curves(results: StudyResults, metrics: list[tuple[str, str]], title: str):
    """Mean over seeds with a band of ± one standard deviation, per configuration."""
    from snippets.plotting import plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.6), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (key, label) in zip(axes[0], metrics):
        for index, (name, runs) in enumerate(results.runs.items()):
            color = colors[index % len(colors)]
            for split, style in (("", "--"), ("val_", "-")):
                curves = [r["history"][split + key] for r in runs]
                length = min(len(c) for c in curves)  # early stopping ends runs at different epochs
                data = np.array([c[:length] for c in curves])
                epochs = np.arange(1, length + 1)
                mean, sd = data.mean(axis=0), data.std(axis=0)
                ax.plot(epochs, mean, style, color=color, label=f"{name} ({'validation' if split else 'training'})")
                ax.fill_between(epochs, mean - sd, mean + sd, color=color, alpha=0.15, linewidth=0)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, ncol=1)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def technique_panels(results: StudyResults, baseline: str):
    """One panel per technique: its training and validation accuracy, the baseline's validation in grey."""
    from snippets.plotting import plt

    names = list(results.runs)
    columns = 4
    rows = math.ceil(len(names) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(12, 2.8 * rows), sharex=True, sharey=True, squeeze=False)

    def band(ax, runs, key, **style):
        length = min(len(r["history"][key]) for r in runs)
        data = np.array([r["history"][key][:length] for r in runs])
        epochs = np.arange(1, length + 1)
        mean, sd = data.mean(axis=0), data.std(axis=0)
        ax.plot(epochs, mean, **style)
        ax.fill_between(epochs, mean - sd, mean + sd, color=style["color"], alpha=0.15, linewidth=0)

    for ax, name in zip(axes.flat, names):
        if name != baseline and baseline in results.runs:
            band(ax, results.runs[baseline], "val_accuracy", color="#9e9e9e", label=f"{baseline}, validation")
        band(ax, results.runs[name], "accuracy", color="#3949ab", linestyle="--", label="training (noisy labels)")
        band(ax, results.runs[name], "val_accuracy", color="#e64a19", label="validation")
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy")
    handles, labels = axes.flat[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def gap_figure(results: StudyResults):
    """Train − test accuracy gap and test accuracy per technique, mean ± sd over seeds."""
    from snippets.plotting import plt

    names = list(results.runs)
    gaps = [summarize([value(r, METRICS["train"]) - value(r, METRICS["test"]) for r in results.runs[n]]) for n in names]
    tests = [summarize([value(r, METRICS["test"]) for r in results.runs[n]]) for n in names]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    y = np.arange(len(names))
    left.barh(y, [100 * g["mean"] for g in gaps], xerr=[100 * g["sd"] for g in gaps], color="#5c6bc0")
    left.set_xlabel("train − test accuracy (points)")
    left.set_title("Generalization gap", fontsize=10)
    right.errorbar([100 * t["mean"] for t in tests], y, xerr=[100 * t["sd"] for t in tests], fmt="o", color="#e64a19")
    right.set_xlabel("test accuracy (%)")
    right.set_title("Test accuracy", fontsize=10)
    for ax in (left, right):
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- provenance


def provenance(results: StudyResults) -> str:
    runs = results.all_runs
    if not runs:
        return ""
    commits = sorted({r.get("commit", "unknown") for r in runs})
    codes = sorted({r["code"] for r in runs})
    versions = sorted({json.dumps(r["versions"], sort_keys=True) for r in runs})
    cpus = sorted({r.get("cpu", "unknown") for r in runs})
    finished = sorted(r.get("finished", "") for r in runs)
    seeds = sorted({r["seed"] for r in runs})
    walls = [r["wall_seconds"] for r in runs]
    lines = [
        f"- **Runs**: {len(runs)} ({len(results.runs)} configurations; seeds {', '.join(map(str, seeds))})",
        f"- **Wall time**: {np.mean(walls):.0f} s per run on average, {sum(walls) / 60:.1f} min in total",
        f"- **Finished**: {finished[0]} to {finished[-1]}",
        f"- **Commit**: {', '.join(commits)}; training code fingerprint {', '.join(codes)}",
        f"- **Libraries**: {'; '.join(_versions_text(json.loads(v)) for v in versions)}",
        f"- **CPU**: {', '.join(cpus)}",
        f"- **Command**: `python -m snippets study {results.study}`; results files in `results/{results.study}/`",
    ]
    out = "\n".join(lines) + "\n"
    warnings = []
    if len(codes) > 1 or len(versions) > 1:
        warnings.append(
            "These runs were made by **different code or library versions** (see above): the table mixes them. "
            f"Run `python -m snippets study {results.study}` to bring every run up to date."
        )
    if len(cpus) > 1:
        warnings.append(
            f"These runs come from **{len(cpus)} different CPU models** (see above). The same seed can give "
            "different numbers on different instruction sets, so runs of one configuration are not exact "
            "repeats of each other across machines; differences between configurations are still paired by seed."
        )
    if results.nonstandard:
        warnings.append(
            f"Configurations {', '.join(f'`{n}`' for n in results.nonstandard)} were run with **settings other than "
            "the study's** (for example fewer epochs or images, as in a smoke test): these are not the study's numbers."
        )
    if not results.complete:
        missing = [c.name for c in STUDIES[results.study] if c.name not in results.runs]
        warnings.append(f"The study is **incomplete**: no runs yet for {', '.join(missing)}.")
    if results.problems:
        warnings.append("Ignored files (not trusted): " + "; ".join(f"`{p}`" for p in results.problems))
    for text in warnings:
        out += f'\n!!! warning "Read with care"\n    {text}\n'
    return out


def _versions_text(versions: dict) -> str:
    return ", ".join(f"{name} {version}" for name, version in versions.items())


# ---------------------------------------------------------------- writing


def missing_study_note(study: str) -> str:
    return (
        f'!!! failure "No results yet"\n    Nothing has been measured for this study in this build. '
        f"Run `python -m snippets study {study}` (or `make site`), then `python -m snippets report`.\n"
    )


def write_report(results_dir: Path = DEFAULT_RESULTS_DIR, out: Path = DEFAULT_OUTPUT_DIR) -> str:
    """Write every generated file; return a one-line summary per study."""
    from snippets.plotting import svg

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    numbers = Numbers()
    files: dict[str, str] = {}
    summary = []

    notebook = load_study(results_dir, "notebook")
    if notebook.runs:
        numbers.file = "notebook_table.md"
        files[numbers.file] = accuracy_table(notebook, "plain", numbers)
        numbers.file = "notebook_claim.md"
        files[numbers.file] = claim_table(notebook, numbers)
        numbers.file = "notebook_fitting.md"
        files[numbers.file] = fitting_table(notebook, numbers)
        numbers.file = "notebook_literature.md"
        files[numbers.file] = literature_table(notebook, numbers)
        files["notebook_curves.svg"] = svg(
            learning_curves(notebook, [("accuracy", "accuracy"), ("loss", "cross-entropy loss")],
                            "The notebook's models: training (dashed) and validation (solid), mean ± sd over seeds")
        )
    else:
        for name in ("notebook_table.md", "notebook_claim.md", "notebook_fitting.md", "notebook_literature.md"):
            files[name] = missing_study_note("notebook")
        files["notebook_curves.svg"] = _empty_svg()
    files["notebook_provenance.md"] = provenance(notebook) or missing_study_note("notebook")
    summary.append(f"notebook: {len(notebook.all_runs)} runs, {len(notebook.problems)} ignored file(s)")

    regularizers = load_study(results_dir, "regularizers")
    files["regularizers_settings.md"] = settings_table("regularizers")
    if regularizers.runs:
        numbers.file = "regularizers_table.md"
        files[numbers.file] = accuracy_table(regularizers, "none", numbers)
        files["regularizers_gap.svg"] = svg(gap_figure(regularizers))
        files["regularizers_curves.svg"] = svg(technique_panels(regularizers, "none"))
    else:
        files["regularizers_table.md"] = missing_study_note("regularizers")
        files["regularizers_gap.svg"] = files["regularizers_curves.svg"] = _empty_svg()
    for config in STUDIES["regularizers"]:
        numbers.file = f"regularizers_{config.name}.md"
        files[numbers.file] = technique_summary(regularizers, config.name, "none", numbers)
    files["regularizers_provenance.md"] = provenance(regularizers) or missing_study_note("regularizers")
    summary.append(f"regularizers: {len(regularizers.all_runs)} runs, {len(regularizers.problems)} ignored file(s)")

    benchmark = Path(results_dir) / "benchmark" / "train_speed.json"
    files["performance.md"] = _performance(benchmark)

    for name, text in files.items():
        (out / name).write_text(text)
    write_json_atomically(out / "numbers.json", {"results": str(results_dir), "numbers": numbers.records})
    return "report: " + "; ".join(summary) + f"; {len(files)} files in {out}"


# ---------------------------------------------------------------- checking the built site

#: Which built page includes the generated files of each prefix.
PAGE_OF_PREFIX = {
    "notebook_": "studies/notebook-comparison/index.html",
    "regularizers_": "studies/regularizer-study/index.html",
    "performance": "studies/performance/index.html",
}


def page_text(html_path: Path) -> str:
    """The visible text of a built page, tags removed and entities decoded."""
    import html
    import re

    markup = Path(html_path).read_text(encoding="utf8")
    markup = re.sub(r"<(script|style)\b.*?</\1>", " ", markup, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


def check_site(results_dir: Path, site_dir: Path, generated_dir: Path = DEFAULT_OUTPUT_DIR,
               require_complete: bool = False) -> tuple[int, list[str]]:
    """Compare the built pages with a fresh report of the results files.

    Returns the number of published numbers checked and a list of problems: a generated
    file that differs from what the results files give now, a number missing from the page
    that includes it, or (with ``require_complete``) a study that is incomplete, mixes code
    versions, or was run with settings other than its own.
    """
    import tempfile

    problems: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        write_report(results_dir, Path(scratch))
        fresh = json.loads((Path(scratch) / "numbers.json").read_text())["numbers"]
        for path in sorted(Path(scratch).glob("*.md")):
            published = Path(generated_dir) / path.name
            if not published.exists() or published.read_text() != path.read_text():
                problems.append(f"{published}: differs from a fresh report of {results_dir}; run `python -m snippets report`")
    texts: dict[str, str] = {}
    for record in fresh:
        page = next(p for prefix, p in PAGE_OF_PREFIX.items() if record["file"].startswith(prefix))
        if page not in texts:
            html_path = Path(site_dir) / page
            if not html_path.exists():
                problems.append(f"{html_path}: missing; build the site first (`mkdocs build`)")
                texts[page] = ""
                continue
            texts[page] = page_text(html_path)
        if texts[page] and record["text"] not in texts[page]:
            problems.append(f"{page}: {record['where']} = {record['text']} (from {record['file']}) is not on the page")
    if require_complete:
        for study in STUDIES:
            results = load_study(results_dir, study)
            if not results.complete:
                problems.append(f"study {study}: incomplete ({len(results.all_runs)} runs)")
            if results.nonstandard:
                problems.append(f"study {study}: run with non-standard settings: {', '.join(results.nonstandard)}")
            if len({r["code"] for r in results.all_runs}) > 1 or len({json.dumps(r["versions"]) for r in results.all_runs}) > 1:
                problems.append(f"study {study}: mixes runs of different code or library versions")
            if results.problems:
                problems.extend(results.problems)
    return len(fresh), problems


def _performance(benchmark: Path) -> str:
    if not benchmark.exists():
        return (
            '!!! failure "No benchmark yet"\n    Run `python benchmarks/train_speed.py` (or `make bench`), '
            "then `python -m snippets report`.\n"
        )
    from snippets.performance_report import render_performance

    return render_performance(benchmark)


def _empty_svg() -> str:
    return '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1" role="img" aria-label="no results yet"></svg>\n'
