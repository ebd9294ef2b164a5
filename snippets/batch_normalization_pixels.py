"""The source notebook's batch norm on raw MNIST pixels: near-constant border pixels.

The notebook puts ``BatchNormalization`` straight after ``Flatten``. Hundreds of MNIST's
border pixels hardly vary over the training images, so at inference the layer divides
whatever ink appears there by about ``sqrt(epsilon)``, far beyond any value training mode
produced. :func:`input_batch_norm_on_mnist` measures it; :func:`pixel_spread_figure`
shows where those pixels are.
"""

from __future__ import annotations

from functools import lru_cache

from snippets.demo_cache import demo_cache

# --8<-- [start:input_bn]
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from snippets.batch_normalization import EPSILON  # Keras' default epsilon, 1e-3
from snippets.data import notebook_subsets


def mnist_pixels():
    """The notebook's training split and the test set, flattened to 784 values in [0, 1]."""
    (x_train, _), _, (x_test, _) = notebook_subsets()
    return x_train.reshape(-1, 784), x_test.reshape(-1, 784)


def pixel_variance(x, chunk=5000):
    """Each column's variance over the rows, in float64, without a float64 copy of ``x``."""
    total, squares = np.zeros(x.shape[1]), np.zeros(x.shape[1])
    for start in range(0, len(x), chunk):
        part = x[start:start + chunk].astype(np.float64)
        total += part.sum(axis=0)
        squares += (part**2).sum(axis=0)
    mean = total / len(x)
    return np.maximum(squares / len(x) - mean**2, 0.0)


def input_batch_norm(x_fit, seed=0, batch_size=32):
    """The notebook's first layer, BatchNormalization on raw pixels, over one epoch.

    Its statistics depend only on the images, not on the rest of the network, so the
    layer can be run alone. gamma and beta stay 1 and 0: we look at x_hat itself.
    Returns the largest |x_hat| seen in training mode and the layer.
    """
    layer = keras.layers.BatchNormalization()
    layer.build((None, 784))
    step = tf.function(lambda x: tf.reduce_max(tf.abs(layer(x, training=True))))
    order = np.random.default_rng(seed).permutation(len(x_fit))
    training_max = 0.0
    for start in range(0, len(order) - batch_size + 1, batch_size):  # full batches
        batch = x_fit[order[start:start + batch_size]]
        training_max = max(training_max, float(step(batch)))  # batch statistics, then update
    return training_max, layer


def largest_inference_values(layer, images, chunk=5000):
    """Each image's largest |x_hat| in inference mode (moving statistics)."""
    return np.concatenate([np.abs(np.asarray(layer(images[i:i + chunk], training=False))).max(axis=1)
                           for i in range(0, len(images), chunk)])


@dataclass(frozen=True)
class InputBatchNorm:
    threshold: float
    pixel_std: np.ndarray  # (28, 28) std of each pixel over the notebook's training split
    low_variance: np.ndarray  # (28, 28) bool: training variance below `threshold`
    constant_pixels: int  # pixels that are 0 in every training image
    gain: np.ndarray  # (28, 28) 1 / sqrt(moving_variance + epsilon) after one epoch
    epsilon_dominated: int  # pixels whose moving variance is below epsilon
    training_max: float  # largest |x_hat| in training mode over the epoch
    training_bound: float  # sqrt(n - 1) (Samuelson 1968): no training-mode |x_hat| can exceed it
    test_max: float  # largest |x_hat| in inference mode on the test set
    test_images_beyond: int  # test images with some |x_hat| above training_max
    test_images: int
    fit_images_beyond: int  # the same count for the training images, in inference mode
    fit_images: int

    @property
    def low_variance_pixels(self):
        return int(self.low_variance.sum())

    def __str__(self):
        return "\n".join([
            f"pixels with training variance < {self.threshold:g}: {self.low_variance_pixels} of 784 "
            f"({self.constant_pixels} are 0 in every training image)",
            f"pixels whose moving variance is below epsilon = {EPSILON:g}: {self.epsilon_dominated}",
            f"input-BN gain 1/sqrt(moving_variance + epsilon): largest {self.gain.max():.1f} "
            f"(1/sqrt(epsilon) = {1 / np.sqrt(EPSILON):.1f}), median {np.median(self.gain):.2f}",
            f"largest |x_hat|, training mode, one epoch of batches: {self.training_max:.2f} "
            f"(Samuelson's bound sqrt(n - 1) = {self.training_bound:.2f})",
            f"largest |x_hat|, inference mode, test set:            {self.test_max:.2f}",
            "images with some |x_hat| in inference mode beyond every training-mode value:",
            f"  test set        {self.test_images_beyond:>6} of {self.test_images}",
            f"  training split  {self.fit_images_beyond:>6} of {self.fit_images}",
        ])


def measure_input_batch_norm(seed=0, threshold=1e-3, batch_size=32):
    """Count MNIST's near-constant pixels and measure what the input batch norm does to them."""
    x_fit, x_test = mnist_pixels()
    variance = pixel_variance(x_fit)
    training_max, layer = input_batch_norm(x_fit, seed=seed, batch_size=batch_size)
    gain = 1.0 / np.sqrt(np.asarray(layer.moving_variance) + layer.epsilon)
    test_values = largest_inference_values(layer, x_test)
    fit_values = largest_inference_values(layer, x_fit)
    return InputBatchNorm(
        threshold=threshold,
        pixel_std=np.sqrt(variance).reshape(28, 28),
        low_variance=(variance < threshold).reshape(28, 28),
        constant_pixels=int((x_fit.max(axis=0) == 0).sum()),
        gain=gain.reshape(28, 28),
        epsilon_dominated=int((1.0 / gain**2 - EPSILON < EPSILON).sum()),
        training_max=training_max,
        training_bound=float(np.sqrt(batch_size - 1)),
        test_max=float(test_values.max()),
        test_images_beyond=int((test_values > training_max).sum()),
        test_images=len(x_test),
        fit_images_beyond=int((fit_values > training_max).sum()),
        fit_images=len(x_fit),
    )
# --8<-- [end:input_bn]


@lru_cache(maxsize=4)
@demo_cache
def input_batch_norm_on_mnist(seed: int = 0, threshold: float = 1e-3, batch_size: int = 32):
    """:func:`measure_input_batch_norm`, computed once per process and once per demo cache."""
    return measure_input_batch_norm(seed, threshold, batch_size)


# --8<-- [start:figure]
import numpy as np

from snippets.plotting import Figure


def pixel_spread_figure(result):
    """Left: each pixel's std over the training images. Right: the input layer's gain."""
    fig = Figure(figsize=(9, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    panels = [(result.pixel_std, "pixel std over the training images", "viridis"),
              (result.gain, "input batch norm's gain 1/sqrt(moving var + eps)", "magma")]
    for ax, (values, title, cmap) in zip(axes, panels):
        image = ax.imshow(values, cmap=cmap)
        fine = np.kron(result.low_variance, np.ones((8, 8)))  # outline whole pixels, not a smooth curve
        centers = (np.arange(fine.shape[0]) + 0.5) / 8 - 0.5  # in the image's pixel coordinates
        ax.contour(centers, centers, fine, levels=[0.5], colors="deepskyblue", linewidths=1.2)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(f"blue outline: the {result.low_variance_pixels} pixels with training variance "
                 f"< {result.threshold:g}", fontsize=10)
    return fig
# --8<-- [end:figure]
