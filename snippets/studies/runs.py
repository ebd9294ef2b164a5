"""One study run, as an executor's worker performs it: data, model, training, metrics.

``perform(config, seed)`` is the whole of a run. It is a plain function of its
arguments so that any executor can call it: in this process, in a pool of fresh
worker processes, or on a Dask worker on another machine. What a run computes
depends only on the configuration and the seed, never on where it runs: the thread
count per op comes from the configuration and is set before TensorFlow's first op.

A worker process keeps, per configuration, the model and its traced and XLA-compiled
training program (``train`` caches them on the model), and starts each further seed
from freshly initialized weights: the program is compiled once per configuration and
worker, not once per run. A later run computes exactly what a fresh process would
(tests/test_studies.py checks it). Models whose steps are not XLA-compiled (those with
dropout, input noise or augmentation layers) are built anew for every run: reusing their graph did
not reproduce a fresh run's numbers, and compiling a plain graph costs little.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time

import numpy as np

from snippets.studies.configs import RunConfig


class RunSetupError(RuntimeError):
    """A run that cannot start here as its configuration asks (e.g. TensorFlow already runs
    with another thread count)."""


def use_threads(threads: int) -> None:
    """Fix TensorFlow's thread pools for the runs of this process: ``threads`` per op, one op at a time.

    TensorFlow fixes its pools at its first op; after that only the same count is accepted.
    """
    from snippets import training

    if training.set_thread_pools(intra_op=threads, inter_op=1):
        return
    import tensorflow as tf

    current = tf.config.threading.get_intra_op_parallelism_threads()
    if current != threads:
        raise RunSetupError(
            f"this process's TensorFlow already runs with {current or 'its default number of'} threads per op, "
            f"but the run asks for {threads}; run studies from `python -m snippets study` "
            "(or call use_threads before any TensorFlow work)"
        )


def prepare_data(config: RunConfig):
    """The notebook's split as float32 images, optionally a smaller training set with some
    labels made wrong (always the same ones: the noise's seed is fixed)."""
    return _prepared_data(config.train_size, config.label_noise)


@functools.lru_cache(maxsize=4)
def _prepared_data(train_size: int | None, label_noise: float):
    # Made once per process: every run of a configuration trains on the same array objects,
    # which lets it reuse the configuration's compiled training program.
    from snippets.data import corrupt_labels, notebook_subsets

    (x_train, y_train), validation, test = notebook_subsets(train_size)
    if label_noise:
        y_train = corrupt_labels(y_train, label_noise, seed=0)
    return (x_train, y_train), validation, test


def wrong_labels(config: RunConfig):
    """The training images that were given a wrong label, and those wrong labels: a model that
    predicts them has memorized them. None when the configuration has no label noise."""
    return _wrong_labels(config.train_size, config.label_noise) if config.label_noise else None


@functools.lru_cache(maxsize=4)
def _wrong_labels(train_size: int | None, label_noise: float):
    # The same array objects for every run of a configuration: its evaluation program is reused.
    from snippets.data import notebook_subsets

    (x_train, y_clean), _, _ = notebook_subsets(train_size)
    (_, y_noisy), _, _ = _prepared_data(train_size, label_noise)
    wrong = y_noisy != y_clean
    return x_train[wrong], y_noisy[wrong]


def augmentation_layer(settings: dict, seed: int):
    import keras

    return keras.Sequential(
        [
            keras.layers.RandomTranslation(settings["translate"], settings["translate"], fill_mode="constant", seed=seed),
            keras.layers.RandomRotation(settings["rotate"], fill_mode="constant", seed=seed + 1),
        ],
        name="augmentation",
    )


def build_compiled_model(config: RunConfig, seed: int):
    """The configuration's model, initialized from ``seed``, compiled with SGD (keeping a moving
    average of the weights with ``weight_averaging``) and its loss (label smoothing or not)."""
    import keras

    from snippets.models import build_mlp
    from snippets.training import compile_like_notebook, seed_everything

    seed_everything(seed)
    augmentation = augmentation_layer(config.augmentation, seed) if config.augmentation else None
    model = build_mlp(augmentation=augmentation, seed=seed, **config.model)
    optimizer = None
    if config.weight_averaging is not None:
        optimizer = keras.optimizers.SGD(config.learning_rate, use_ema=True, ema_momentum=config.weight_averaging)
    return compile_like_notebook(model, learning_rate=config.learning_rate, optimizer=optimizer,
                                 label_smoothing=config.label_smoothing)


class _Reusable:
    """A configuration's model, whose compiled training program later runs reuse."""

    def __init__(self, model):
        self.model = model

    def start_from(self, fresh):
        """Make the kept model what ``fresh`` is: its weights, statistics, random-number states
        and its optimizer's new state (step count zero, moving averages of the weights included).
        The compiled program, which refers to these variables, stays."""
        kept, new = self.model.variables, fresh.variables
        if [v.shape for v in kept] != [v.shape for v in new]:
            raise RunSetupError("a configuration's model changed shape between runs")
        for variable, value in zip(kept, new):
            variable.assign(value)
        # The fresh optimizer, built as training builds it, holds exactly a new run's state.
        fresh.optimizer.build(fresh.trainable_variables)
        kept, new = self.model.optimizer.variables, fresh.optimizer.variables
        if [v.shape for v in kept] != [v.shape for v in new]:
            raise RunSetupError("a configuration's optimizer changed between runs")
        for variable, value in zip(kept, new):
            variable.assign(value)


_REUSABLE: dict[str, _Reusable] = {}


def _model_for(config: RunConfig, seed: int):
    """A model initialized as ``build_compiled_model(config, seed)``, reusing this process's
    compiled program for the configuration when there is one."""
    from snippets.training import compiles_with_xla

    fresh = build_compiled_model(config, seed)
    if not compiles_with_xla(fresh):
        return fresh
    identity = json.dumps(dataclasses.asdict(config), sort_keys=True)
    reusable = _REUSABLE.get(identity)
    if reusable is None:
        _REUSABLE[identity] = _Reusable(fresh)
        return fresh
    reusable.start_from(fresh)
    return reusable.model


def run_one(config: RunConfig, seed: int) -> dict:
    """Train one configuration with one seed; return its history, metrics and timing."""
    import keras

    from snippets.training import evaluate, train

    use_threads(config.threads)
    train_data, validation, test = prepare_data(config)
    model = _model_for(config, seed)
    callbacks = []
    if config.early_stopping_patience is not None:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.early_stopping_patience, restore_best_weights=True
        ))
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
        mixup_alpha=config.mixup_alpha,
    )
    final = {f"{split}_{metric}": value for split, data in (("train", train_data), ("val", validation), ("test", test))
             for metric, value in evaluate(model, data).items()}
    memorize = wrong_labels(config)
    if memorize is not None:  # the share of the wrong training labels the finished model reproduces
        final["wrong_labels_reproduced"] = evaluate(model, memorize)["accuracy"]
    return {
        "history": history,
        "final": final,
        "epochs_run": len(history["loss"]),
        "parameters": int(model.count_params()),
        "kernel_histogram": kernel_histogram(model),
        "wall_seconds": time.perf_counter() - start,
    }


#: The kernel histogram's fixed bin edges, the same for every run so that runs add up and compare.
KERNEL_HISTOGRAM_EDGES = np.linspace(-0.3, 0.3, 61)


def kernel_histogram(model) -> dict:
    """Counts of all Dense kernel values of ``model`` in bins of ``KERNEL_HISTOGRAM_EDGES``;
    values beyond the ends count in the end bins. What the penalties and constraints do to the weights."""
    import keras

    values = np.concatenate([layer.kernel.numpy().ravel() for layer in model.layers
                             if isinstance(layer, keras.layers.Dense)])
    edges = KERNEL_HISTOGRAM_EDGES
    counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def perform(config: RunConfig, seed: int) -> dict:
    """A run and where it ran: what an executor returns to the study for one (configuration, seed)."""
    from snippets.quiet_start import import_tensorflow
    from snippets.studies.results import code_fingerprint, cpu_model, library_versions

    # A worker's first import of TensorFlow; its Python warnings about functions traced
    # again (one model after another) are expected here.
    import_tensorflow().get_logger().setLevel("ERROR")
    outcome = run_one(config, seed)
    return {**outcome, "versions": library_versions(), "code": code_fingerprint(), "cpu": cpu_model()}
