"""Model capacity: width and depth of the MLP against train and test accuracy.

Demonstrations for the model-capacity page (docs/beyond/model-capacity.md). A small,
noisy MNIST subset (1,000 images, a fifth of them with a wrong label) is fitted by MLPs
of growing width and depth, each with a few seeds, in plain Keras:

* :func:`parameter_counts`: ``model.count_params()`` next to the formula.
* :func:`capacity_sweep`: train accuracy on the noisy labels, the share of wrong labels
  the model reproduces, and accuracy and loss on the clean test set, mean and spread
  over seeds, for every width and depth.
* :func:`plot_capacity_sweep`: the figure.
"""

from __future__ import annotations

# --8<-- [start:capacity_mlp]
import keras


def capacity_mlp(hidden):
    """An MLP with one Dense(units, relu) layer per entry of ``hidden``, e.g. (64, 64)."""
    return keras.Sequential(
        [keras.Input(shape=(28, 28)), keras.layers.Flatten()]
        + [keras.layers.Dense(units, activation="relu") for units in hidden]
        + [keras.layers.Dense(10, activation="softmax")]
    )


def formula_count(hidden):
    """(inputs + 1) * outputs for every Dense layer: weights plus biases."""
    sizes = [28 * 28, *hidden, 10]
    return sum((n_in + 1) * n_out for n_in, n_out in zip(sizes, sizes[1:]))
# --8<-- [end:capacity_mlp]


# --8<-- [start:settings]
WIDTHS = (4, 16, 64, 256, 1024)  # one hidden layer of each width
DEPTHS = (1, 2, 3)  # hidden layers of DEPTH_WIDTH units each
DEPTH_WIDTH = 64
SEEDS = (0, 1, 2)
N_TRAIN = 1000  # the first 1,000 training images
NOISE = 0.2  # a fifth of the training labels replaced by a wrong class
EPOCHS = 25
BATCH_SIZE = 32
LEARNING_RATE = 1e-3  # Adam


def sweep_configurations():
    """The width sweep and the depth sweep; (64,) belongs to both and is trained once."""
    widths = [(width,) for width in WIDTHS]
    depths = [(DEPTH_WIDTH,) * depth for depth in DEPTHS]
    return list(dict.fromkeys(widths + depths))
# --8<-- [end:settings]


# --8<-- [start:parameter_counts]
import pandas as pd


def parameter_counts():
    """Every configuration's parameters: Keras' count and the formula's."""
    rows = []
    for hidden in sweep_configurations():
        model = capacity_mlp(hidden)
        rows.append({"hidden layers": "-".join(map(str, hidden)),
                     "count_params()": model.count_params(),
                     "formula": formula_count(hidden)})
    return pd.DataFrame(rows).set_index("hidden layers")
# --8<-- [end:parameter_counts]


# --8<-- [start:train_capacity_mlp]
from functools import lru_cache

import keras
import numpy as np
import tensorflow as tf

from snippets.data import corrupt_labels, notebook_subsets
from snippets.demo_cache import demo_cache
from snippets.pipeline import shuffled_batches


@lru_cache(maxsize=32)  # the page and the tests share one training each; treat as read-only
@demo_cache  # ... and share it across processes when $HANDBOOK_DEMO_CACHE names a folder
def train_capacity_mlp(hidden, seed=0):
    """Train ``capacity_mlp(hidden)`` on the noisy subset; return its numbers."""
    (x_train, y_clean), _, (x_test, y_test) = notebook_subsets(N_TRAIN)
    y_noisy = corrupt_labels(y_clean, NOISE, seed=0)  # the same noisy labels for every model
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = capacity_mlp(hidden)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=32,  # 32 steps per call from Python: faster, same math
    )
    history = model.fit(
        shuffled_batches(x_train, y_noisy, seed, BATCH_SIZE),
        epochs=EPOCHS,
        shuffle=False,  # the pipeline shuffles
        verbose=0,
    )
    predicted = model.predict(x_train, batch_size=N_TRAIN, verbose=0).argmax(axis=1)
    wrong = y_noisy != y_clean  # the corrupted examples
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=2000, verbose=0)
    return {
        "parameters": model.count_params(),
        "train accuracy (noisy labels)": float((predicted == y_noisy).mean()),
        "wrong labels reproduced": float((predicted[wrong] == y_noisy[wrong]).mean()),
        "test accuracy": float(test_accuracy),
        "test loss": float(test_loss),
        "history": history.history,
    }
# --8<-- [end:train_capacity_mlp]


# --8<-- [start:capacity_sweep]
from functools import lru_cache

import pandas as pd

COLUMNS = ("train accuracy (noisy labels)", "wrong labels reproduced", "test accuracy", "test loss")


@lru_cache(maxsize=1)
def capacity_sweep():
    """Mean and standard deviation over SEEDS of every column, one row per configuration."""
    rows = []
    for hidden in sweep_configurations():
        runs = pd.DataFrame([train_capacity_mlp(hidden, seed) for seed in SEEDS])
        row = {"hidden layers": "-".join(map(str, hidden)), "depth": len(hidden),
               "width": hidden[0], "parameters": int(runs["parameters"].iloc[0])}
        for column in COLUMNS:
            row[column] = runs[column].mean()
            row[column + " sd"] = runs[column].std(ddof=1)
        rows.append(row)
    return pd.DataFrame(rows).set_index("hidden layers")


def width_sweep():
    table = capacity_sweep()
    return table[table["depth"] == 1]


def depth_sweep():
    table = capacity_sweep()
    return table[table["width"] == DEPTH_WIDTH]


def show(table):
    """The table as the page prints it: mean ± sd, accuracies in percent."""
    shown = pd.DataFrame({"parameters": table["parameters"].map("{:,}".format)}, index=table.index)
    for column in COLUMNS:
        scale, digits = (1, 3) if column == "test loss" else (100, 1)
        shown[column] = [f"{m * scale:.{digits}f} ± {s * scale:.{digits}f}"
                         for m, s in zip(table[column], table[column + " sd"])]
    return shown
# --8<-- [end:capacity_sweep]


# --8<-- [start:plot_capacity_sweep]
from snippets.plotting import COLORS, Figure


def plot_capacity_sweep(widths, depths):
    """Train and test accuracy (mean ± sd over seeds) against the parameter count."""
    fig = Figure(figsize=(9, 3.6))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, table, title in ((axes[0], widths, "width: one hidden layer"),
                             (axes[1], depths, f"depth: layers of {DEPTH_WIDTH} units")):
        for column, color, label in (("train accuracy (noisy labels)", COLORS[0], "train (noisy labels)"),
                                     ("test accuracy", COLORS[1], "test (clean labels)")):
            ax.errorbar(table["parameters"], 100 * table[column], yerr=100 * table[column + " sd"],
                        color=color, marker="o", capsize=3, label=label)
        for parameters, name in zip(table["parameters"], table.index):
            ax.annotate(name, (parameters, 100 * table["test accuracy"][name]), textcoords="offset points",
                        xytext=(0, -14), ha="center", fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("parameters")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (%)")
    axes[0].legend(loc="lower right")
    return fig
# --8<-- [end:plot_capacity_sweep]
