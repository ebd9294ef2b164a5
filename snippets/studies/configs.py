"""The studies' configurations: what each run trains, and on what data.

A run is one configuration trained with one seed. Everything that decides a run's
numbers is a field of ``RunConfig`` (the threads per TensorFlow op too: how a matrix
product is split over threads decides its rounding), so the same configuration and
seed give the same numbers whichever executor runs them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Iterable


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one training run, except its seed."""

    study: str
    name: str
    description: str
    epochs: int
    model: dict = field(default_factory=dict)  # keyword arguments of models.build_mlp
    batch_size: int = 32
    learning_rate: float = 0.01
    train_size: int | None = None  # None: the notebook's 55,000 images
    label_noise: float = 0.0  # fraction of training labels replaced by a wrong label
    early_stopping_patience: int | None = None  # EarlyStopping(restore_best_weights=True)
    augmentation: dict | None = None  # {"translate": fraction, "rotate": fraction of a turn}
    label_smoothing: float = 0.0  # the cross-entropy's targets: 1 - s on the label, s spread over all classes
    mixup_alpha: float = 0.0  # mixup (Zhang et al., 2018): each batch mixed with λ ~ Beta(α, α); 0: off
    weight_averaging: float | None = None  # SGD(use_ema=True, ema_momentum=...): the averaged weights are the model's
    test_each_epoch: bool = True
    # One thread per op: two runs side by side on two cores beat one run on both
    # (benchmarks/study_throughput.py), and the count is part of the math.
    threads: int = 1

    def with_overrides(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def label(self) -> str:
        return f"{self.study}/{self.name}"

    def cost(self) -> int:
        """Training examples visited: a rough measure of how long the run takes."""
        return self.epochs * (self.train_size or 55_000)


NOTEBOOK_STUDY = (
    RunConfig("notebook", "plain", "The notebook's MLP: 784-300-100-10, no normalization", epochs=15),
    RunConfig(
        "notebook",
        "batchnorm",
        "The notebook's batch-norm MLP: batch norm on the input and after each hidden layer",
        epochs=15,
        model={"batch_norm": "notebook"},
    ),
    RunConfig(
        "notebook",
        "batchnorm_hidden",
        "Batch norm after the two hidden layers only (not on the input pixels)",
        epochs=15,
        model={"batch_norm": "hidden"},
    ),
)

# A regime where regularization matters: 2,000 training images, a fifth of their labels
# wrong, and enough updates (60 epochs at five times the notebook's learning rate) for the
# plain MLP to memorize the wrong labels.
_SMALL_NOISY = dict(train_size=2000, label_noise=0.2, epochs=60, learning_rate=0.05, test_each_epoch=False)


@dataclass(frozen=True)
class Technique:
    """A regularizer of the regularizer study and the strengths it is tried at.

    Each strength is a configuration of its own, named ``<technique>-<strength>``; the
    report keeps, per technique, the strength with the best mean validation accuracy over
    the seeds and reports that configuration's test accuracy (``snippets.studies.selection``).
    A technique without a knob has one configuration, named after it.
    """

    name: str
    description: str
    knob: str = ""  # what the strength is, in words; "" for a technique without one
    strengths: tuple[float, ...] = ()
    settings: Callable[[float], dict] | None = None  # a strength -> the RunConfig fields it sets
    fixed: dict = field(default_factory=dict)  # RunConfig fields of a technique without a knob

    def configs(self) -> tuple[RunConfig, ...]:
        if not self.strengths:
            return (RunConfig("regularizers", self.name, self.description, **{**_SMALL_NOISY, **self.fixed}),)
        return tuple(
            RunConfig("regularizers", config_name(self.name, s), f"{self.description}, {self.knob} {s:g}",
                      **{**_SMALL_NOISY, **self.settings(s)})
            for s in self.strengths
        )


def config_name(technique: str, strength: float) -> str:
    return f"{technique}-{strength:g}"


_SHIFTS = {"translate": 0.1, "rotate": 0.03}
TECHNIQUES = (
    Technique("none", "No regularization"),
    Technique("l1", "L1 penalty on every kernel", "λ", (3e-4, 1e-3, 3e-3), lambda s: {"model": {"l1": s}}),
    # From none to too much: the L2 sweep of the sweeps pages reads these runs.
    Technique("l2", "L2 penalty on every kernel", "λ", (1e-4, 1e-3, 3e-3, 1e-2, 3e-2),
              lambda s: {"model": {"l2": s}}),
    Technique("dropout", "Dropout after each hidden layer", "rate", (0.2, 0.4, 0.6, 0.8),
              lambda s: {"model": {"dropout": s}}),
    Technique("early_stopping", "Early stopping on validation loss, best weights restored",
              fixed={"early_stopping_patience": 10}),
    Technique("batch_norm", "Batch norm after each hidden layer", fixed={"model": {"batch_norm": "hidden"}}),
    Technique("augmentation", "Random shifts and small rotations of the training images",
              fixed={"augmentation": _SHIFTS}),
    Technique("label_smoothing", "Label smoothing of the cross-entropy's targets", "ε", (0.1, 0.3, 0.5),
              lambda s: {"label_smoothing": s}),
    Technique("max_norm", "Max-norm constraint on every kernel's columns, with dropout 0.5", "c", (1.0, 1.5, 3.0),
              lambda s: {"model": {"max_norm": s, "dropout": 0.5}}),
    Technique("gaussian_noise", "Gaussian noise added to the input pixels", "σ", (0.2, 0.5, 0.8),
              lambda s: {"model": {"input_noise": s}}),
    Technique("mixup", "Mixup of pairs of training images and their labels", "α", (0.2, 1.0, 4.0),
              lambda s: {"mixup_alpha": s}),
    Technique("weight_averaging", "Exponential moving average of the weights, used after training", "momentum",
              (0.99, 0.999, 0.9995), lambda s: {"weight_averaging": s}),
    Technique("combined", "Lighter dropout, augmentation and early stopping together",
              fixed={"model": {"dropout": 0.3}, "augmentation": _SHIFTS, "early_stopping_patience": 10}),
)
REGULARIZER_STUDY = tuple(config for technique in TECHNIQUES for config in technique.configs())


# ---------------------------------------------------------------- sweeps: one knob over a grid

#: Every training-set size gets the regime's number of updates (60 epochs of 2,000 images).
EXAMPLES_SEEN = 60 * 2000
TRAIN_SIZES = (300, 1000, 2000, 8000, 55_000)
#: Units of the first hidden layer; the second has a third as many (300 and 100 in the notebook).
WIDTHS = (16, 50, 100, 300, 600)
LEARNING_RATES = (0.01, 0.03, 0.1, 0.3, 1.0)
LABEL_NOISES = (0.0, 0.2, 0.4, 0.6)
#: Batch norm against learning rate: clean labels, so what is measured is how well each trains.
_CLEAN = dict(train_size=10_000, epochs=10, test_each_epoch=False)
_NONE = TECHNIQUES[0].configs()[0]


@dataclass(frozen=True)
class Series:
    """One line of a sweep: the run configurations of its points, as (study, configuration name)."""

    label: str
    points: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Sweep:
    """A knob turned over a grid with everything else fixed; one page of the site each."""

    name: str  # page docs/studies/sweeps/<name with dashes>.md; generated files sweep_<name>.*
    title: str
    knob: str
    values: tuple[float, ...]
    series: tuple[Series, ...]
    log_x: bool = True
    #: Whether the knob is a setting to choose (a strength, a width, a learning rate), whose best
    #: value the page marks; the training-set size and the label noise are given, not chosen.
    chosen: bool = True


def _technique_sweep(name: str, title: str, knob: str, technique: str) -> Sweep:
    """A sweep over a technique's strengths in the regularizer study, from none (the baseline) up."""
    found = next(t for t in TECHNIQUES if t.name == technique)
    points = (("regularizers", "none"), *(("regularizers", config_name(technique, s)) for s in found.strengths))
    return Sweep(name, title, knob, (0.0, *found.strengths), (Series("no other regularization", points),),
                 log_x=technique == "l2")


def _sized(config: RunConfig, size: int, name: str) -> RunConfig:
    epochs = max(1, round(EXAMPLES_SEEN / size))
    return dataclasses.replace(config, study="sweeps", name=name, epochs=epochs,
                               train_size=None if size == 55_000 else size,
                               description=f"{config.description}; {size:,} images, {epochs} epochs")


def sweeps(best: RunConfig) -> tuple[Sweep, ...]:
    """The six sweeps; ``best`` is the regularizer study's best technique at its chosen strength."""
    def regularized(kind: str, value, default) -> tuple[tuple[str, str], tuple[str, str]]:
        # The regime's own size and noise are the regularizer study's runs.
        if value == default:
            return ("regularizers", "none"), ("regularizers", best.name)
        return ("sweeps", f"{kind}-{value:g}-none"), ("sweeps", f"{kind}-{value:g}-best")

    sizes = [regularized("train_size", size, 2000) for size in TRAIN_SIZES]
    noises = [regularized("label_noise", noise, 0.2) for noise in LABEL_NOISES]
    best_label = f"{best.name} (the study's best)"
    return (
        _technique_sweep("l2", "L2 strength", "L2 strength λ", "l2"),
        _technique_sweep("dropout", "Dropout rate", "dropout rate", "dropout"),
        Sweep("train_size", "Training-set size", "training images", TRAIN_SIZES,
              (Series("no regularization", tuple(p[0] for p in sizes)), Series(best_label, tuple(p[1] for p in sizes))),
              chosen=False),
        Sweep("width", "Network width", "units in the first hidden layer", WIDTHS,
              (Series("no regularization", tuple(("regularizers", "none") if w == 300 else ("sweeps", f"width-{w}")
                                                for w in WIDTHS)),)),
        Sweep("batch_norm_learning_rate", "Batch norm and the learning rate", "learning rate", LEARNING_RATES,
              tuple(Series(label, tuple(("sweeps", f"learning_rate-{lr:g}-{kind}") for lr in LEARNING_RATES))
                    for kind, label in (("plain", "plain MLP"), ("batch_norm", "batch norm")))),
        Sweep("label_noise", "Label noise", "fraction of wrong training labels", LABEL_NOISES,
              (Series("no regularization", tuple(p[0] for p in noises)), Series(best_label, tuple(p[1] for p in noises))),
              log_x=False, chosen=False),
    )


def sweep_study(best: RunConfig) -> tuple[RunConfig, ...]:
    """The configurations the sweeps add to the regularizer study's (which they share where they meet)."""
    configs = []
    for size in TRAIN_SIZES:
        if size != 2000:
            configs += [_sized(_NONE, size, f"train_size-{size:g}-none"), _sized(best, size, f"train_size-{size:g}-best")]
    for width in WIDTHS:
        if width != 300:
            configs.append(dataclasses.replace(
                _NONE, study="sweeps", name=f"width-{width:g}", model={"hidden_units": [width, width // 3]},
                description=f"No regularization; hidden layers of {width} and {width // 3} units"))
    for lr in LEARNING_RATES:
        configs.append(RunConfig("sweeps", f"learning_rate-{lr:g}-plain", f"Plain MLP, learning rate {lr:g}",
                                 learning_rate=lr, **_CLEAN))
        configs.append(RunConfig("sweeps", f"learning_rate-{lr:g}-batch_norm",
                                 f"Batch norm after each hidden layer, learning rate {lr:g}",
                                 learning_rate=lr, model={"batch_norm": "hidden"}, **_CLEAN))
    for noise in LABEL_NOISES:
        if noise != 0.2:
            for config, series in ((_NONE, "none"), (best, "best")):
                configs.append(dataclasses.replace(
                    config, study="sweeps", name=f"label_noise-{noise:g}-{series}", label_noise=noise,
                    description=f"{config.description}; {noise:.0%} of the training labels wrong"))
    return tuple(configs)


STUDIES: dict[str, tuple[RunConfig, ...]] = {"notebook": NOTEBOOK_STUDY, "regularizers": REGULARIZER_STUDY}
#: Studies whose configurations depend on another study's results: the sweeps train with the
#: regularizer study's best technique, so they run after it (``snippets.studies.selection``).
DEPENDENT_STUDIES = ("sweeps",)
#: Seeds per study, 0 to N-1: enough for a 95% interval that resolves the larger differences;
#: the pages mark the others "not resolved". CI runs every study in full, so more seeds cost
#: CI time (`python -m snippets study all --seeds 20` runs more).
SEEDS = {"notebook": 5, "regularizers": 5, "sweeps": 5}
#: Sweep points that need more seeds to resolve what their page reports: the plain MLP at
#: learning rate 1 collapses to chance in some seeds only, and at 5 seeds the 95% interval of
#: batch norm's difference there contained zero; at 10 it does not. These runs are cheap.
MORE_SEEDS = {"learning_rate-": 10}


def seeds_for(config: RunConfig) -> int:
    """How many seeds (0 to N-1) a configuration runs: its study's, or more where MORE_SEEDS says."""
    more = [n for prefix, n in MORE_SEEDS.items() if config.study == "sweeps" and config.name.startswith(prefix)]
    return max([SEEDS[config.study], *more])


def study_configs(study: str, only: Iterable[str] = (), configs: Iterable[RunConfig] | None = None) -> list[RunConfig]:
    """The configurations of a study (``configs`` for a dependent study), optionally restricted to some names."""
    if study not in (*STUDIES, *DEPENDENT_STUDIES):
        raise ValueError(f"unknown study {study!r}; choose from {', '.join((*STUDIES, *DEPENDENT_STUDIES))}")
    configs = list(STUDIES[study] if configs is None else configs)
    only = list(only)
    unknown = sorted(set(only) - {c.name for c in configs})
    if unknown:
        raise ValueError(
            f"unknown configuration(s) {', '.join(unknown)} for study {study!r}; "
            f"choose from {', '.join(c.name for c in configs)}"
        )
    return [c for c in configs if not only or c.name in only]
