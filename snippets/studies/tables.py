"""The study pages' Markdown tables and summaries, every number recorded for the site check.

:class:`Numbers` formats each number a table shows and records it (file, place, text,
value), so that ``numbers.json`` lists every published number. Nothing here is typed in
by hand except figures quoted from the literature and the source notebook's own claim,
each with its source.
"""

from __future__ import annotations

import math

import numpy as np

from snippets.data import NOTEBOOK_VALIDATION_SIZE
from snippets.studies.configs import SEEDS, STUDIES
from snippets.studies.results import StudyResults
from snippets.studies.statistics import METRICS, comparisons, summarize, value

#: The source notebook's closing line: "The accuracy of model without batch normalisation
#: is 98.3 and with batch normalisation is 99.1" (metric not named).
NOTEBOOK_CLAIM = {"plain": 98.3, "batchnorm": 99.1}

#: MNIST test error (%) of comparable fully connected networks in the literature, each
#: attributed to the work that measured it. Srivastava et al. (2014) list the 1.60% of a
#: standard network in their Table 2 as Simard et al.'s (2003) result, not as their own.
LITERATURE = [
    ("LeCun et al. (1998)", "MLP 784-300-100-10, no distortions", 3.05),
    ("LeCun et al. (1998)", "MLP 784-300-100-10, with distortions", 2.50),
    ("Simard et al. (2003), as quoted by Srivastava et al. (2014, Table 2)",
     "standard net, 2 layers of 800 logistic units, no dropout", 1.60),
    ("Srivastava et al. (2014, Table 2)", "dropout, 3x1024 logistic units", 1.35),
    ("Srivastava et al. (2014, Table 2)", "dropout, 3x1024 ReLU units", 1.25),
    ("Srivastava et al. (2014, Table 2)", "dropout + max-norm, 3x1024 ReLU units", 1.06),
    ("Srivastava et al. (2014, Table 2)", "dropout + max-norm, 2x8192 ReLU units", 0.95),
]


#: The sizes of MNIST's two sets of images (LeCun et al., 1998).
MNIST_TRAINING_IMAGES, MNIST_TEST_IMAGES = 60_000, 10_000


def training_images(config) -> int:
    """How many images a configuration trains on: its subset, or all the notebook leaves for training."""
    return config.train_size or MNIST_TRAINING_IMAGES - NOTEBOOK_VALIDATION_SIZE


def keras_default_learning_rate() -> float:
    import inspect

    import keras

    return inspect.signature(keras.optimizers.SGD).parameters["learning_rate"].default


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


def memorized_text(runs: list[dict], numbers: Numbers, where: str) -> str:
    """Mean ± sd of the share of wrong training labels reproduced, or "–" for runs that did not measure it."""
    shares = [r["final"]["wrong_labels_reproduced"] for r in runs if "wrong_labels_reproduced" in r["final"]]
    if len(shares) != len(runs):
        return "–"
    return numbers.interval(summarize(shares), where + " wrong labels reproduced")


def markdown_table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def describe(study: str) -> dict[str, str]:
    return {c.name: c.description for c in STUDIES[study]}


def noisy(results: StudyResults) -> bool:
    """Whether the study trains on labels that were made partly wrong."""
    return any(c.label_noise for c in results.configs)


def gap_label(results: StudyResults) -> str:
    """What the train − test difference is: a generalization gap only when the training labels are clean."""
    return "Noisy-label train − clean test (pts)" if noisy(results) else "Train − test gap (pts)"


def accuracy_table(results: StudyResults, baseline: str, numbers: Numbers) -> str:
    """Mean ± sd and 95% interval over seeds for train, validation and test accuracy (%),
    the paired difference to the baseline with its p-value, raw and Holm-adjusted."""
    header = [
        "Configuration",
        "Seeds",
        "Train acc. (%)",
        "Validation acc. (%)",
        "Test acc. (%)",
        "Test 95% CI",
        gap_label(results),
        f"Δ test vs {baseline} (pts)",
        "Paired p",
        "Holm p",
        "Epochs run",
    ]
    # The epochs column only says something when early stopping ends some runs early.
    show_epochs = any(r["epochs_run"] != r["config"]["epochs"] for r in results.all_runs)
    if not show_epochs:
        header.pop()
    # Memorization, measured: on noisy labels, the share of the wrong ones the finished model predicts.
    show_memorized = noisy(results)
    if show_memorized:
        header.insert(header.index(gap_label(results)) + 1, "Wrong labels reproduced (%)")
    deltas = comparisons(results.runs, baseline, METRICS["test"])
    rows = []
    for name, runs in results.runs.items():
        where = f"{results.study}/{name}"
        train = summarize([value(r, METRICS["train"]) for r in runs])
        val = summarize([value(r, METRICS["val"]) for r in runs])
        test = summarize([value(r, METRICS["test"]) for r in runs])
        gap = summarize([value(r, METRICS["train"]) - value(r, METRICS["test"]) for r in runs])
        delta = deltas.get(name)
        if name == baseline:
            delta_text, p_text, holm_text = "(baseline)", "", ""
        elif delta is None:
            delta_text = p_text = holm_text = "–"
        else:
            delta_text = ("+" if delta["mean"] > 0 else "") + numbers.pct(delta["mean"], where + " delta", 2)
            p_text = numbers.p_value(delta["p"], where + " p")
            holm_text = numbers.p_value(delta["p_holm"], where + " holm p")
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
                *([memorized_text(runs, numbers, where)] if show_memorized else []),
                delta_text,
                p_text,
                holm_text,
                *([numbers.plain(epochs["mean"], where + " epochs", 1)] if show_epochs else []),
            ]
        )
    train_note = (
        "accuracy on the noisy training labels" if noisy(results) else "accuracy on the training images"
    ) + ", evaluated with the finished model (dropout off, batch norm on its moving statistics)"
    memorized_note = ("Wrong labels reproduced: of the training images given a wrong label, the share whose "
                      "wrong label the finished model predicts (memorization; mean ± sd over seeds). "
                      if show_memorized else "")
    note = (
        f"\nTrain acc.: {train_note}, as in every summary of this page; Keras' running figure during an epoch "
        "is named as such where it appears. " + memorized_note +
        f"Paired p: paired t-test of the test accuracies over the seeds both configurations ran. "
        f"Holm p: the same p-values adjusted with Holm's method for the {len(deltas)} comparisons with "
        f"`{baseline}` in this table; read a difference as distinguishable from seed-to-seed noise "
        "only where the Holm p is below 0.05.\n"
    )
    return markdown_table(header, rows) + note


#: The accuracies the notebook's code prints or computes, each a reading of a run.
CLAIM_CANDIDATES = {
    "Keras' training accuracy, last epoch (progress bar)": lambda r: r["history"]["accuracy"][-1],
    "Training accuracy, evaluated after training": lambda r: value(r, METRICS["train"]),
    "Validation accuracy, last epoch": lambda r: value(r, METRICS["val"]),
    "Test accuracy": lambda r: value(r, METRICS["test"]),
}
TRAINING_CANDIDATES = tuple(label for label in CLAIM_CANDIDATES if label.startswith(("Keras' training", "Training")))


def closest_metrics(results: StudyResults) -> dict[str, tuple[dict[str, float], str]]:
    """Per model the notebook reports: the mean of each candidate metric, and the one closest to its figure."""
    found = {}
    for name, claimed in NOTEBOOK_CLAIM.items():
        runs = results.runs.get(name)
        if runs:
            means = {label: float(np.mean([pick(r) for r in runs])) for label, pick in CLAIM_CANDIDATES.items()}
            found[name] = means, min(means, key=lambda label: abs(100 * means[label] - claimed))
    return found


def claim_table(results: StudyResults, numbers: Numbers) -> str:
    """The notebook's two figures against each metric a reader might have meant."""
    header = ["Model", "Notebook's figure (%)", *CLAIM_CANDIDATES, "Closest metric"]
    rows = [
        [f"`{name}`", f"{NOTEBOOK_CLAIM[name]:.1f}",
         *[numbers.pct(m, f"claim {name} {label}") for label, m in means.items()], closest]
        for name, (means, closest) in closest_metrics(results).items()
    ]
    return markdown_table(header, rows, align="lr" + "r" * len(CLAIM_CANDIDATES) + "l")


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
    """One paragraph of numbers for a technique's section of the study page."""
    runs = results.runs.get(name)
    if not runs:
        return f"No results for `{name}` yet: run `python -m snippets study {results.study}`.\n"
    where = f"{results.study}/{name} summary"
    test = summarize([value(r, METRICS["test"]) for r in runs])
    train = summarize([value(r, METRICS["train"]) for r in runs])
    gap = summarize([value(r, METRICS["train"]) - value(r, METRICS["test"]) for r in runs])
    val = np.array([r["history"]["val_accuracy"][: min(len(x["history"]["val_accuracy"]) for x in runs)] for r in runs])
    curve = val.mean(axis=0)
    text = (
        f"Settings: {settings_text(next(c for c in results.configs if c.name == name))}.\n\n"
        f"Mean validation accuracy over seeds peaks at {numbers.pct(float(curve.max()), where + ' best val')}% "
        f"in epoch {int(curve.argmax()) + 1} and is {numbers.pct(float(curve[-1]), where + ' last val')}% in the "
        f"last epoch ({numbers.plain(float(np.mean([r['epochs_run'] for r in runs])), where + ' epochs', 1)} epochs run "
        f"on average); accuracy on the noisy training labels, evaluated after training: "
        f"{numbers.pct(train['mean'], where + ' train')}%.\n\n"
        f"Measured over {len(runs)} seeds: test accuracy {numbers.pct(test['mean'], where + ' test')}% "
        f"(95% CI {numbers.ci(test, where + ' test')}), noisy-label train − clean test accuracy "
        f"{numbers.pct(gap['mean'], where + ' gap')} points"
    )
    delta = comparisons(results.runs, baseline, METRICS["test"]).get(name)
    if delta:
        sign = "+" if delta["mean"] > 0 else ""
        text += (
            f"; {sign}{numbers.pct(delta['mean'], where + ' delta')} points of test accuracy against `{baseline}` "
            f"(paired t-test p {'' if delta['p'] < 0.001 else '= '}{numbers.p_value(delta['p'], where + ' p')}, "
            f"Holm-adjusted {'' if delta['p_holm'] < 0.001 else '= '}{numbers.p_value(delta['p_holm'], where + ' holm p')})"
        )
    return text + ".\n"


def settings_text(config) -> str:
    """A configuration's own settings in words, from its definition in snippets/studies/configs.py."""
    knobs = [f"{key}={val}" for key, val in config.model.items()]
    knobs += [f"{key}={getattr(config, key)}" for key in ("label_smoothing", "mixup_alpha", "weight_averaging")
              if getattr(config, key)]
    if config.augmentation:
        knobs.append(
            f"shift ≤ {config.augmentation['translate']:.0%} of the image, "
            f"rotation ≤ {360 * config.augmentation['rotate']:.1f}°"
        )
    if config.early_stopping_patience is not None:
        knobs.append(f"early stopping, patience {config.early_stopping_patience}, best weights restored")
    return ", ".join(knobs) or "none (the baseline)"


def recipe(study: str):
    """The training settings every configuration of a study shares (an error if they differ)."""
    configs = STUDIES[study]
    fields = ("epochs", "batch_size", "learning_rate", "train_size", "label_noise")
    shared = {f: {getattr(c, f) for c in configs} for f in fields}
    mixed = [f for f, values in shared.items() if len(values) > 1]
    if mixed:
        raise ValueError(f"study {study}: configurations differ in {', '.join(mixed)}; say so in its settings")
    return configs[0]


def seeds_text(study: str) -> str:
    return f"{0} to {SEEDS[study] - 1}"


def notebook_settings(results: StudyResults) -> str:
    """The notebook study's recipe, read from snippets/studies/configs.py (parameter counts from the runs)."""
    c = recipe("notebook")
    default = keras_default_learning_rate()
    parameters = "; ".join(
        f"`{name}` {runs[0]['parameters']:,}" for name, runs in results.runs.items() if runs
    ) or "(from the runs: none yet)"
    rows = [
        ["Data", f"MNIST; the first {NOTEBOOK_VALIDATION_SIZE:,} of its {MNIST_TRAINING_IMAGES:,} training images are "
                 f"the validation set, the other {training_images(c):,} the training set; the "
                 f"{MNIST_TEST_IMAGES:,} test images are used only for the final numbers"],
        ["Inputs", "pixel values divided by 255"],
        ["Loss", "sparse categorical cross-entropy"],
        ["Optimizer", f"SGD with learning rate {c.learning_rate}"
                      + (" (Keras' default)" if c.learning_rate == default else f" (Keras' default is {default})")
                      + ", no momentum"],
        ["Batch size, epochs", f"{c.batch_size}, {c.epochs}"],
        ["Seeds", f"{seeds_text('notebook')}; a seed fixes the initial weights and the order of the examples"],
        ["Shuffling", "a new order of the training set in every epoch"],
        ["Parameters", parameters],
    ]
    return markdown_table(["Setting", "Value"], rows, align="ll")


def common_settings(study: str) -> str:
    first = recipe(study)
    return (
        f"Common to all: {training_images(first):,} training images"
        + (f" with {first.label_noise:.0%} of their labels replaced by a wrong class" if first.label_noise else "")
        + f", SGD with learning rate {first.learning_rate}, batch size {first.batch_size}, up to {first.epochs} epochs, seeds {seeds_text(study)}.\n\n"
    )


def strengths_table(results: StudyResults, numbers: Numbers) -> str:
    """Per technique: the strengths tried, each one's mean validation accuracy, and the one kept."""
    from snippets.studies.configs import TECHNIQUES
    from snippets.studies.selection import chosen_strengths

    chosen = chosen_strengths(results)
    rows = []
    for technique in TECHNIQUES:
        tried = []
        for config, strength in zip(technique.configs(), technique.strengths or (None,)):
            runs = results.runs.get(config.name)
            score = (numbers.pct(summarize([value(r, METRICS["val"]) for r in runs])["mean"],
                                 f"regularizers/{config.name} strength val") if runs else "no runs")
            text = f"{strength:g}: {score}" if strength is not None else score
            tried.append(f"**{text}**" if chosen.get(technique.name) == config.name and technique.strengths else text)
        kept = chosen.get(technique.name)
        rows.append([f"[`{technique.name}`](#{technique.name.replace('_', '-')})", technique.description,
                     technique.knob or "–", "; ".join(tried),
                     (f"`{kept}`" if kept else "–")])
    header = ["Technique", "What it adds", "Strength", "Mean validation accuracy (%) per strength tried", "Kept"]
    # A strength kept at an end of its grid says the best one may lie beyond what was tried.
    edges = [f"`{t.name}` ({'largest' if chosen[t.name] == t.configs()[-1].name else 'smallest'} tried)"
             for t in TECHNIQUES if len(t.strengths) > 1 and chosen.get(t.name) in (t.configs()[0].name, t.configs()[-1].name)]
    note = (f"\nKept at an end of the strengths tried, so a strength beyond them may do better: {', '.join(edges)}.\n"
            if edges else "")
    return common_settings("regularizers") + markdown_table(header, rows, align="lllll") + note

