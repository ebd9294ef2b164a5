"""Normalization beyond batch norm: layer and group normalization, and batch norm at tiny batches.

Demonstrations for docs/beyond/normalization.md, each seeded and small:

* :func:`what_each_normalizes`: one batch of feature maps through BatchNormalization,
  LayerNormalization and GroupNormalization; the groups of values each layer brings to
  mean 0 and standard deviation 1.
* :func:`small_batches`: the same MLP with batch norm or layer norm trained with fit
  at batch sizes 2, 4 and 8; validation accuracy with the batch's statistics against
  the moving statistics, and the moving variance against the variance it estimates.
"""

from __future__ import annotations

# --8<-- [start:what_each_normalizes]
import keras
import numpy as np
import pandas as pd

SHAPE = (4, 5, 5, 6)  # a batch of N = 4 feature maps, 5 x 5 positions, C = 6 channels


def groups(output, normalizer):
    """The values that share one mean and one variance, one row per group."""
    n, h, w, c = output.shape
    if normalizer == "batch":  # per channel, over the batch and all positions
        return output.transpose(3, 0, 1, 2).reshape(c, -1)
    if normalizer == "layer":  # per example, over all positions and channels
        return output.reshape(n, -1)
    if normalizer == "layer, last axis":  # per example and position, over the channels
        return output.reshape(n * h * w, c)
    if normalizer.startswith("group"):  # per example and group of channels
        g = int(normalizer.split()[1])
        return output.reshape(n, h, w, g, c // g).transpose(0, 3, 1, 2, 4).reshape(n * g, -1)
    raise ValueError(normalizer)


def what_each_normalizes(seed=0):
    """Feature maps whose channels have different means and scales, through each layer."""
    rng = np.random.default_rng(seed)
    x = (rng.normal(2.0, 1.0, SHAPE) * np.arange(1, SHAPE[-1] + 1)).astype("float32")
    layers = {
        "batch": keras.layers.BatchNormalization(),
        "layer": keras.layers.LayerNormalization(axis=(1, 2, 3)),  # every unit of the layer
        "layer, last axis": keras.layers.LayerNormalization(),  # Keras' default, axis=-1
        "group 2": keras.layers.GroupNormalization(groups=2),
        "group 6": keras.layers.GroupNormalization(groups=6),  # one channel per group
    }
    rows = {}
    for name, layer in layers.items():
        out = keras.ops.convert_to_numpy(layer(x, training=True))  # batch norm: batch statistics
        rows[f"{type(layer).__name__} ({name})"] = {
            "groups": groups(out, name).shape[0],
            "values per group": groups(out, name).shape[1],
            "largest |mean|": float(np.abs(groups(out, name).mean(axis=1)).max()),
            "sd from": float(groups(out, name).std(axis=1).min()),
            "sd to": float(groups(out, name).std(axis=1).max()),
        }
    return pd.DataFrame.from_dict(rows, orient="index")
# --8<-- [end:what_each_normalizes]


# --8<-- [start:plot_groups]
import numpy as np
from matplotlib import colormaps
from matplotlib.colors import ListedColormap

from snippets.normalization import SHAPE, groups
from snippets.plotting import Figure

PANELS = ("batch", "layer", "group 2", "group 6")


def group_map(normalizer, shape=SHAPE):
    """Which group every value of an (N, H, W, C) tensor falls in, at one position: (N, C).
    The values are their own indices, so groups() says where each one went."""
    index = np.arange(np.prod(shape)).reshape(shape)
    label = np.empty(index.size, dtype=int)
    for number, members in enumerate(groups(index, normalizer)):
        label[members] = number
    return label.reshape(shape)[:, 0, 0, :]  # every position is grouped like this one


TITLES = {"batch": "batch norm", "layer": "layer norm", "group 2": "group norm, 2 groups",
          "group 6": "group norm, 6 groups"}


def plot_groups(panels=PANELS):
    """One panel per layer: examples down, channels across, one colour per group."""
    colours = ListedColormap(colormaps["tab20"].colors + colormaps["tab20b"].colors)  # 40 colours
    fig = Figure(figsize=(2.6 * len(panels), 2.6))
    axes = fig.subplots(1, len(panels))
    for ax, name in zip(axes, panels):
        grid = group_map(name)
        ax.imshow(grid, cmap=colours, vmin=0, vmax=colours.N - 1)
        ax.set_title(f"{TITLES[name]}\n{len(np.unique(grid))} groups", fontsize=9)
        ax.set_xlabel("channel")
        ax.set_xticks(range(grid.shape[1]))
        ax.set_yticks(range(grid.shape[0]))
    axes[0].set_ylabel("example in the batch")
    fig.tight_layout()
    return fig
# --8<-- [end:plot_groups]


# --8<-- [start:train_normalized_mlp]
from functools import lru_cache

import keras
import tensorflow as tf

from snippets.data import notebook_subsets
from snippets.demo_cache import demo_cache
from snippets.pipeline import shuffled_batches

N_TRAIN = 1000  # the first 1,000 training images
N_VALIDATION = 1000  # the first 1,000 validation images
STEPS = 1000  # SGD steps at every batch size: 2 passes over the images at m = 2, 8 at m = 8
LEARNING_RATE = 0.01  # plain SGD, the same at every batch size
BATCH_SIZES = (2, 4, 8)


def normalized_mlp(normalizer):
    """784-100-10 with batch norm or layer norm between the hidden layer and its ReLU."""
    norm = keras.layers.BatchNormalization() if normalizer == "batch" else keras.layers.LayerNormalization()
    return keras.Sequential([
        keras.Input(shape=(28, 28)),
        keras.layers.Flatten(),
        keras.layers.Dense(100),
        norm,
        keras.layers.Activation("relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


@lru_cache(maxsize=8)  # the page and the tests share one training each; treat as read-only
@demo_cache  # ... and share it across processes when $HANDBOOK_DEMO_CACHE names a folder
def train_normalized_mlp(normalizer, batch_size, seed=0):
    """Train normalized_mlp(normalizer) with fit at this batch size; return its weights."""
    (x_train, y_train), _, _ = notebook_subsets(N_TRAIN, N_VALIDATION)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = normalized_mlp(normalizer)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        steps_per_execution=50,  # 50 steps per call from Python: small batches need it
    )
    batches = shuffled_batches(x_train, y_train, seed, batch_size).repeat()  # a new order each pass
    model.fit(batches, steps_per_epoch=STEPS, epochs=1,
              shuffle=False, verbose=0)  # shuffle=False: the pipeline shuffles
    return model.get_weights()
# --8<-- [end:train_normalized_mlp]


# --8<-- [start:small_batches]
from functools import lru_cache

import keras
import numpy as np
import pandas as pd

from snippets.data import notebook_subsets
from snippets.normalization import BATCH_SIZES, N_TRAIN, N_VALIDATION, normalized_mlp, train_normalized_mlp


def accuracy(model, x, y):
    """Validation accuracy in inference mode: batch norm uses its moving statistics."""
    return float(np.mean(model.predict(x, batch_size=500, verbose=0).argmax(1) == y))


def batch_mode_accuracy(model, x, y, batch_size):
    """Accuracy when every batch is normalized with its own statistics, as in training.
    Keras also updates the moving statistics in this mode: call it last."""
    correct = 0
    for start in range(0, len(x), batch_size):
        probs = model(x[start:start + batch_size], training=True)
        correct += int((keras.ops.convert_to_numpy(probs).argmax(1) == y[start:start + batch_size]).sum())
    return correct / len(x)


@lru_cache(maxsize=4)  # the page and the tests share one result; treat as read-only
def small_batches(seed=0):
    """Per normalizer and batch size m: validation accuracy with the moving statistics
    (inference mode) and with each batch's own; for batch norm, the median over units of
    moving variance / variance of the layer's input over the training images, and the
    inference-mode accuracy after multiplying the moving variance by m / (m - 1)."""
    (x_train, _), (x_val, y_val), _ = notebook_subsets(N_TRAIN, N_VALIDATION)
    rows = {}
    for normalizer in ("batch", "layer"):
        for m in BATCH_SIZES:
            weights = train_normalized_mlp(normalizer, m, seed)
            model = normalized_mlp(normalizer)
            model.set_weights(weights)
            row = {"inference mode": accuracy(model, x_val, y_val)}
            if normalizer == "batch":
                hidden = keras.Sequential(model.layers[:2])  # Flatten, Dense: the input of batch norm
                variance = keras.ops.convert_to_numpy(hidden(x_train)).var(axis=0)
                moving = weights[5]  # kernel, bias, gamma, beta, moving mean, moving variance, ...
                row["moving / true variance"] = float(np.median(moving / variance))
                model.set_weights(weights[:5] + [moving * m / (m - 1)] + weights[6:])
                row["inference, variance x m/(m-1)"] = accuracy(model, x_val, y_val)
                model.set_weights(weights)
            row["batch mode"] = batch_mode_accuracy(model, x_val, y_val, m)
            rows[(normalizer, m)] = row
    return pd.DataFrame.from_dict(rows, orient="index")
# --8<-- [end:small_batches]
