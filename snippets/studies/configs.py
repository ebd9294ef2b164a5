"""The studies' configurations: what each run trains, and on what data.

A run is one configuration trained with one seed. Everything that decides a run's
numbers is a field of ``RunConfig`` (the threads per TensorFlow op too: how a matrix
product is split over threads decides its rounding), so the same configuration and
seed give the same numbers whichever executor runs them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterable


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
# plain MLP to memorize the wrong labels. Strengths were picked from a few values each by
# validation accuracy with seed 0.
_SMALL_NOISY = dict(train_size=2000, label_noise=0.2, epochs=60, learning_rate=0.05, test_each_epoch=False)
REGULARIZER_STUDY = (
    RunConfig("regularizers", "none", "No regularization", **_SMALL_NOISY),
    RunConfig("regularizers", "l1", "L1 penalty on every kernel", model={"l1": 1e-3}, **_SMALL_NOISY),
    RunConfig("regularizers", "l2", "L2 penalty on every kernel", model={"l2": 5e-3}, **_SMALL_NOISY),
    RunConfig("regularizers", "dropout", "Dropout after each hidden layer", model={"dropout": 0.5}, **_SMALL_NOISY),
    RunConfig(
        "regularizers",
        "early_stopping",
        "Early stopping on validation loss, best weights restored",
        early_stopping_patience=10,
        **_SMALL_NOISY,
    ),
    RunConfig("regularizers", "batch_norm", "Batch norm after each hidden layer", model={"batch_norm": "hidden"}, **_SMALL_NOISY),
    RunConfig(
        "regularizers",
        "augmentation",
        "Random shifts and small rotations of the training images",
        augmentation={"translate": 0.1, "rotate": 0.03},
        **_SMALL_NOISY,
    ),
    RunConfig(
        "regularizers",
        "combined",
        "Lighter dropout, augmentation and early stopping together",
        model={"dropout": 0.3},
        augmentation={"translate": 0.1, "rotate": 0.03},
        early_stopping_patience=10,
        **_SMALL_NOISY,
    ),
)

STUDIES: dict[str, tuple[RunConfig, ...]] = {"notebook": NOTEBOOK_STUDY, "regularizers": REGULARIZER_STUDY}
DEFAULT_SEEDS = 5


def study_configs(study: str, only: Iterable[str] = ()) -> list[RunConfig]:
    """The configurations of a study, optionally restricted to some names."""
    if study not in STUDIES:
        raise ValueError(f"unknown study {study!r}; choose from {', '.join(STUDIES)}")
    configs = list(STUDIES[study])
    only = list(only)
    unknown = sorted(set(only) - {c.name for c in configs})
    if unknown:
        raise ValueError(
            f"unknown configuration(s) {', '.join(unknown)} for study {study!r}; "
            f"choose from {', '.join(c.name for c in configs)}"
        )
    return [c for c in configs if not only or c.name in only]
