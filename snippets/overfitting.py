"""Data augmentation and more data: regularizing by changing what the model sees.

Demonstrations for the overfitting chapter, seeded and small enough to run in
seconds on a laptop CPU. Every model is a plain ``keras.Sequential`` trained with
``model.fit``:

* :func:`label_preserving_augmentation` / :func:`plot_augmentations`: small random
  rotations, shifts and zooms of MNIST digits (Keras preprocessing layers) keep the
  digit; a horizontal flip turns a 2, 3, 4, 5 or 7 into a shape that is no digit.
* :func:`augmentation_study`: the notebook's MLP on 500 training images, without
  augmentation, with label-preserving augmentation, and with horizontal flips.
* :func:`learning_curve` / :func:`plot_learning_curve`: validation accuracy and the
  train-validation gap as the training set grows.
"""

from __future__ import annotations

# --8<-- [start:augmentation]
import keras

ROTATION = 0.04  # RandomRotation's factor is a fraction of a full turn (2π)
SHIFT = 0.1  # RandomTranslation's factor is a fraction of the image's height and width
ZOOM = 0.1  # up to 10% larger or smaller


def label_preserving_augmentation(seed=0):
    """Random small rotations, shifts and zooms of 28x28x1 images.

    Each is a transformation after which a person still reads the same digit.
    Empty borders are filled with 0 (black background), not by mirroring pixels
    (Keras' default ``fill_mode="reflect"``). Like every Keras preprocessing layer,
    these act only in training; at inference they pass images through unchanged.
    """
    return keras.Sequential([
        keras.layers.RandomRotation(ROTATION, fill_mode="constant", seed=seed),
        keras.layers.RandomTranslation(SHIFT, SHIFT, fill_mode="constant", seed=seed + 1),
        keras.layers.RandomZoom(ZOOM, fill_mode="constant", seed=seed + 2),
    ], name="label_preserving")


def horizontal_flip(seed=0):
    """Mirror each image left-right with probability 1/2: NOT label-preserving for digits."""
    return keras.Sequential([keras.layers.RandomFlip("horizontal", seed=seed)], name="flip")
# --8<-- [end:augmentation]


# --8<-- [start:train_small]
import keras
import tensorflow as tf

from snippets.data import notebook_subsets
from snippets.pipeline import shuffled_batches

N_TRAIN = 500  # the small-data problem: the first 500 images of the training split
EPOCHS = 40
LEARNING_RATE = 0.1  # larger than the notebook's 0.01, so that 40 epochs fit 500 images
BATCH_SIZE = 32


def mlp(augmentation=None):
    """The notebook's 784-300-100-10 MLP, with optional augmentation layers in front."""
    front = [keras.layers.Reshape((28, 28, 1)), augmentation] if augmentation is not None else []
    return keras.Sequential([
        keras.Input(shape=(28, 28)),
        *front,  # image layers want a channel axis; active in training only
        keras.layers.Flatten(),
        keras.layers.Dense(300, activation="relu"),
        keras.layers.Dense(100, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


def train_small(augmentation=None, *, n_train=N_TRAIN, epochs=EPOCHS, learning_rate=LEARNING_RATE, seed=0):
    """Train the MLP on the first ``n_train`` training images, optionally augmented.

    Training accuracy is measured afterwards in inference mode on the original,
    un-augmented images, so that it is comparable with validation accuracy.
    """
    (x_train, y_train), (x_val, y_val), _ = notebook_subsets(train_size=n_train)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = mlp(augmentation)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=32,  # 32 SGD steps per call from Python: faster, same math
    )
    # shuffle=False: the pipeline shuffles (fit would warn that it ignores its own shuffle)
    model.fit(shuffled_batches(x_train, y_train, seed, BATCH_SIZE), epochs=epochs, shuffle=False, verbose=0)
    _, train_accuracy = model.evaluate(x_train, y_train, verbose=0)
    _, val_accuracy = model.evaluate(x_val, y_val, verbose=0)
    return {"epochs": epochs, "SGD steps": int(model.optimizer.iterations),
            "train accuracy": train_accuracy, "validation accuracy": val_accuracy,
            "gap": train_accuracy - val_accuracy}
# --8<-- [end:train_small]


# --8<-- [start:augmentation_study]
from functools import lru_cache

import pandas as pd

from snippets.demo_cache import demo_cache
from snippets.overfitting import horizontal_flip, label_preserving_augmentation, train_small


@lru_cache(maxsize=4)  # the page's table and the tests share one run per seed; treat as read-only
@demo_cache  # ... and share it across processes when $HANDBOOK_DEMO_CACHE names a folder
def augmentation_study(seed=0):
    """The same model, data, seed and schedule, with three choices of augmentation."""
    choices = {
        "none": None,
        "rotate/shift/zoom": label_preserving_augmentation(seed),
        "horizontal flip": horizontal_flip(seed),
    }
    rows = {name: train_small(augmentation, seed=seed) for name, augmentation in choices.items()}
    return pd.DataFrame.from_dict(rows, orient="index").round(4)
# --8<-- [end:augmentation_study]


# --8<-- [start:learning_curve]
import math
from functools import lru_cache

import pandas as pd

from snippets.demo_cache import demo_cache
from snippets.overfitting import BATCH_SIZE, train_small


@lru_cache(maxsize=4)  # the page's table, its figure and the tests share one run; treat as read-only
@demo_cache  # ... and share it across processes when $HANDBOOK_DEMO_CACHE names a folder
def learning_curve(sizes=(250, 500, 1000, 2000, 4000), steps=320, seed=0):
    """Train and validation accuracy against the number of training images.

    The number of epochs falls as the set grows, so that every size gets about
    ``steps`` SGD steps: a larger training set does not also mean more training.
    """
    rows = []
    for n in sizes:
        batches_per_epoch = math.ceil(n / BATCH_SIZE)
        epochs = max(1, round(steps / batches_per_epoch))
        rows.append({"training images": n, **train_small(n_train=n, epochs=epochs, seed=seed)})
    return pd.DataFrame(rows).set_index("training images").round(4)
# --8<-- [end:learning_curve]


# --8<-- [start:plot_learning_curve]
from snippets.plotting import Figure


def plot_learning_curve(curve):
    """Train and validation accuracy against training-set size (log x axis)."""
    fig = Figure(figsize=(6, 3.6))
    ax = fig.subplots()
    ax.plot(curve.index, curve["train accuracy"], "o-", label="training (inference mode)")
    ax.plot(curve.index, curve["validation accuracy"], "o-", label="validation")
    ax.fill_between(curve.index, curve["validation accuracy"], curve["train accuracy"], alpha=0.15,
                    label="generalization gap")
    ax.set_xscale("log")
    ax.set_xticks(curve.index, [str(n) for n in curve.index])
    ax.set_xlabel("training images")
    ax.set_ylabel("accuracy")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
# --8<-- [end:plot_learning_curve]


# --8<-- [start:plot_augmentations]
import numpy as np

from snippets.data import notebook_subsets
from snippets.overfitting import label_preserving_augmentation
from snippets.plotting import Figure


def example_digits(digits=(2, 3, 4, 5, 7)):
    """The first validation image of each digit in ``digits``, shape (len(digits), 28, 28)."""
    _, (x_val, y_val), _ = notebook_subsets()
    return np.stack([x_val[np.flatnonzero(y_val == d)[0]] for d in digits])


def augmented_versions(images, n_versions=5, seed=0):
    """``n_versions`` random label-preserving augmentations of each image: (n_versions, n_images, 28, 28)."""
    augment = label_preserving_augmentation(seed)
    batch = images[..., None]  # the layers expect a channel axis
    return np.stack([np.asarray(augment(batch, training=True))[..., 0] for _ in range(n_versions)])


def plot_augmentations(digits=(2, 3, 4, 5, 7), n_versions=5, seed=0):
    """One row per digit: the original, random label-preserving versions, and its mirror image."""
    originals = example_digits(digits)
    versions = augmented_versions(originals, n_versions, seed)
    flipped = originals[:, :, ::-1]  # a deterministic left-right mirror
    columns = [("original", originals), *((f"augmented {i + 1}", v) for i, v in enumerate(versions)),
               ("flipped", flipped)]
    fig = Figure(figsize=(1.3 * len(columns), 1.35 * len(digits)))
    axes = fig.subplots(len(digits), len(columns), squeeze=False)
    for col, (title, images) in enumerate(columns):
        for row in range(len(digits)):
            ax = axes[row, col]
            ax.imshow(images[row], cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=9, color="tab:red" if title == "flipped" else "black")
    fig.tight_layout()
    return fig
# --8<-- [end:plot_augmentations]
