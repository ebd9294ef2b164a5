"""The notebook's training recipe, seeded, deterministic and fast.

The math is the notebook's: SGD with Keras' default learning rate (0.01), batch
size 32, sparse categorical cross-entropy, a fresh shuffle of the training set in
every epoch. What changes is only how the batches reach the model: float32 arrays,
a tf.data pipeline that gathers each batch by index (no per-step copies from
Python), and ``steps_per_execution`` so that many steps run in one graph call.

Why not ``model.fit(x, y, shuffle=True)`` after ``keras.utils.set_random_seed``?
With Keras 3.15 on TensorFlow 2.21 that feeds the *same* permutation in every
epoch, which changes the results, not only their reproducibility. The pipeline
below reshuffles every epoch and the same seed gives the same sequence of orders.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

NOTEBOOK_LEARNING_RATE = 0.01  # keras.optimizers.SGD() default, which optimizer='SGD' uses
NOTEBOOK_BATCH_SIZE = 32
NOTEBOOK_EPOCHS = 15
#: Training steps per call from Python into the compiled graph (Keras' steps_per_execution).
STEPS_PER_EXECUTION = 256
#: TensorFlow's thread pools: one thread per op, one op at a time. A batch of 32 makes
#: every op tiny, and handing such ops between threads cost more than it saved in
#: benchmarks/train_speed.py; the spare core runs the input pipeline. The results do not
#: depend on it, only the speed.
INTRA_OP_THREADS = 1
INTER_OP_THREADS = 1
#: Batch size of validation and evaluation passes (inference mode: the results do not depend on it).
EVALUATION_BATCH_SIZE = 1024


def _set_thread_pools() -> bool:
    """Apply ``INTRA_OP_THREADS``/``INTER_OP_THREADS``; False if TensorFlow already runs here.

    TensorFlow fixes its thread pools when it runs its first op, so this works only
    when this module is imported before any TensorFlow computation; otherwise the
    process keeps TensorFlow's defaults (same results, slower).
    """
    try:
        tf.config.threading.set_intra_op_parallelism_threads(INTRA_OP_THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(INTER_OP_THREADS)
    except RuntimeError:
        return False
    return True


THREAD_POOLS_SET = _set_thread_pools()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's kernels deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def as_float_images(images: np.ndarray) -> np.ndarray:
    """uint8 images to float32 in [0, 1], rounded exactly as the notebook's ``X / 255``."""
    return (images / 255.0).astype(np.float32)


def shuffled_indices(n: int, seed: int) -> tf.data.Dataset:
    """Indices 0..n-1 in a new order on every pass; the same seed gives the same orders."""
    return tf.data.Dataset.range(n).shuffle(n, seed=seed, reshuffle_each_iteration=True)


def epoch_orders(n: int, seed: int, epochs: int) -> list[np.ndarray]:
    """Successive passes over the seeded index stream: a new order each pass, the same
    sequence of orders for the same seed. (``fit`` takes its epochs from this stream; as
    Keras may open more than one pass per epoch, epoch k need not be pass k.)"""
    indices = shuffled_indices(n, seed)
    return [np.fromiter(indices.as_numpy_iterator(), dtype=np.int64) for _ in range(epochs)]


def training_batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> tf.data.Dataset:
    """Batches of ``(x, y)``: one pass over the data, in a fresh, seeded order every pass.

    The dataset is finite on purpose: ``fit`` ends each epoch when a pass runs out, so an
    epoch is exactly ``ceil(n / batch_size)`` updates, the last batch smaller, as in the
    notebook, whatever ``steps_per_execution`` is.
    """
    features = tf.constant(x, dtype=tf.float32)
    labels = tf.constant(y)
    return (
        shuffled_indices(len(x), seed)
        .batch(batch_size)
        .map(lambda i: (tf.gather(features, i), tf.gather(labels, i)))
        .prefetch(tf.data.AUTOTUNE)
    )


def compile_like_notebook(
    model: keras.Model,
    learning_rate: float = NOTEBOOK_LEARNING_RATE,
    optimizer: keras.optimizers.Optimizer | None = None,
    steps_per_execution: int = STEPS_PER_EXECUTION,
) -> keras.Model:
    """``model.compile(loss='sparse_categorical_crossentropy', optimizer='SGD', metrics=['accuracy'])``."""
    model.compile(
        optimizer=optimizer or keras.optimizers.SGD(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


class EpochTimer(keras.callbacks.Callback):
    """Adds each epoch's wall-clock seconds to the logs as ``seconds``."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs["seconds"] = time.perf_counter() - self._start


class EvaluateEachEpoch(keras.callbacks.Callback):
    """Adds ``<prefix>_loss`` and ``<prefix>_accuracy`` on a held-out set to each epoch's logs."""

    def __init__(self, x, y, prefix: str = "test"):
        super().__init__()
        self.x, self.y, self.prefix = x, y, prefix

    def on_epoch_end(self, epoch, logs=None):
        loss, accuracy = self.model.evaluate(self.x, self.y, batch_size=EVALUATION_BATCH_SIZE, verbose=0)
        logs[f"{self.prefix}_loss"] = loss
        logs[f"{self.prefix}_accuracy"] = accuracy


def train(
    model: keras.Model,
    train_data: tuple[np.ndarray, np.ndarray],
    validation_data: tuple[np.ndarray, np.ndarray],
    *,
    seed: int,
    epochs: int = NOTEBOOK_EPOCHS,
    batch_size: int = NOTEBOOK_BATCH_SIZE,
    test_data: tuple[np.ndarray, np.ndarray] | None = None,
    callbacks: list[keras.callbacks.Callback] = (),
    verbose: int = 0,
) -> dict[str, list[float]]:
    """Fit a compiled model; return its per-epoch history.

    Images may be uint8 (scaled here like the notebook) or already float. The
    history holds Keras' ``loss``/``accuracy`` (running means over the epoch, as the
    notebook's progress bar shows them), ``val_loss``/``val_accuracy``, ``seconds``,
    and ``test_loss``/``test_accuracy`` when ``test_data`` is given.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be positive, got {epochs} and {batch_size}")
    x_train, y_train = _prepared(train_data)
    x_val, y_val = _prepared(validation_data)
    extra: list[keras.callbacks.Callback] = [EpochTimer()]
    if test_data is not None:
        extra.append(EvaluateEachEpoch(*_prepared(test_data), prefix="test"))
    history = model.fit(
        training_batches(x_train, y_train, batch_size, seed),
        validation_data=(x_val, y_val),
        validation_batch_size=EVALUATION_BATCH_SIZE,
        epochs=epochs,
        callbacks=[*extra, *callbacks],
        shuffle=False,  # the pipeline already reshuffles every epoch
        verbose=verbose,
    )
    return {name: [float(v) for v in values] for name, values in history.history.items()}


def evaluate(model: keras.Model, data: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    """Loss and accuracy in inference mode (dropout off, batch norm's moving statistics)."""
    x, y = _prepared(data)
    loss, accuracy = model.evaluate(x, y, batch_size=EVALUATION_BATCH_SIZE, verbose=0)
    return {"loss": float(loss), "accuracy": float(accuracy)}


def _prepared(data):
    x, y = data
    if x.dtype == np.uint8:
        x = as_float_images(x)
    return x.astype(np.float32, copy=False), np.asarray(y)
