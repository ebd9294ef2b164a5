"""Reading Keras' numbers: what ``loss``, ``val_loss`` and fit's training metrics measure.

Demonstrations for docs/beyond/reading-keras-numbers.md, on a small, noisy MNIST subset
(1,000 images, a fifth of them with a wrong label), in plain Keras:

* :func:`penalty_side_by_side`: Keras' ``loss`` and ``val_loss`` include the penalties of
  the layers' regularizers (``model.losses``); an L2 model reports a higher loss than the
  plain model while its data loss and accuracy are as good or better.
* :func:`fit_versus_evaluate`: the training ``loss`` and ``accuracy`` that ``fit`` reports
  are averages over the epoch, with the weights changing and dropout on; evaluating the
  training set after the epoch gives other numbers.
"""

from __future__ import annotations

# --8<-- [start:settings]
N_TRAIN = 1000  # the first 1,000 training images
N_VALIDATION = 1000  # the first 1,000 validation images
NOISE = 0.2  # a fifth of the training labels replaced by a wrong class
HIDDEN = 256
EPOCHS = 30
BATCH_SIZE = 32
LEARNING_RATE = 1e-3  # Adam
L2_STRENGTH = 3e-3  # keras.regularizers.L2(l2) adds l2 * sum(w ** 2) per kernel
DROPOUT_RATE = 0.5
# --8<-- [end:settings]


# --8<-- [start:model]
import keras


def mlp(l2=0.0, rate=0.0, seed=0):
    """784-256-10 MLP; an L2 penalty on both kernels when ``l2`` > 0, Dropout(rate) after the
    hidden layer (Dropout(0.0) passes everything through)."""
    def penalty():
        return keras.regularizers.L2(l2) if l2 else None

    return keras.Sequential([
        keras.Input(shape=(28, 28)),
        keras.layers.Flatten(),
        keras.layers.Dense(HIDDEN, activation="relu", kernel_regularizer=penalty()),
        keras.layers.Dropout(rate, seed=seed),
        keras.layers.Dense(10, activation="softmax", kernel_regularizer=penalty()),
    ])
# --8<-- [end:model]


# --8<-- [start:end_of_epoch]
import keras


class EndOfEpochNumbers(keras.callbacks.Callback):
    """After every epoch, measure the training set again with the epoch's final weights:
    in inference mode (``evaluate``) and in training mode (dropout on), both with penalties."""

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y
        self.data_loss = keras.losses.SparseCategoricalCrossentropy()

    def on_epoch_end(self, epoch, logs=None):
        loss, accuracy, _ = self.model.evaluate(self.x, self.y, batch_size=len(self.x), verbose=0)
        logs["loss, evaluate after epoch"] = loss
        logs["accuracy, evaluate after epoch"] = accuracy
        probabilities = self.model(self.x, training=True)  # dropout on, weights fixed
        penalty = sum(float(p) for p in self.model.losses)
        logs["loss, training mode after epoch"] = float(self.data_loss(self.y, probabilities)) + penalty
# --8<-- [end:end_of_epoch]


# --8<-- [start:train]
from functools import lru_cache

import keras
import tensorflow as tf

from snippets.data import corrupt_labels, notebook_subsets
from snippets.demo_cache import demo_cache
from snippets.pipeline import shuffled_batches


def noisy_subset():
    """The 1,000 training images with a fifth of their labels corrupted; clean validation."""
    (x_train, y_train), (x_val, y_val), _ = notebook_subsets(N_TRAIN, N_VALIDATION)
    return (x_train, corrupt_labels(y_train, NOISE, seed=0)), (x_val, y_val)


def train(l2=0.0, rate=0.0, seed=0):
    """Train ``mlp(l2, rate)``; return its weights and its per-epoch history.

    train() and train(rate=0.0) are the same training: the arguments are passed on in
    one form, so that the cache below keeps one entry per model.
    """
    return train_once(float(l2), float(rate), int(seed))


@lru_cache(maxsize=8)  # the page and the tests share one training each; treat as read-only
@demo_cache  # ... and share it across processes when $HANDBOOK_DEMO_CACHE names a folder
def train_once(l2, rate, seed):
    (x_train, y_train), (x_val, y_val) = noisy_subset()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = mlp(l2, rate, seed)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        # A metric never includes the penalties: this one is the data loss alone.
        metrics=["accuracy", keras.metrics.SparseCategoricalCrossentropy(name="data_loss")],
        steps_per_execution=32,  # 32 steps per call from Python: faster, same math
    )
    history = model.fit(
        shuffled_batches(x_train, y_train, seed, BATCH_SIZE),
        epochs=EPOCHS,
        validation_data=(x_val, y_val),
        validation_batch_size=N_VALIDATION,
        callbacks=[EndOfEpochNumbers(x_train, y_train)],
        shuffle=False,  # the pipeline shuffles
        verbose=0,
    )
    return model.get_weights(), history.history
# --8<-- [end:train]


# --8<-- [start:penalty_side_by_side]
from functools import lru_cache

import keras
import numpy as np
import pandas as pd


def trained(l2=0.0, rate=0.0, seed=0):
    """A fresh ``mlp(l2, rate)`` with the weights ``train`` returned."""
    model = mlp(l2, rate, seed)
    model.set_weights(train(l2, rate, seed)[0])
    return model


@lru_cache(maxsize=1)
def penalty_side_by_side(seed=0):
    """The plain and the L2 model on the validation set: Keras' loss, its two parts, accuracy."""
    _, (x_val, y_val) = noisy_subset()
    rows = {}
    for name, l2 in (("plain", 0.0), (f"L2({L2_STRENGTH:g})", L2_STRENGTH)):
        model = trained(l2=l2, seed=seed)
        model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        reported, accuracy = model.evaluate(x_val, y_val, batch_size=N_VALIDATION, verbose=0)
        probabilities = model.predict(x_val, batch_size=N_VALIDATION, verbose=0)
        data_loss = float(keras.losses.SparseCategoricalCrossentropy()(y_val, probabilities))
        penalty = sum(float(p) for p in model.losses)  # one L2 term per regularized kernel
        rows[name] = {
            "evaluate: loss": reported,
            "data loss (by hand)": data_loss,
            "penalty sum(model.losses)": penalty,
            "loss - data loss - penalty": reported - data_loss - penalty,
            "accuracy": accuracy,
        }
    return pd.DataFrame(rows).T
# --8<-- [end:penalty_side_by_side]


# --8<-- [start:plot_penalty_curves]
from snippets.plotting import COLORS, Figure


def plot_penalty_curves(seed=0):
    """val_loss as Keras reports it and the validation data loss, per epoch, both models."""
    fig = Figure(figsize=(9, 3.6))
    axes = fig.subplots(1, 2, sharey=True)
    for (name, l2), color in zip((("plain", 0.0), (f"L2({L2_STRENGTH:g})", L2_STRENGTH)), COLORS):
        history = train(l2=l2, seed=seed)[1]
        epochs = range(1, len(history["val_loss"]) + 1)
        axes[0].plot(epochs, history["val_loss"], color=color, label=name)
        axes[1].plot(epochs, history["val_data_loss"], color=color, label=name)
    axes[0].set_title("val_loss (what Keras reports)")
    axes[1].set_title("val_data_loss (the metric)")
    axes[0].set_ylabel("validation loss")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend()
    return fig
# --8<-- [end:plot_penalty_curves]


# --8<-- [start:fit_versus_evaluate]
import pandas as pd

SHOWN_EPOCHS = (1, 2, 3, 10, 20, 30)


def fit_versus_evaluate(rate=0.0, seed=0, epochs=SHOWN_EPOCHS):
    """For a few epochs: fit's training numbers next to those measured after the epoch."""
    history = train(rate=rate, seed=seed)[1]
    columns = {
        "fit: loss": "loss",
        "training mode after": "loss, training mode after epoch",
        "evaluate after": "loss, evaluate after epoch",
        "fit: accuracy": "accuracy",
        "evaluate: accuracy": "accuracy, evaluate after epoch",
    }
    table = pd.DataFrame({shown: history[key] for shown, key in columns.items()})
    table.index = pd.RangeIndex(1, len(table) + 1, name="epoch")
    return table.loc[list(epochs)]
# --8<-- [end:fit_versus_evaluate]
