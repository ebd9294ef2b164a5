"""Max-norm constraints: a projection after each update, not a penalty in the loss.

Demonstrations for the max-norm page, each seeded and small:

* :func:`project_columns`: ``keras.constraints.MaxNorm(c)`` rescales every column whose
  norm exceeds ``c`` to norm ``c`` and leaves the others as they are.
* :func:`constraint_adds_no_loss`: a constrained layer adds nothing to ``model.losses``
  and nothing to the loss value; an L2 penalty does.
* :func:`train_max_norm_mlp` / :func:`max_norm_table`: the notebook's MLP trained with
  ``fit``, with and without dropout and max-norm: the column norms and the accuracies.
* :func:`max_norm_over_seeds`: dropout with and without max-norm over several seeds, the
  held-out accuracies and their paired difference: one seed cannot tell its sign.
"""

from __future__ import annotations

# --8<-- [start:project_columns]
import keras
import numpy as np


def project_columns(c=1.0, seed=0):
    """Column norms of a random 20 x 6 matrix before and after MaxNorm(c) (axis=0)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(20, 6)).astype("float32") * np.array([0.05, 0.1, 0.2, 0.3, 0.4, 0.5], "float32")
    projected = keras.ops.convert_to_numpy(keras.constraints.MaxNorm(c, axis=0)(w))
    before, after = np.linalg.norm(w, axis=0), np.linalg.norm(projected, axis=0)
    same_direction = [bool(np.allclose(w[:, j] / before[j], projected[:, j] / after[j], atol=1e-6))
                      for j in range(w.shape[1])]
    return {"norm before": before, "norm after": after, "same direction": same_direction}
# --8<-- [end:project_columns]


# --8<-- [start:constraint_adds_no_loss]
import keras
import numpy as np


def constraint_adds_no_loss(c=3.0, l2=1e-3, seed=0):
    """The same layer three ways: plain, with MaxNorm(c), with an L2 penalty.

    Returns, for each, how many terms it adds to ``model.losses`` and its loss on one
    batch (same weights, same batch).
    """
    rng = np.random.default_rng(seed)
    x = rng.random((8, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, size=8)
    options = {
        "plain": {},
        f"MaxNorm({c:g})": {"kernel_constraint": keras.constraints.MaxNorm(c)},
        f"L2({l2:g})": {"kernel_regularizer": keras.regularizers.L2(l2)},
    }
    rows = {}
    for name, arguments in options.items():
        keras.utils.set_random_seed(seed)  # the same initial weights for all three
        model = keras.Sequential([
            keras.Input(shape=(28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax", **arguments),
        ])
        model.compile(loss="sparse_categorical_crossentropy")
        rows[name] = {"terms in model.losses": len(model.losses),
                      "loss on the batch": float(model.evaluate(x, y, verbose=0))}
    return rows
# --8<-- [end:constraint_adds_no_loss]


# --8<-- [start:train_max_norm_mlp]
from functools import lru_cache

import keras
import tensorflow as tf

from snippets.data import notebook_subsets
from snippets.demo_cache import demo_cache
from snippets.pipeline import shuffled_batches

N_TRAIN = 2000  # the first 2,000 images of the training split
N_VALIDATION = 2000  # the first 2,000 validation images: the held-out images of this page
EPOCHS = 10
BATCH_SIZE = 32
LEARNING_RATE = 0.05
MOMENTUM = 0.9  # SGD with momentum, as Srivastava et al. trained with max-norm
MAX_NORM = 2.0  # c, for the incoming weights of every hidden unit


def max_norm_mlp(dropout=0.0, max_norm=None, seed=0):
    """The notebook's 784-300-100-10 MLP; optionally Dropout(dropout) after each hidden
    layer and MaxNorm(max_norm) on each hidden layer's kernel (per unit: axis=0)."""
    constraint = keras.constraints.MaxNorm(max_norm, axis=0) if max_norm else None
    return keras.Sequential([
        keras.Input(shape=(28, 28)),
        keras.layers.Flatten(),
        keras.layers.Dense(300, activation="relu", kernel_constraint=constraint),
        keras.layers.Dropout(dropout, seed=seed),
        keras.layers.Dense(100, activation="relu", kernel_constraint=constraint),
        keras.layers.Dropout(dropout, seed=seed + 1),
        keras.layers.Dense(10, activation="softmax"),
    ])


@lru_cache(maxsize=None)  # the page and the tests share one training per setting and seed
@demo_cache  # ... and share it across processes when $HANDBOOK_DEMO_CACHE names a folder
def train_max_norm_mlp(dropout=0.0, max_norm=None, seed=0):
    """Train ``max_norm_mlp``; return its weights, accuracies and the loss terms it had."""
    (x_train, y_train), (x_val, y_val), _ = notebook_subsets(N_TRAIN, N_VALIDATION)
    keras.utils.set_random_seed(seed)  # same initial weights for every setting
    tf.config.experimental.enable_op_determinism()
    model = max_norm_mlp(dropout, max_norm, seed)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE, momentum=MOMENTUM),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=32,  # 32 SGD steps per call from Python: faster, same math
        jit_compile=False,  # XLA with dropout's random masks is slow on CPU
    )
    model.fit(
        shuffled_batches(x_train, y_train, seed, BATCH_SIZE),
        epochs=EPOCHS,
        shuffle=False,  # the pipeline shuffles
        verbose=0,
    )
    return {
        "kernels": [layer.kernel.numpy() for layer in model.layers if isinstance(layer, keras.layers.Dense)],
        "training accuracy": model.evaluate(x_train, y_train, batch_size=500, verbose=0)[1],
        "held-out accuracy": model.evaluate(x_val, y_val, batch_size=500, verbose=0)[1],
        "terms in model.losses": len(model.losses),
    }
# --8<-- [end:train_max_norm_mlp]


# --8<-- [start:max_norm_table]
import numpy as np
import pandas as pd

from snippets.max_norm import MAX_NORM, train_max_norm_mlp

SETTINGS = {  # name: (dropout rate, max-norm c)
    "plain": (0.0, None),
    "max-norm": (0.0, MAX_NORM),
    "dropout": (0.5, None),
    "dropout + max-norm": (0.5, MAX_NORM),
}


def column_norms(kernel):
    """The norm of each unit's incoming weights: one per column of a Dense kernel."""
    return np.linalg.norm(kernel, axis=0)


def max_norm_table(seed=0):
    """Per setting: the largest column norm of each hidden layer, and the accuracies."""
    rows = {}
    for name, (dropout, max_norm) in SETTINGS.items():
        run = train_max_norm_mlp(dropout, max_norm, seed)
        first, second, _ = run["kernels"]
        rows[name] = {
            "largest norm, layer 1": column_norms(first).max(),
            "largest norm, layer 2": column_norms(second).max(),
            "units with norm >= c, layer 1": int((column_norms(first) >= 0.999 * MAX_NORM).sum()),
            "training accuracy": run["training accuracy"],
            "held-out accuracy": run["held-out accuracy"],
            "terms in model.losses": run["terms in model.losses"],
        }
    counts = ["units with norm >= c, layer 1", "terms in model.losses"]
    return pd.DataFrame(rows).T.astype({name: int for name in counts})
# --8<-- [end:max_norm_table]


# --8<-- [start:max_norm_over_seeds]
import pandas as pd

from snippets.max_norm import MAX_NORM, train_max_norm_mlp

SEEDS = (0, 1, 2, 3, 4)


def max_norm_over_seeds(seeds=SEEDS):
    """Held-out accuracy of dropout 0.5 with and without max-norm, per seed, and
    their difference in percentage points (same seed: same initial weights, same
    order of the examples, so the difference is paired)."""
    rows = {}
    for seed in seeds:
        alone = train_max_norm_mlp(0.5, None, seed)["held-out accuracy"]
        both = train_max_norm_mlp(0.5, MAX_NORM, seed)["held-out accuracy"]
        rows[seed] = {"dropout": alone, "dropout + max-norm": both,
                      "difference (points)": 100 * (both - alone)}
    return pd.DataFrame(rows).T.rename_axis("seed")
# --8<-- [end:max_norm_over_seeds]


# --8<-- [start:plot_column_norms]
import numpy as np

from snippets.max_norm import MAX_NORM, SETTINGS, column_norms, train_max_norm_mlp
from snippets.plotting import COLORS, Figure


def plot_column_norms(seed=0):
    """Histograms of the first hidden layer's column norms, one panel per setting."""
    fig = Figure(figsize=(9, 5))
    axes = fig.subplots(2, 2, sharex=True, sharey=True).ravel()
    bins = np.linspace(0, max(column_norms(train_max_norm_mlp(*s, seed)["kernels"][0]).max()
                              for s in SETTINGS.values()) * 1.05, 40)
    for ax, (name, setting), color in zip(axes, SETTINGS.items(), COLORS):
        norms = column_norms(train_max_norm_mlp(*setting, seed)["kernels"][0])
        ax.hist(norms, bins=bins, color=color)
        ax.axvline(MAX_NORM, color="black", linestyle="--", linewidth=1, label=f"c = {MAX_NORM:g}")
        ax.set_title(name)
    for ax in axes[2:]:
        ax.set_xlabel("norm of a unit's incoming weights (layer 1)")
    for ax in axes[::2]:
        ax.set_ylabel("units")
    axes[0].legend()
    return fig
# --8<-- [end:plot_column_norms]
