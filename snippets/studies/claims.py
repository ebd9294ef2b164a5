"""What the study pages say about their numbers: sentences made from the results and checked on them.

Every sentence of a study page that states a direction or a size ("batch norm fits
faster", "the last validation accuracy is below the best") is written here, once. Its
numbers come from the results files, and the claim its words make is a test on those
numbers. The report writes the sentences into docs/generated. When a claim does not hold
for a study's own runs, the report stops with :class:`ClaimError`, which names the
sentence and what was measured, so no site is built on it. Runs made with other settings
(a smoke test) are not the study's: there a claim that fails is shown under a warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from snippets.data import NOTEBOOK_VALIDATION_SIZE
from snippets.studies.results import StudyResults
from snippets.studies.statistics import METRICS, comparisons, paired_difference, summarize, value
from snippets.studies.tables import (
    MNIST_TEST_IMAGES,
    NOTEBOOK_CLAIM,
    TRAINING_CANDIDATES,
    Numbers,
    closest_metrics,
    recipe,
    seeds_text,
    training_images,
)


@dataclass
class Sentence:
    """One sentence of a page, and whether the direction or size its words state holds."""

    text: str
    holds: bool = True
    measured: str = ""  # the comparison behind the claim, for the error message


class ClaimError(RuntimeError):
    """A sentence of a study page whose claim the study's own results do not support."""


def failures(sentences: dict[str, list[Sentence]]) -> list[str]:
    """``file: "sentence" does not hold: measured`` for every claim that fails."""
    return [f'{file}: "{s.text}" does not hold: {s.measured}'
            for file, said in sentences.items() for s in said if not s.holds]


def render(parts: list, failed_note: bool = True) -> str:
    """Markdown of strings and sentences; a warning lists the claims that fail (runs not the study's)."""
    text = "".join(p.text if isinstance(p, Sentence) else p for p in parts)
    wrong = [p for p in parts if isinstance(p, Sentence) and not p.holds]
    if wrong and failed_note:
        text += '\n!!! warning "Does not hold for these runs"\n'
        text += "".join(f"    - {s.text} ({s.measured})\n" for s in wrong)
    return text


def missing(study: str, names) -> str:
    return (f"(Not measured yet: no runs of {', '.join(f'`{n}`' for n in names)}; "
            f"run `python -m snippets study {study}`.)\n")


def _curve(runs: list[dict], key: str) -> np.ndarray:
    """The mean over seeds of a per-epoch history, cut to the shortest run."""
    epochs = min(len(r["history"][key]) for r in runs)
    return np.array([r["history"][key][:epochs] for r in runs]).mean(axis=0)


def _signed(numbers: Numbers, x: float, where: str) -> str:
    return ("+" if x > 0 else "") + numbers.pct(x, where)


# ---------------------------------------------------------------- the notebook's comparison


def notebook_findings(results: StudyResults, numbers: Numbers) -> list:
    """The bullets of "What the numbers show" on the notebook comparison page."""
    names = ("plain", "batchnorm", "batchnorm_hidden")
    absent = [n for n in names if not results.runs.get(n)]
    if absent:
        return [missing("notebook", absent)]
    runs = results.runs
    tests = comparisons(runs, "plain", METRICS["test"])
    trains = comparisons(runs, "plain", METRICS["train"])
    val = paired_difference(runs["batchnorm"], runs["plain"], METRICS["val"])
    placement = paired_difference(runs["batchnorm_hidden"], runs["batchnorm"], METRICS["test"])
    if len(tests) < 2 or val is None or placement is None:
        return ["(Paired comparisons need at least two seeds that the models share; "
                "run `python -m snippets study notebook`.)\n"]
    w = "notebook findings"
    config = recipe("notebook")

    # Speed of fitting: Keras' running training loss, every epoch.
    plain_loss = _curve(runs["plain"], "loss")
    bn_losses = {n: _curve(runs[n], "loss") for n in names[1:]}
    slower = [f"{n} epoch {e + 1}" for n, c in bn_losses.items() for e in range(len(c)) if c[e] >= plain_loss[e]]
    mark = min(5, len(plain_loss))
    fits_faster = Sentence(
        f"Both batch-norm models fit the training set faster than `plain`: their mean training loss is lower "
        f"in every one of the {len(plain_loss)} epochs (epoch {mark}: "
        f"{numbers.plain(float(bn_losses['batchnorm'][mark - 1]), w + ' bn loss', 4)} for `batchnorm` and "
        f"{numbers.plain(float(bn_losses['batchnorm_hidden'][mark - 1]), w + ' hidden loss', 4)} for "
        f"`batchnorm_hidden`, against {numbers.plain(float(plain_loss[mark - 1]), w + ' plain loss', 4)}).",
        holds=not slower, measured=f"training loss not below plain's at {', '.join(slower)}")

    # Held out, the difference shrinks.
    parts = []
    for n in names[1:]:
        parts.append(f"`{n}` differs from `plain` by {_signed(numbers, trains[n]['mean'], w + f' {n} train delta')} "
                     f"points in training accuracy but by {_signed(numbers, tests[n]['mean'], w + f' {n} test delta')} "
                     f"in test accuracy (Holm-adjusted p {numbers.p_value(tests[n]['p_holm'], w + f' {n} holm p')})")
    shrinks = Sentence(
        "On new images the differences shrink: " + "; ".join(parts) + ".",
        holds=all(abs(tests[n]["mean"]) < trains[n]["mean"] for n in names[1:]),
        measured="a batch-norm model's test difference to plain is not smaller than its training difference")

    # The notebook's figures sit next to training accuracies and overstate the held-out difference.
    closest = closest_metrics(results)
    claimed = NOTEBOOK_CLAIM["batchnorm"] - NOTEBOOK_CLAIM["plain"]
    near_training = Sentence(
        "Each of the notebook's two figures is closest to a training accuracy of its model ("
        + "; ".join(f"`{n}`: {label if label.startswith('Keras') else label[0].lower() + label[1:]}" for n, (_, label) in closest.items()) + ").",
        holds=all(label in TRAINING_CANDIDATES for _, label in closest.values()),
        measured="closest metrics: " + ", ".join(label for _, label in closest.values()))
    overstates = Sentence(
        f"The notebook's {claimed:.1f} points in favour of batch normalization are more than the measured differences of the "
        f"same two models in validation accuracy ({_signed(numbers, val['mean'], w + ' val delta')} points) and "
        f"test accuracy ({_signed(numbers, tests['batchnorm']['mean'], w + ' test delta')}).",
        holds=claimed > 100 * max(val["mean"], tests["batchnorm"]["mean"]),
        measured=f"validation {100 * val['mean']:+.2f}, test {100 * tests['batchnorm']['mean']:+.2f} points")

    # Where the batch norm goes.
    matters = Sentence(
        f"`batchnorm_hidden` beats `batchnorm` by {numbers.pct(placement['mean'], w + ' placement')} points of "
        f"test accuracy, paired over {placement['n']} seeds (95% CI "
        f"[{numbers.pct(placement['low'], w + ' placement low')}, {numbers.pct(placement['high'], w + ' placement high')}]).",
        holds=placement["low"] > 0,
        measured=f"95% CI of batchnorm_hidden − batchnorm: [{100 * placement['low']:.2f}, {100 * placement['high']:.2f}]")

    # Sampling error of one accuracy against the differences between the models.
    p_val = float(np.mean([value(r, METRICS["val"]) for r in runs["plain"]]))
    se_val = math.sqrt(p_val * (1 - p_val) / NOTEBOOK_VALIDATION_SIZE)
    p_test = float(np.mean([value(r, METRICS["test"]) for r in runs["plain"]]))
    se_test = math.sqrt(p_test * (1 - p_test) / MNIST_TEST_IMAGES)
    means = [float(np.mean([value(r, METRICS["val"]) for r in runs[n]])) for n in names]
    gaps = sorted(abs(a - b) for i, a in enumerate(means) for b in means[i + 1:])
    # The comparison's words follow the ratio, so the sentence says what was measured.
    ratio = se_val / float(np.median(gaps))
    size = ("about the size of" if 0.5 <= ratio <= 2 else "smaller than" if ratio < 0.5 else "larger than")
    sampling = Sentence(
        f"One accuracy measured on the {NOTEBOOK_VALIDATION_SIZE:,} validation images has a binomial standard error "
        f"of about {numbers.pct(se_val, w + ' se val')} points (√(p(1 − p)/n) at p = {numbers.pct(p_val, w + ' p val')}%), "
        f"and {numbers.pct(se_test, w + ' se test')} on the {MNIST_TEST_IMAGES:,} test images: {size} the median "
        f"difference between the three models' mean validation accuracies "
        f"({numbers.pct(float(np.median(gaps)), w + ' gap median')} points; from "
        f"{numbers.pct(gaps[0], w + ' gap min')} to {numbers.pct(gaps[-1], w + ' gap max')}), "
        f"{numbers.plain(ratio, w + ' se ratio')} times it.",
        holds=True, measured=f"standard error / median difference = {ratio:.2f}")

    return [
        "- **Speed of fitting is not generalization.** Batch normalization was designed to make training faster "
        "(Ioffe & Szegedy, 2015). ", fits_faster, " ", shrinks, "\n",
        "- **Training accuracy flatters.** ", near_training, " ", overstates, "\n",
        "- **Where the batch norm goes matters.** ", matters, " The notebook's extra layer on the input pixels "
        "divides near-constant border pixels by their tiny standard deviations (see "
        "[the batch normalization chapter](../chapters/batch-normalization.md)).\n",
        f"- **What this does not show.** One architecture, one learning rate ({config.learning_rate}), "
        f"{config.epochs} epochs, seeds {seeds_text('notebook')}. Batch normalization's main practical benefit, tolerating much "
        "larger learning rates (Bjorck et al., 2018), is not tested by a comparison at one small learning rate; "
        "the [batch norm and learning rate sweep](sweeps/batch-norm-learning-rate.md) tests it. "
        "The seeds give a confidence interval, not a guarantee. ", sampling, "\n",
    ]


# ---------------------------------------------------------------- the regularizer study


def regime(regularizers: StudyResults, notebook: StudyResults, numbers: Numbers) -> list:
    """The "Why this setting" bullets: the settings from the configuration, the claims from both studies."""
    w = "regularizers regime"
    small, full = recipe("regularizers"), recipe("notebook")
    plain = notebook.runs.get("plain")
    if plain:
        gap = summarize([value(r, METRICS["train"]) - value(r, METRICS["test"]) for r in plain])
        val_loss = _curve(plain, "val_loss")
        rises = float(val_loss[-1] / val_loss.min() - 1)
        barely = Sentence(
            f"On the full MNIST training set the notebook's MLP barely overfits in {full.epochs} epochs: `plain` "
            f"ends {numbers.pct(summarize([value(r, METRICS['train']) for r in plain])['mean'], w + ' plain train')}% "
            f"accurate on its training images and {numbers.pct(summarize([value(r, METRICS['test']) for r in plain])['mean'], w + ' plain test')}% "
            f"on the test images, a gap of {numbers.pct(gap['mean'], w + ' plain gap')} points, and its mean "
            f"validation loss is lowest in epoch {int(val_loss.argmin()) + 1} of {len(val_loss)} "
            "(see [the notebook's comparison](notebook-comparison.md)).",
            holds=gap["mean"] < 0.02 and rises < 0.05,
            measured=f"train − test gap {100 * gap['mean']:.2f} points (claim: under 2), last validation loss "
                     f"{100 * rises:.1f}% above its lowest (claim: under 5%)")
    else:
        barely = Sentence("On the full MNIST training set the notebook's MLP overfits little " + missing("notebook", ["plain"]).strip())
    none = regularizers.runs.get("none")
    if none:
        fit = float(np.mean([value(r, METRICS["train"]) for r in none]))
        measured = [r["final"].get("wrong_labels_reproduced") for r in none]
        if None in measured:  # runs made before the share was measured: its lower bound from the accuracy
            wrong_fitted = 1 - (1 - fit) / small.label_noise
            how = "at least", "(the share left if every label it misses were a wrong one)"
        else:
            wrong_fitted = float(np.mean(measured))
            how = "", "(measured on the training images given a wrong label, mean over seeds)"
        nearly_all = Sentence(
            f"long enough for the unregularized network (`none`) to fit nearly every training label, wrong ones "
            f"included: it ends {numbers.pct(fit, w + ' none train')}% accurate on the noisy training labels, and "
            f"it reproduces {how[0] + ' ' if how[0] else ''}{numbers.pct(wrong_fitted, w + ' wrong fitted', 1)}% of the "
            f"wrong ones {how[1]}.",
            holds=wrong_fitted >= 0.9,
            measured=f"{how[0] + ' ' if how[0] else ''}{100 * wrong_fitted:.1f}% of the wrong labels fitted "
                     "(claim: 90% or more)")
    else:
        nearly_all = Sentence("meant to let the unregularized network fit its wrong labels " + missing("regularizers", ["none"]).strip())
    ratio = small.learning_rate / full.learning_rate
    return [
        barely, " A regularizer would have little to fix there. "
        "Regularization matters when a model can memorize its training set; this study makes that happen on "
        "purpose, cheaply enough to run in CI:\n\n",
        f"- **Few images**: the first {training_images(small):,} of the notebook's {training_images(full):,} "
        "training images.\n",
        f"- **Noisy labels**: {small.label_noise:.0%} of them get a wrong label, another class drawn at random "
        "(the same wrong labels for every configuration and seed). The validation and test labels stay clean, "
        "so memorizing the wrong training labels can only hurt held-out accuracy. Zhang et al. (2017) showed "
        "that networks like this one can fit even entirely random labels.\n",
        f"- **Long training**: up to {small.epochs} epochs at a learning rate of {small.learning_rate} "
        f"({ratio:g} times the notebook's {full.learning_rate}), ", nearly_all, "\n",
        f"- **Same everything else**: the notebook's 784-300-100-10 MLP, SGD, batch size {small.batch_size}, "
        f"seeds {seeds_text('regularizers')}.\n",
    ]


def tuning(results: StudyResults) -> list:
    """How the strengths were chosen (by the code, on validation), and which validation numbers that biases."""
    from snippets.studies.configs import TECHNIQUES

    tuned = [t.name for t in TECHNIQUES if t.strengths]
    stopped = [c.name for c in results.configs if c.early_stopping_patience is not None]
    names = lambda found: ", ".join(f"`{n}`" for n in found)  # noqa: E731
    return [
        "Most techniques are tried at a few strengths (the table below), each with every seed. For each "
        "technique the report keeps the strength with the highest mean validation accuracy "
        "([`snippets/studies/selection.py`](https://github.com/regularization-handbook/handbook/blob/main/snippets/studies/selection.py)), "
        "and the results table shows that configuration under the technique's name. The choice sees "
        f"validation accuracy only, so the validation column is biased upwards for the techniques tuned on it "
        f"({names(tuned)}) and for those stopped on it ({names(stopped)}). The test set (the notebook's "
        f"{MNIST_TEST_IMAGES:,} test images) plays no part in either: compare techniques on the test column. "
        "The L2 and dropout strengths are the points of their [sweeps](sweeps/l2.md), which show every "
        "strength's test accuracy too.\n",
    ]


def _kinds(config) -> set[str]:
    return set(config.model) | ({"augmentation"} if config.augmentation else set()) | (
        {"early_stopping"} if config.early_stopping_patience is not None else set())


def _shortfall(runs: dict, name: str, parts: list[str]) -> dict | None:
    """Per seed, (combination − none) − Σ (part − none) in test accuracy: mean, sd, 95% t-interval."""
    seeds = set.intersection(*({r["seed"] for r in runs[n]} for n in [name, "none", *parts]))
    if len(seeds) < 2:
        return None
    test = {n: {r["seed"]: value(r, METRICS["test"]) for r in runs[n]} for n in [name, "none", *parts]}
    return summarize([(test[name][s] - test["none"][s]) - sum(test[p][s] - test["none"][s] for p in parts)
                      for s in sorted(seeds)])


def technique_findings(results: StudyResults, name: str, numbers: Numbers) -> list:
    """The checked sentences of one technique's section (for those whose section states a direction)."""
    runs = results.runs
    w = f"regularizers/{name} finding"
    if name == "none" and runs.get("none"):
        curve = _curve(runs["none"], "val_accuracy")
        return ["\n", Sentence(
            f"Its mean validation accuracy falls from the peak of {numbers.pct(float(curve.max()), w + ' best')}% "
            f"(epoch {int(curve.argmax()) + 1}) to {numbers.pct(float(curve[-1]), w + ' last')}% in the last "
            f"epoch: {numbers.pct(float(curve.max() - curve[-1]), w + ' lost')} points lost while the network "
            "goes on fitting the wrong labels.",
            holds=curve[-1] < curve.max(), measured="the last validation accuracy is the best"), "\n"]
    if name == "batch_norm" and runs.get("batch_norm") and runs.get("none"):
        mine, base = _curve(runs["batch_norm"], "accuracy"), _curve(runs["none"], "accuracy")
        level = 0.95
        reach = [int(np.argmax(c >= level)) + 1 if (c >= level).any() else None for c in (mine, base)]
        return ["\n", Sentence(
            f"It fits faster, wrong labels included: the mean over seeds of Keras' running accuracy on the noisy "
            f"training labels (the dashed curves) first passes {level:.0%} in epoch {reach[0] or 'never'}, "
            f"against epoch {reach[1] or 'never'} for `none` (the epoch where the mean curve crosses, not a mean "
            "of each seed's epoch).",
            holds=reach[0] is not None and (reach[1] is None or reach[0] < reach[1]),
            measured=f"epochs to {level:.0%}: batch_norm {reach[0]}, none {reach[1]}"), "\n"]
    if name == "combined" and runs.get("combined"):
        configs = {c.name: c for c in results.configs}
        together = _kinds(configs[name])
        parts = [c.name for c in configs.values() if c.name not in (name, "none") and _kinds(c) and _kinds(c) <= together]
        deltas = comparisons(runs, "none", METRICS["test"])
        if name not in deltas or any(p not in deltas for p in parts):
            return ["\n", missing("regularizers", parts + ["none"])]
        alone = sum(deltas[p]["mean"] for p in parts)
        differ = [f"{key} {configs[p].model[key]} alone, {configs[name].model[key]} here"
                  for p in parts for key in configs[p].model if configs[p].model[key] != configs[name].model.get(key)]
        shortfall = _shortfall(runs, name, parts)
        if shortfall is None:
            return ["\n", missing("regularizers", parts + [name, "none"])]
        # Per seed: the combination's gain minus the sum of the parts' gains, with its t-interval.
        resolved = shortfall["high"] < 0 or shortfall["low"] > 0
        verdict = (("less than" if shortfall["mean"] < 0 else "more than") if resolved
                   else "not distinguishable from")
        return ["\n", Sentence(
            f"Together they gain {numbers.pct(deltas[name]['mean'], w + ' together')} points of test accuracy over "
            f"`none`, {verdict} the {numbers.pct(alone, w + ' sum')} points that "
            f"{', '.join(f'`{p}`' for p in parts)} gain one at a time"
            + (f" ({'; '.join(differ)})" if differ else "")
            + f": together minus the sum, paired by seed, {_signed(numbers, shortfall['mean'], w + ' shortfall')} "
            f"points (95% CI [{numbers.pct(shortfall['low'], w + ' shortfall low')}, "
            f"{numbers.pct(shortfall['high'], w + ' shortfall high')}], {shortfall['n']} seeds).",
            holds=True, measured=f"together − sum: {100 * shortfall['mean']:.2f} points"), "\n"]
    return []
