"""Does batch normalization regularize? The same MLP with and without it, trained with ``fit``.

The batch-normalization chapter's last demonstration: the notebook's 784-300-100-10 MLP
and its optimizer (plain SGD, learning rate 0.01, batches of 32) on a small subset of
MNIST, once plain and once with ``BatchNormalization`` after each hidden layer, for a
few seeds. Training accuracy (inference mode, ``model.evaluate``), validation accuracy
and their gap are measured for each run; the learning curves come from ``fit``'s history.
"""

from __future__ import annotations

from functools import lru_cache

from snippets.demo_cache import demo_cache

# --8<-- [start:mlp]
import keras


def mlp(batch_norm):
    """The notebook's MLP; with ``batch_norm``, BatchNormalization after each hidden layer."""
    layers = [keras.Input(shape=(28, 28)), keras.layers.Flatten()]
    for units in (300, 100):
        layers.append(keras.layers.Dense(units, activation="relu"))
        if batch_norm:
            layers.append(keras.layers.BatchNormalization())
    layers.append(keras.layers.Dense(10, activation="softmax"))
    return keras.Sequential(layers)
# --8<-- [end:mlp]


# --8<-- [start:train_both]
import keras

from snippets.data import notebook_subsets
from snippets.pipeline import shuffled_batches

TRAIN_SIZE = 1_000  # the first 1,000 images of the notebook's training split
VALIDATION_SIZE = 2_000  # the first 2,000 of its validation images
EPOCHS = 20
SEEDS = (0, 1, 2)


def train_one(batch_norm, seed, train_size=TRAIN_SIZE, validation_size=VALIDATION_SIZE, epochs=EPOCHS):
    """Train one MLP with fit; its accuracies after training and its per-epoch history."""
    (x_train, y_train), (x_val, y_val), _ = notebook_subsets(train_size, validation_size)
    keras.utils.set_random_seed(seed)  # the initial weights
    model = mlp(batch_norm)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01),  # the notebook's "SGD"
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=32)  # one call per epoch of 32 batches: faster, same math
    history = model.fit(shuffled_batches(x_train, y_train, seed), validation_data=(x_val, y_val),
                        epochs=epochs, shuffle=False, verbose=0)
    # evaluate runs in inference mode: batch norm uses its moving statistics here
    train_accuracy = model.evaluate(x_train, y_train, verbose=0)[1]
    validation_accuracy = model.evaluate(x_val, y_val, verbose=0)[1]
    return dict(train=train_accuracy, validation=validation_accuracy,
                gap=train_accuracy - validation_accuracy,
                history_train=history.history["accuracy"],  # training mode, averaged over each epoch
                history_validation=history.history["val_accuracy"])


def with_and_without(seeds=SEEDS):
    """Every seed, plain and with batch norm: {"plain": [run, ...], "batch norm": [...]}."""
    return {name: [train_one(batch_norm, seed) for seed in seeds]
            for name, batch_norm in (("plain", False), ("batch norm", True))}
# --8<-- [end:train_both]


@lru_cache(maxsize=1)
def cached_runs():
    """:func:`with_and_without`, trained once per process and once per demo cache."""
    return _runs()


@demo_cache
def _runs():
    return with_and_without()


# --8<-- [start:summary]
import numpy as np


def summary(runs, early_epoch=3):
    """Mean ± sd over the seeds of each model's accuracies, as a text table (in %).

    The sd is the sample standard deviation (ddof=1), as in the studies. The last
    column is fit's training accuracy in epoch ``early_epoch`` (training mode).
    """
    columns = {"training": "train", "validation": "validation", "gap": "gap"}
    lines = [f"{'':<12}" + "".join(f"{title:>16}" for title in columns)
             + f"{'history, epoch ' + str(early_epoch):>22}"]
    for name, model_runs in runs.items():
        cells = []
        for key in columns.values():
            values = 100 * np.array([run[key] for run in model_runs])
            cells.append(f"{values.mean():>9.1f} ± {values.std(ddof=1):.1f}")
        early = 100 * np.array([run["history_train"][early_epoch - 1] for run in model_runs])
        lines.append(f"{name:<12}" + "".join(f"{cell:>16}" for cell in cells)
                     + f"{early.mean():>15.1f} ± {early.std(ddof=1):.1f}")
    mean = {name: {key: 100 * np.mean([run[key] for run in model_runs]) for key in columns.values()}
            for name, model_runs in runs.items()}
    lines.append("batch norm minus plain, in points: " + ", ".join(
        f"{title} {mean['batch norm'][key] - mean['plain'][key]:+.1f}" for title, key in columns.items()))
    return "\n".join(lines)
# --8<-- [end:summary]


# --8<-- [start:figure]
from matplotlib.ticker import MaxNLocator

from snippets.plotting import COLORS, Figure, mean_sd_band


def curves_figure(runs):
    """Training and validation accuracy per epoch, mean ± sd over the seeds, both models."""
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    for color, (name, model_runs) in zip(COLORS, runs.items()):
        mean_sd_band(ax, [run["history_train"] for run in model_runs],
                     color=color, label=f"{name}: training (training mode)")
        mean_sd_band(ax, [run["history_validation"] for run in model_runs],
                     color=color, linestyle="--", label=f"{name}: validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0.5, 1.005)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="lower right")
    return fig
# --8<-- [end:figure]
