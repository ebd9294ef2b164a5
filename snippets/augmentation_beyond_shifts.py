"""Augmentation beyond shifts: cutout and mixup on a small convolutional network.

Demonstrations for docs/beyond/augmentation-beyond-shifts.md, each seeded and small:

* :func:`labels_after_augmentation`: cutout changes the image and keeps its label;
  mixup mixes two images and their one-hot labels into a soft label.
* :func:`compare_augmentations`: the same small CNN trained with fit without
  augmentation, with cutout and with mixup; accuracy on clean and on occluded
  validation images, and confidence.
* :func:`tta_comparison`: each trained network's predictions averaged over
  shifted copies of every validation image against its single prediction.
"""

from __future__ import annotations

# --8<-- [start:cutout]
import keras
from keras import ops


class Cutout(keras.layers.Layer):
    """Cutout (DeVries & Taylor, 2017): in training, set one size x size square of every
    image to 0. The square's centre is drawn uniformly over the image, so near the border
    part of the square falls outside it. At inference the layer passes images through."""

    def __init__(self, size=10, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.size = size
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training:
            return images
        n, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
        top = keras.random.randint((n, 1, 1), 0, height, seed=self.seed_generator) - self.size // 2
        left = keras.random.randint((n, 1, 1), 0, width, seed=self.seed_generator) - self.size // 2
        rows = ops.arange(height)[None, :, None]
        cols = ops.arange(width)[None, None, :]
        inside = (rows >= top) & (rows < top + self.size) & (cols >= left) & (cols < left + self.size)
        return ops.where(inside, ops.zeros_like(images), images)
# --8<-- [end:cutout]


# --8<-- [start:mixup_batches]
import keras
import tensorflow as tf

from snippets.pipeline import shuffled_batches


def mixup_batches(x, y_one_hot, seed, alpha=0.2, batch_size=32):
    """shuffled_batches, then mixup (Zhang et al., 2018) in every batch: each image is mixed
    with another image of the batch, lam * x_i + (1 - lam) * x_j, and so are their one-hot
    labels, with lam ~ Beta(alpha, alpha) drawn for every image. Keras' MixUp layer does it."""
    mix = keras.layers.MixUp(alpha=alpha, seed=seed)

    def mix_batch(images, labels):
        mixed = mix({"images": images[..., None], "labels": labels})  # the layer wants a channel axis
        return mixed["images"][..., 0], mixed["labels"]

    return shuffled_batches(x, y_one_hot, seed, batch_size).map(mix_batch)
# --8<-- [end:mixup_batches]


# --8<-- [start:labels_after_augmentation]
import keras
import numpy as np

from snippets.data import notebook_subsets
from snippets.augmentation_beyond_shifts import Cutout, mixup_batches


def labels_after_augmentation(n=4, alpha=1.0, seed=0):
    """The first n training images and their one-hot labels, after cutout and after mixup
    (alpha=1: the mixing weight is uniform on [0, 1], so that the mixes are easy to see)."""
    (x, y), _, _ = notebook_subsets(train_size=n)
    one_hot = keras.utils.to_categorical(y, 10)
    keras.utils.set_random_seed(seed)
    cut = keras.ops.convert_to_numpy(Cutout(size=10, seed=seed)(x, training=True))
    # one batch of n: the pipeline shuffles it, then mixes; each label stays with its image
    mixed_images, mixed_labels = next(iter(mixup_batches(x, one_hot, seed, alpha=alpha, batch_size=n)))
    return {
        "original": (x, one_hot),
        "cutout": (cut, one_hot),  # cutout leaves the labels as they were
        "mixup": (mixed_images.numpy(), mixed_labels.numpy()),
    }


def describe(label):
    """A (soft) label in words: its non-zero classes and their weights."""
    return " + ".join(f"{weight:.2f} x '{digit}'" for digit, weight in enumerate(label) if weight > 0.005)
# --8<-- [end:labels_after_augmentation]


# --8<-- [start:plot_augmentations]
from snippets.plotting import Figure
from snippets.augmentation_beyond_shifts import describe


def plot_augmentations(examples):
    """One row per augmentation, one column per image, its label written above it."""
    n = len(examples["original"][0])
    fig = Figure(figsize=(2.2 * n, 7.2))
    axes = fig.subplots(len(examples), n)
    for row, (name, (images, labels)) in zip(axes, examples.items()):
        for ax, image, label in zip(row, images, labels):
            ax.imshow(image, cmap="gray_r", vmin=0, vmax=1)
            ax.set_title(describe(label).replace(" + ", "\n"), fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(name)
    fig.tight_layout()
    return fig
# --8<-- [end:plot_augmentations]


# --8<-- [start:train_cnn]
from functools import lru_cache

import keras
import tensorflow as tf

from snippets.data import notebook_subsets
from snippets.demo_cache import demo_cache
from snippets.pipeline import shuffled_batches
from snippets.augmentation_beyond_shifts import Cutout, mixup_batches

N_TRAIN = 2000  # the first 2,000 training images
N_VALIDATION = 1000  # the first 1,000 validation images
EPOCHS = 10
BATCH_SIZE = 32
CUTOUT_SIZE = 10  # a 10 x 10 square, an eighth of the 28 x 28 image
MIXUP_ALPHA = 0.2


def small_cnn(cutout=False, seed=0):
    """Conv 16 -> max-pool -> conv 32 -> max-pool -> softmax over 10 classes, with a Cutout
    layer in front of it when cutout is true."""
    return keras.Sequential([
        keras.Input(shape=(28, 28)),
        *([Cutout(CUTOUT_SIZE, seed=seed)] if cutout else []),
        keras.layers.Reshape((28, 28, 1)),  # one channel: grey levels
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])


@lru_cache(maxsize=8)  # the page and the tests share one training per method; treat as read-only
@demo_cache  # ... and share it across processes when $HANDBOOK_DEMO_CACHE names a folder
def train_cnn(augmentation, seed=0):
    """Train small_cnn with augmentation "none", "cutout" or "mixup"; return weights and history."""
    (x_train, y_train), (x_val, y_val), _ = notebook_subsets(N_TRAIN, N_VALIDATION)
    y_train, y_val = keras.utils.to_categorical(y_train, 10), keras.utils.to_categorical(y_val, 10)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = small_cnn(cutout=augmentation == "cutout", seed=seed)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.003),
        loss="categorical_crossentropy",  # one-hot or mixed (soft) labels alike
        metrics=["categorical_accuracy"],
        steps_per_execution=16,  # 16 steps per call from Python: faster, same math
    )
    if augmentation == "mixup":
        batches = mixup_batches(x_train, y_train, seed, MIXUP_ALPHA, BATCH_SIZE)
    else:
        batches = shuffled_batches(x_train, y_train, seed, BATCH_SIZE)
    history = model.fit(batches, epochs=EPOCHS, validation_data=(x_val, y_val),
                        shuffle=False, verbose=0)  # shuffle=False: the pipeline shuffles
    return model.get_weights(), history.history
# --8<-- [end:train_cnn]


# --8<-- [start:compare_augmentations]
from functools import lru_cache

import keras
import numpy as np
import pandas as pd

from snippets.data import notebook_subsets
from snippets.augmentation_beyond_shifts import CUTOUT_SIZE, N_VALIDATION, Cutout, small_cnn, train_cnn


def trained_cnn(augmentation, seed=0):
    """small_cnn with the weights train_cnn learned (the Cutout layer is idle at inference)."""
    weights, _ = train_cnn(augmentation, seed)
    model = small_cnn(cutout=augmentation == "cutout", seed=seed)
    model.set_weights(weights)
    return model


@lru_cache(maxsize=4)  # the page and the tests share one result; treat as read-only
def compare_augmentations(seed=0):
    """Per augmentation: training and validation accuracy, accuracy on the validation images
    with a random 10 x 10 square blanked out, and the mean probability of the predicted class."""
    _, (x_val, y_val), _ = notebook_subsets(validation_size=N_VALIDATION)
    occluded = keras.ops.convert_to_numpy(Cutout(CUTOUT_SIZE, seed=1000 + seed)(x_val, training=True))
    rows = {}
    for augmentation in ("none", "cutout", "mixup"):
        model = trained_cnn(augmentation, seed)
        _, history = train_cnn(augmentation, seed)
        clean = model.predict(x_val, batch_size=500, verbose=0)
        blanked = model.predict(occluded, batch_size=500, verbose=0)
        rows[augmentation] = {
            "train accuracy": history["categorical_accuracy"][-1],  # on augmented batches
            "validation accuracy": float((clean.argmax(1) == y_val).mean()),
            "occluded accuracy": float((blanked.argmax(1) == y_val).mean()),
            "mean confidence": float(clean.max(1).mean()),
        }
    return pd.DataFrame.from_dict(rows, orient="index")
# --8<-- [end:compare_augmentations]


# --8<-- [start:test_time_augmentation]
from functools import lru_cache

import numpy as np
import pandas as pd

from snippets.data import notebook_subsets
from snippets.augmentation_beyond_shifts import N_VALIDATION, trained_cnn

SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))  # the image and its four 1-pixel shifts


def predict_with_tta(model, x, shifts=SHIFTS):
    """Test-time augmentation: the mean of the softmax outputs over shifted copies of x."""
    views = [np.roll(x, shift, axis=(1, 2)) for shift in shifts]  # MNIST's border is blank
    return np.mean([model.predict(view, batch_size=500, verbose=0) for view in views], axis=0)


@lru_cache(maxsize=4)  # the page and the tests share one result; treat as read-only
def tta_comparison(seed=0):
    """Validation accuracy of each trained network, one pass against the mean over SHIFTS."""
    _, (x_val, y_val), _ = notebook_subsets(validation_size=N_VALIDATION)
    rows = {}
    for augmentation in ("none", "cutout", "mixup"):
        model = trained_cnn(augmentation, seed)
        single = model.predict(x_val, batch_size=500, verbose=0).argmax(1)
        averaged = predict_with_tta(model, x_val).argmax(1)
        rows[augmentation] = {
            "one pass": float((single == y_val).mean()),
            "mean of 5 views": float((averaged == y_val).mean()),
            "predictions changed": int((single != averaged).sum()),
        }
    return pd.DataFrame.from_dict(rows, orient="index")
# --8<-- [end:test_time_augmentation]
