"""The two studies: their configurations, seeds, and one results file per run.

A run is one configuration trained with one seed. Its results file holds the
per-epoch history, final train/validation/test metrics, wall time, the full
configuration, library versions, the git commit and a *key*: a hash of the
configuration, the training code and the library versions. A finished run whose
key still matches is never rerun; a run made by other code is rerun. Files are
written atomically (temporary file, then rename), so an interrupted study keeps
every finished run and never leaves half a file behind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

RESULTS_FORMAT = 1
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS_DIR = PROJECT_ROOT / "results"
# The modules whose code decides a run's numbers: a change in any of them reruns the studies.
CODE_MODULES = ("data.py", "models.py", "training.py", "experiment.py")


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
    test_each_epoch: bool = True

    def with_overrides(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


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


# ---------------------------------------------------------------- provenance


def library_versions() -> dict[str, str]:
    import keras
    import pandas
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "pandas": pandas.__version__,
    }


def code_fingerprint() -> str:
    """A hash of the modules that decide a run's numbers."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in CODE_MODULES:
        digest.update(name.encode())
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:16]


def git_commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10
        )
        commit = result.stdout.strip() if result.returncode == 0 else ""
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "snippets"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        return (commit + ("+modified" if dirty else "")) or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_key(config: RunConfig, seed: int, versions: dict[str, str], fingerprint: str) -> str:
    """Identifies a run's inputs: configuration, seed, code and library versions."""
    payload = json.dumps(
        {"config": dataclasses.asdict(config), "seed": seed, "versions": versions, "code": fingerprint},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


# ---------------------------------------------------------------- results files


def results_path(results_dir: Path, config: RunConfig, seed: int) -> Path:
    return Path(results_dir) / config.study / config.name / f"seed-{seed}.json"


def write_json_atomically(path: Path, payload: dict) -> None:
    """Write to a temporary file in the same folder, then rename: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(payload, stream, indent=1)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class ResultsFileError(ValueError):
    """A results file that is unreadable, truncated, or not one of ours."""


REQUIRED_FIELDS = ("format", "key", "config", "seed", "history", "final", "versions", "code", "wall_seconds")


def read_results(path: Path) -> dict:
    """Load and validate one results file; raise ResultsFileError saying what is wrong."""
    try:
        payload = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ResultsFileError(f"{path}: not readable JSON ({error})") from None
    if not isinstance(payload, dict):
        raise ResultsFileError(f"{path}: not a results object")
    missing = [name for name in REQUIRED_FIELDS if name not in payload]
    if missing:
        raise ResultsFileError(f"{path}: not a results file of this project (missing {', '.join(missing)})")
    if payload["format"] != RESULTS_FORMAT:
        raise ResultsFileError(f"{path}: results format {payload['format']}, expected {RESULTS_FORMAT}")
    return payload


def finished_run(path: Path, key: str) -> dict | None:
    """The stored run if it exists and was made from the same inputs, else None."""
    if not path.exists():
        return None
    try:
        payload = read_results(path)
    except ResultsFileError:
        return None
    return payload if payload["key"] == key else None


# ---------------------------------------------------------------- running


def prepare_data(config: RunConfig, seed_for_noise: int = 0):
    """The notebook's split, optionally a smaller training set with some labels made wrong."""
    from snippets.data import load_mnist, notebook_split

    (x_all, y_all), test = load_mnist()
    train, validation = notebook_split(x_all, y_all)
    x_train, y_train = train
    if config.train_size is not None:
        x_train, y_train = x_train[: config.train_size], y_train[: config.train_size]
    if config.label_noise:
        y_train = corrupt_labels(y_train, config.label_noise, seed=seed_for_noise)
    return (x_train, y_train), validation, test


def corrupt_labels(labels: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Replace ``fraction`` of the labels by a different, uniformly drawn class."""
    rng = np.random.default_rng(seed)
    labels = labels.copy()
    chosen = rng.choice(len(labels), size=round(fraction * len(labels)), replace=False)
    labels[chosen] = (labels[chosen] + rng.integers(1, 10, size=len(chosen))) % 10
    return labels


def augmentation_layer(settings: dict, seed: int):
    import keras

    return keras.Sequential(
        [
            keras.layers.RandomTranslation(settings["translate"], settings["translate"], fill_mode="constant", seed=seed),
            keras.layers.RandomRotation(settings["rotate"], fill_mode="constant", seed=seed + 1),
        ],
        name="augmentation",
    )


def run_one(config: RunConfig, seed: int) -> dict:
    """Train one configuration with one seed; return its results (without provenance)."""
    import keras

    from snippets.models import build_mlp
    from snippets.training import compile_like_notebook, evaluate, seed_everything, train

    train_data, validation, test = prepare_data(config)
    seed_everything(seed)
    augmentation = augmentation_layer(config.augmentation, seed) if config.augmentation else None
    model = build_mlp(augmentation=augmentation, **config.model)
    compile_like_notebook(model, learning_rate=config.learning_rate)
    callbacks = []
    if config.early_stopping_patience is not None:
        stopper = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.early_stopping_patience, restore_best_weights=True
        )
        callbacks.append(stopper)
    start = time.perf_counter()
    history = train(
        model,
        train_data,
        validation,
        seed=seed,
        epochs=config.epochs,
        batch_size=config.batch_size,
        test_data=test if config.test_each_epoch else None,
        callbacks=callbacks,
    )
    final = {f"{split}_{metric}": value for split, data in (("train", train_data), ("val", validation), ("test", test))
             for metric, value in evaluate(model, data).items()}
    return {
        "history": history,
        "final": final,
        "epochs_run": len(history["loss"]),
        "parameters": int(model.count_params()),
        "wall_seconds": time.perf_counter() - start,
    }


@dataclass
class StudyProgress:
    done: int = 0
    reused: int = 0
    trained: int = 0


def run_study(
    configs: list[RunConfig],
    seeds: Iterable[int],
    results_dir: Path = DEFAULT_RESULTS_DIR,
    force: bool = False,
    log: Callable[[str], None] = print,
    progress: StudyProgress | None = None,
) -> StudyProgress:
    """Run every configuration with every seed, skipping runs already finished with the same inputs."""
    versions, fingerprint, commit = library_versions(), code_fingerprint(), git_commit()
    seeds = list(seeds)
    total = len(configs) * len(seeds)
    progress = progress or StudyProgress()
    for index, (config, seed) in enumerate(((c, s) for c in configs for s in seeds), start=1):
        progress.done += 1
        label = f"[{index}/{total}] {config.study}/{config.name} seed {seed}"
        path = results_path(results_dir, config, seed)
        key = run_key(config, seed, versions, fingerprint)
        if not force and finished_run(path, key):
            progress.reused += 1
            log(f"{label}: already done ({path.relative_to(results_dir)})")
            continue
        log(f"{label}: training {config.epochs} epochs ...")
        outcome = run_one(config, seed)
        payload = {
            "format": RESULTS_FORMAT,
            "key": key,
            "config": dataclasses.asdict(config),
            "seed": seed,
            **outcome,
            "versions": versions,
            "code": fingerprint,
            "commit": commit,
            "cpu": cpu_model(),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": " ".join(sys.argv),
        }
        write_json_atomically(path, payload)
        progress.trained += 1
        final = outcome["final"]
        log(
            f"{label}: {outcome['epochs_run']} epochs in {outcome['wall_seconds']:.0f} s, "
            f"train {final['train_accuracy']:.4f}, val {final['val_accuracy']:.4f}, test {final['test_accuracy']:.4f}"
        )
    return progress
