"""Data augmentation and more data: regularizing by changing what the model sees.

Demonstrations for the overfitting chapter, seeded and small enough to run in
seconds on a laptop CPU:

* :func:`label_preserving_augmentation` / :func:`plot_augmentations`: small random
  rotations, shifts and zooms of MNIST digits (Keras preprocessing layers) keep the
  digit; a horizontal flip turns a 2, 3, 4, 5 or 7 into a shape that is no digit.
* :func:`augmentation_study`: the notebook's MLP on 500 training images, without
  augmentation, with label-preserving augmentation, and with horizontal flips.
* :func:`learning_curve` / :func:`plot_learning_curve`: validation accuracy and the
  train-validation gap as the training set grows.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

#: The small-data problem of the chapter: training images, epochs, SGD step.
N_TRAIN = 500
EPOCHS = 40
#: Larger than the notebook's 0.01 so that 40 epochs on 500 images fit the data.
LEARNING_RATE = 0.1


# --8<-- [start:augmentation]
import keras


def label_preserving_augmentation(seed=0):
    """Random small rotations (up to about 14 degrees), shifts (up to 10% of the
    image, about 3 pixels) and zooms (up to 10%) of 28x28x1 images.

    Each is a transformation after which a person still reads the same digit.
    Empty borders are filled with 0 (black background), not by mirroring pixels
    (Keras' default ``fill_mode="reflect"``). Like every Keras preprocessing layer,
    these act only in training; at inference they pass images through unchanged.
    """
    return keras.Sequential([
        keras.layers.RandomRotation(0.04, fill_mode="constant", seed=seed),
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed + 1),
        keras.layers.RandomZoom(0.1, fill_mode="constant", seed=seed + 2),
    ], name="label_preserving")


def horizontal_flip(seed=0):
    """Mirror images left-right with probability 1/2: NOT label-preserving for digits."""
    return keras.Sequential([keras.layers.RandomFlip("horizontal", seed=seed)], name="flip")
# --8<-- [end:augmentation]


@lru_cache(maxsize=1)
def mnist_split():
    """The notebook's split as float32 images in [0, 1]: (x_train, y_train), (x_val, y_val)."""
    from snippets.data import load_mnist, notebook_split
    from snippets.data import as_float_images

    (x, y), _ = load_mnist()
    (x_train, y_train), (x_val, y_val) = notebook_split(x, y)
    return (as_float_images(x_train), y_train), (as_float_images(x_val), y_val)


def example_digits(digits=(2, 3, 4, 5, 7)) -> np.ndarray:
    """The first validation image of each digit in ``digits``, shape (len(digits), 28, 28)."""
    _, (x_val, y_val) = mnist_split()
    return np.stack([x_val[np.flatnonzero(y_val == d)[0]] for d in digits])


def augmented_versions(images: np.ndarray, n_versions: int = 5, seed: int = 0) -> np.ndarray:
    """``n_versions`` random label-preserving augmentations of each image.

    Returns shape (n_versions, n_images, 28, 28); the same seed gives the same images.
    """
    augment = label_preserving_augmentation(seed)
    batch = images[..., None]  # the layers expect a channel axis
    return np.stack([np.asarray(augment(batch, training=True))[..., 0] for _ in range(n_versions)])


def plot_augmentations(digits=(2, 3, 4, 5, 7), n_versions: int = 5, seed: int = 0):
    """One row per digit: the original, random label-preserving versions, and its mirror image."""
    import matplotlib.pyplot as plt

    originals = example_digits(digits)
    versions = augmented_versions(originals, n_versions, seed)
    flipped = originals[:, :, ::-1]  # a deterministic left-right mirror
    columns = [("original", originals), *((f"augmented {i + 1}", v) for i, v in enumerate(versions)),
               ("flipped", flipped)]
    fig, axes = plt.subplots(len(digits), len(columns), figsize=(1.3 * len(columns), 1.35 * len(digits)))
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


# --8<-- [start:train_small]
from snippets.models import build_mlp
from snippets.training import compile_like_notebook, evaluate, seed_everything, train


def train_small(augmentation=None, *, n_train=500, epochs=40, learning_rate=0.1, seed=0):
    """The notebook's MLP on the first ``n_train`` training images, optionally augmented.

    Training accuracy is measured afterwards in inference mode on the original,
    un-augmented images, so that it is comparable with validation accuracy.
    """
    (x_train, y_train), validation = mnist_split()
    train_data = (x_train[:n_train], y_train[:n_train])
    seed_everything(seed)
    model = build_mlp(augmentation=augmentation)
    compile_like_notebook(model, learning_rate=learning_rate)
    # train() checks a validation set after every epoch; a slice keeps that cheap,
    # and the accuracy reported below uses all 5,000 validation images.
    train(model, train_data, (validation[0][:500], validation[1][:500]), seed=seed, epochs=epochs)
    train_accuracy = evaluate(model, train_data)["accuracy"]
    val_accuracy = evaluate(model, validation)["accuracy"]
    return {"train accuracy": train_accuracy, "validation accuracy": val_accuracy,
            "gap": train_accuracy - val_accuracy}
# --8<-- [end:train_small]


# --8<-- [start:augmentation_study]
from functools import lru_cache

import pandas as pd

from snippets.overfitting import horizontal_flip, label_preserving_augmentation, train_small
from snippets.demo_cache import demo_cache


@lru_cache(maxsize=4)  # the page's table and the tests share one run per seed; treat as read-only
@demo_cache  # ... and share it across processes when $HANDBOOK_DEMO_CACHE names a folder
def augmentation_study(seed=0, n_train=500, epochs=40):
    """The same model, data, seed and schedule, with three choices of augmentation."""
    choices = {
        "none": None,
        "rotate/shift/zoom": label_preserving_augmentation(seed),
        "horizontal flip": horizontal_flip(seed),
    }
    rows = {name: train_small(aug, n_train=n_train, epochs=epochs, seed=seed) for name, aug in choices.items()}
    return pd.DataFrame.from_dict(rows, orient="index").round(4)
# --8<-- [end:augmentation_study]


# --8<-- [start:learning_curve]
from functools import lru_cache

import numpy as np
import pandas as pd

from snippets.overfitting import train_small
from snippets.demo_cache import demo_cache


@lru_cache(maxsize=4)  # the page's table, its figure and the tests share one run; treat as read-only
@demo_cache  # ... and share it across processes when $HANDBOOK_DEMO_CACHE names a folder
def learning_curve(sizes=(250, 500, 1000, 2000, 4000), steps=320, seed=0):
    """Train and validation accuracy against the number of training images.

    Every size gets the same number of SGD steps (``steps`` batches of 32), so a
    larger training set does not also mean more training.
    """
    rows = []
    for n in sizes:
        epochs = max(1, int(np.ceil(steps * 32 / n)))
        rows.append({"training images": n, "epochs": epochs, **train_small(n_train=n, epochs=epochs, seed=seed)})
    return pd.DataFrame(rows).set_index("training images").round(4)
# --8<-- [end:learning_curve]


def plot_learning_curve(curve: pd.DataFrame):
    """Train and validation accuracy against training-set size (log x axis)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
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
