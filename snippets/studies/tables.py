"""The study pages' Markdown tables and summaries, every number recorded for the site check.

:class:`Numbers` formats each number a table shows and records it (file, place, text,
value), so that ``numbers.json`` lists every published number. Nothing here is typed in
by hand except figures quoted from the literature and the source notebook's own claim,
each with its source.
"""

from __future__ import annotations

import math

import numpy as np

from snippets.studies.configs import STUDIES
from snippets.studies.results import StudyResults
from snippets.studies.statistics import METRICS, paired_difference, summarize, value

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

