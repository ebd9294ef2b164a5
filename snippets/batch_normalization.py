"""Batch normalization: what the layer computes, in training and at inference.

Demonstrations for the batch-normalization chapter, each a few seconds on a CPU:

* :func:`keras_matches_formula`: Keras' layer computes exactly the formulas on the page.
* :func:`moving_statistics_demo`: batch statistics in training, moving averages at
  inference, and the ``moving = 0.99 * moving + 0.01 * batch`` rule.
* :func:`batch_mates_demo` and :func:`batch_size_noise`: in training mode an
  example's output depends on the other examples in its batch, less so in larger batches.
* :func:`scale_invariance_demo`: scaling the weights that feed batch norm leaves the
  output unchanged and divides the gradient by the same factor.
* :func:`frozen_layer_demo`: ``trainable=False`` runs the layer in inference mode.
* :func:`input_batch_norm_on_mnist` and :func:`pixel_spread_figure`: what the
  notebook's batch norm on the raw pixels does to MNIST's near-constant border.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import keras
import numpy as np
import tensorflow as tf

from snippets.demo_cache import demo_cache

# --8<-- [start:formula]
import numpy as np

EPSILON = 1e-3  # keras.layers.BatchNormalization's default epsilon
MOMENTUM = 0.99  # ... and its default momentum


def batch_norm_training(x, gamma, beta, epsilon=EPSILON):
    """Training mode: standardize each feature (column) with the mini-batch's own statistics."""
    mean = x.mean(axis=0)
    variance = x.var(axis=0)  # divides by the batch size (the biased estimate), as Keras does
    x_hat = (x - mean) / np.sqrt(variance + epsilon)
    return gamma * x_hat + beta


def batch_norm_inference(x, gamma, beta, moving_mean, moving_variance, epsilon=EPSILON):
    """Inference mode: the same map with the moving averages in place of the batch statistics."""
    return gamma * (x - moving_mean) / np.sqrt(moving_variance + epsilon) + beta


def update_moving_average(moving, batch_statistic, momentum=MOMENTUM):
    """What every training-mode call does to ``moving_mean`` and ``moving_variance``."""
    return momentum * moving + (1.0 - momentum) * batch_statistic
# --8<-- [end:formula]


# --------------------------------------------------------------------------- formula check


@dataclass(frozen=True)
class FormulaCheck:
    training_output: float  # largest |Keras - formula| over a batch, training mode
    moving_mean: float  # ... of the moving mean after that call
    moving_variance: float
    inference_output: float  # ... of the inference-mode output after that call

    def __str__(self):
        return "\n".join(
            [
                "largest |Keras - formula| after one training-mode call:",
                f"  training-mode output   {self.training_output:.1e}",
                f"  moving_mean            {self.moving_mean:.1e}",
                f"  moving_variance        {self.moving_variance:.1e}",
                f"  inference-mode output  {self.inference_output:.1e}",
            ]
        )


def keras_matches_formula(seed: int = 0) -> FormulaCheck:
    """Compare ``keras.layers.BatchNormalization`` with the NumPy formulas, gamma and beta non-trivial."""
    rng = np.random.default_rng(seed)
    x = stream_batch(rng)
    layer = keras.layers.BatchNormalization()
    layer.build(x.shape)
    gamma, beta = np.array([2.0, 0.5, 1.5]), np.array([1.0, -1.0, 0.25])
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)

    keras_training = np.asarray(layer(x, training=True))  # also updates the moving averages
    moving_mean = update_moving_average(np.zeros(3), x.mean(axis=0))  # from the initial 0 ...
    moving_variance = update_moving_average(np.ones(3), x.var(axis=0))  # ... and 1
    keras_inference = np.asarray(layer(x, training=False))
    return FormulaCheck(
        training_output=float(np.abs(keras_training - batch_norm_training(x, gamma, beta)).max()),
        moving_mean=float(np.abs(np.asarray(layer.moving_mean) - moving_mean).max()),
        moving_variance=float(np.abs(np.asarray(layer.moving_variance) - moving_variance).max()),
        inference_output=float(
            np.abs(keras_inference - batch_norm_inference(x, gamma, beta, moving_mean, moving_variance)).max()
        ),
    )


# --------------------------------------------------------------------------- (a) moving statistics


@dataclass(frozen=True)
class MovingStatistics:
    rows: list[dict]  # one per checkpoint: updates, moving mean, rule, output mean/std in both modes
    largest_rule_error: float  # largest |Keras - rule| over every step, every feature, mean and variance

    def __str__(self):
        lines = [
            f"feature 0 of the stream: population mean {STREAM_MEAN[0]:g}, std {STREAM_STD[0]:g}; batches of 32",
            "                moving_mean            output of the current batch: mean (std)",
            "updates      Keras   0.99 rule      training mode      inference mode",
        ]
        for row in self.rows:
            training_mean = f"{row['training_mean']:>5.2f}".replace("-0.00", " 0.00")
            lines.append(
                f"{row['updates']:>7}  {row['moving_mean']:>9.4f}  {row['rule']:>9.4f}"
                f"     {training_mean} ({row['training_std']:.2f})"
                f"     {row['inference_mean']:>7.2f} ({row['inference_std']:.2f})"
            )
        lines.append(f"largest |Keras - rule| over all steps: {self.largest_rule_error:.1e}")
        return "\n".join(lines)


# --8<-- [start:moving]
import keras
import numpy as np

# A stream of mini-batches whose three features are far from standardized.
STREAM_MEAN = np.array([5.0, -2.0, 0.5])
STREAM_STD = np.array([2.0, 0.5, 3.0])


def stream_batch(rng, batch_size=32):
    """One mini-batch of the stream, float32 like a model's inputs."""
    return (STREAM_MEAN + STREAM_STD * rng.standard_normal((batch_size, 3))).astype(np.float32)


def moving_statistics_demo(seed=0, steps=500, checkpoints=(0, 1, 10, 100, 200, 500)):
    """Train a fresh layer on the stream; compare its two modes and check the 0.99 rule."""
    rng = np.random.default_rng(seed)
    layer = keras.layers.BatchNormalization()  # momentum=0.99, epsilon=1e-3
    layer.build((None, 3))
    rule_mean, rule_variance = np.zeros(3), np.ones(3)  # Keras starts the averages at 0 and 1
    rows, largest_error = [], 0.0
    for updates in range(steps + 1):
        x = stream_batch(rng)
        moving_mean = float(layer.moving_mean[0])  # after `updates` training-mode calls
        inference = np.asarray(layer(x, training=False))[:, 0]  # moving statistics, no update
        training = np.asarray(layer(x, training=True))[:, 0]  # batch statistics, then an update
        if updates in checkpoints:
            rows.append(dict(updates=updates, moving_mean=moving_mean, rule=rule_mean[0],
                             training_mean=training.mean(), training_std=training.std(),
                             inference_mean=inference.mean(), inference_std=inference.std()))
        rule_mean = 0.99 * rule_mean + 0.01 * x.mean(axis=0)
        rule_variance = 0.99 * rule_variance + 0.01 * x.var(axis=0)
        largest_error = max(largest_error,
                            np.abs(np.asarray(layer.moving_mean) - rule_mean).max(),
                            np.abs(np.asarray(layer.moving_variance) - rule_variance).max())
    return MovingStatistics(rows, float(largest_error))
# --8<-- [end:moving]


# --------------------------------------------------------------------------- (b) batch-mates


@dataclass(frozen=True)
class BatchMates:
    example: np.ndarray
    training_a: np.ndarray  # the example's output in batch A, training mode
    training_b: np.ndarray
    inference_a: np.ndarray
    inference_b: np.ndarray

    def __str__(self):
        def show(v):
            return np.array2string(v, precision=4, floatmode="fixed", sign=" ")

        return "\n".join(
            [
                f"the example:                       {show(self.example)}",
                f"training mode,  batch A:           {show(self.training_a)}",
                f"training mode,  batch B:           {show(self.training_b)}",
                f"inference mode, batch A:           {show(self.inference_a)}",
                f"inference mode, batch B:           {show(self.inference_b)}",
            ]
        )


# --8<-- [start:batch_mates]
import keras
import numpy as np


def batch_mates_demo(seed=0, batch_size=32):
    """One example in two batches with different batch-mates: its outputs in both modes."""
    rng = np.random.default_rng(seed)
    layer = keras.layers.BatchNormalization()
    layer.build((None, 3))
    layer.moving_mean.assign(STREAM_MEAN)  # as if trained long enough on the stream
    layer.moving_variance.assign(STREAM_STD**2)
    example = stream_batch(rng, 1)
    batch_a = np.concatenate([example, stream_batch(rng, batch_size - 1)])  # example first
    batch_b = np.concatenate([example, stream_batch(rng, batch_size - 1)])  # other batch-mates
    return BatchMates(
        example=example[0],
        training_a=np.asarray(layer(batch_a, training=True))[0],
        training_b=np.asarray(layer(batch_b, training=True))[0],
        inference_a=np.asarray(layer(batch_a, training=False))[0],
        inference_b=np.asarray(layer(batch_b, training=False))[0],
    )
# --8<-- [end:batch_mates]


@dataclass(frozen=True)
class BatchSizeNoise:
    batch_sizes: tuple[int, ...]
    spread: tuple[float, ...]  # std of the example's normalized value over random batch-mates

    def __str__(self):
        lines = ["batch size   std of the example's output   std x sqrt(batch size)"]
        for size, spread in zip(self.batch_sizes, self.spread):
            lines.append(f"{size:>10}   {spread:>27.4f}   {spread * np.sqrt(size):>22.3f}")
        return "\n".join(lines)


# --8<-- [start:noise]
import numpy as np


def batch_size_noise(seed=0, batch_sizes=(4, 8, 16, 32, 64, 128, 256), draws=2000):
    """How much one example's training-mode output moves when its batch-mates are redrawn."""
    rng = np.random.default_rng(seed)
    example = 1.0  # one standardized feature value, one standard deviation above the mean
    spread = []
    for size in batch_sizes:
        mates = rng.standard_normal((draws, size - 1))  # `draws` batches of fresh batch-mates
        batches = np.concatenate([np.full((draws, 1), example), mates], axis=1)
        mean, variance = batches.mean(axis=1), batches.var(axis=1)
        outputs = (example - mean) / np.sqrt(variance + EPSILON)  # batch_norm_training, per batch
        spread.append(float(outputs.std()))
    return BatchSizeNoise(tuple(batch_sizes), tuple(spread))
# --8<-- [end:noise]


# --------------------------------------------------------------------------- (c) scale invariance


@dataclass(frozen=True)
class ScaleInvariance:
    scales: tuple[float, ...]
    output_change: tuple[float, ...]  # largest |output(c) - output(1)|
    gradient_ratio: tuple[float, ...]  # |grad(c)| / |grad(1)|
    relative_step_ratio: tuple[float, ...]  # (|step(c)| / |W(c)|) / (|step(1)| / |W(1)|)

    def __str__(self):
        lines = ["scale c   max |output change|   |grad| ratio      1/c   relative step ratio    1/c^2"]
        for c, change, grad, step in zip(self.scales, self.output_change, self.gradient_ratio,
                                         self.relative_step_ratio):
            lines.append(f"{c:>7g}   {change:>19.2e}   {grad:>12.4g}   {1 / c:>6g}   {step:>19.4g}   {1 / c**2:>6g}")
        return "\n".join(lines)


# --8<-- [start:scale]
import keras
import numpy as np
import tensorflow as tf


def scale_invariance_demo(seed=0, scales=(0.01, 0.1, 1.0, 10.0, 100.0), batch_size=64):
    """Multiply the Dense weights feeding batch norm by c: the output and the gradient."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch_size, 20)).astype(np.float32)
    target = rng.standard_normal((batch_size, 8)).astype(np.float32)
    dense = keras.layers.Dense(8, kernel_initializer=keras.initializers.GlorotUniform(seed))
    norm = keras.layers.BatchNormalization()
    norm(dense(x), training=True)  # build both layers
    kernel, bias = dense.get_weights()
    outputs, gradient_norms, kernel_norms = {}, {}, {}
    for c in scales:
        dense.set_weights([c * kernel, c * bias])
        with tf.GradientTape() as tape:
            outputs[c] = norm(dense(x), training=True)
            loss = tf.reduce_mean((outputs[c] - target) ** 2)
        gradient_norms[c] = float(tf.norm(tape.gradient(loss, dense.kernel)))
        kernel_norms[c] = float(tf.norm(dense.kernel))
    # An SGD step moves W by lr * grad; relative to |W| that is lr * |grad| / |W|.
    relative_step = {c: gradient_norms[c] / kernel_norms[c] for c in scales}
    return ScaleInvariance(
        scales=tuple(scales),
        output_change=tuple(float(np.abs(outputs[c] - outputs[1.0]).max()) for c in scales),
        gradient_ratio=tuple(gradient_norms[c] / gradient_norms[1.0] for c in scales),
        relative_step_ratio=tuple(relative_step[c] / relative_step[1.0] for c in scales),
    )
# --8<-- [end:scale]


# --------------------------------------------------------------------------- (d) trainable=False


@dataclass(frozen=True)
class FrozenLayer:
    call_trainable: dict  # direct calls on a layer with trainable=True
    call_frozen: dict  # ... and with trainable=False
    fit: dict  # how batch norm was frozen -> what one epoch of model.fit changed

    def __str__(self):
        def yes(flag):
            return "yes" if flag else "no"

        lines = [
            f"{'direct calls on a layer':<40}{'training=True output':<23}moving statistics",
            f"{'':<40}{'= inference output?':<23}changed by the call?",
        ]
        for name, row in (("trainable=True", self.call_trainable), ("trainable=False", self.call_frozen)):
            lines.append(f"  {name:<38}{yes(row['same_as_inference']):<23}{yes(row['moving_changed'])}")
        labels = {"never": "never (trainable=True)", "then compile": "trainable=False, then compile()",
                  "after fit": "trainable=False after fit(), no compile()"}
        lines += ["", f"{'one epoch of model.fit changed ...':<46}{'moving_mean':<14}{'gamma, beta':<14}Dense kernels",
                  "  when batch norm was frozen:"]
        for freeze, row in self.fit.items():
            lines.append(f"  {labels[freeze]:<44}{yes(row['moving_mean']):<14}"
                         f"{yes(row['gamma, beta']):<14}{yes(row['Dense kernels'])}")
        return "\n".join(lines)


def _direct_calls(layer, x) -> dict:
    before = [np.asarray(layer.moving_mean), np.asarray(layer.moving_variance)]
    inference = np.asarray(layer(x, training=False))
    training = np.asarray(layer(x, training=True))
    after = [np.asarray(layer.moving_mean), np.asarray(layer.moving_variance)]
    return dict(
        same_as_inference=bool(np.array_equal(training, inference)),
        moving_changed=any(not np.array_equal(b, a) for b, a in zip(before, after)),
    )


# --8<-- [start:frozen]
import keras
import numpy as np


def fit_one_epoch(seed=0, freeze="never"):
    """One epoch of SGD on a small regression; which weights did it change?

    freeze: "never"; "then compile" (trainable=False, then compile() again);
    "after fit" (trainable=False after an earlier fit(), without compiling again).
    """
    rng = np.random.default_rng(seed)
    x = (3.0 + rng.standard_normal((256, 5))).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    init = keras.initializers.GlorotUniform
    model = keras.Sequential([
        keras.Input(shape=(5,)),
        keras.layers.Dense(8, kernel_initializer=init(seed)),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.Dense(1, kernel_initializer=init(seed + 1)),
    ])
    norm = model.get_layer("bn")
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    if freeze == "then compile":
        norm.trainable = False
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    elif freeze == "after fit":
        model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)  # builds the train step
        norm.trainable = False  # too late for that train step: it still trains the layer
    watched = {"moving_mean": [norm.moving_mean], "gamma, beta": [norm.gamma, norm.beta],
               "Dense kernels": [model.layers[0].kernel, model.layers[2].kernel]}
    before = {name: [v.numpy().copy() for v in variables] for name, variables in watched.items()}
    model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    return {name: any(not np.array_equal(b, np.asarray(v)) for b, v in zip(before[name], variables))
            for name, variables in watched.items()}
# --8<-- [end:frozen]


def frozen_layer_demo(seed: int = 0) -> FrozenLayer:
    """``trainable=False``: direct calls with ``training=True`` and one epoch of ``fit``."""
    rng = np.random.default_rng(seed)
    layer = keras.layers.BatchNormalization()
    layer.build((None, 3))
    for _ in range(20):  # give the moving statistics values other than their initial 0 and 1
        layer(stream_batch(rng), training=True)
    x = stream_batch(rng)
    call_trainable = _direct_calls(layer, x)
    layer.trainable = False
    call_frozen = _direct_calls(layer, x)
    return FrozenLayer(
        call_trainable=call_trainable,
        call_frozen=call_frozen,
        fit={freeze: fit_one_epoch(seed, freeze) for freeze in ("never", "then compile", "after fit")},
    )


# --------------------------------------------------------------------------- (e) MNIST input batch norm


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
    def low_variance_pixels(self) -> int:
        return int(self.low_variance.sum())

    def __str__(self):
        return "\n".join(
            [
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
            ]
        )


# --8<-- [start:input_bn]
import keras
import numpy as np
import tensorflow as tf

from snippets.data import load_mnist, notebook_split


def mnist_pixels():
    """The notebook's training split and the test set, flattened to 784 values in [0, 1]."""
    (x_train, y_train), (x_test, _) = load_mnist()
    (x_fit, _), _ = notebook_split(x_train, y_train)  # the first 5,000 are validation
    as_floats = lambda images: images.reshape(-1, 784).astype(np.float32) / np.float32(255)
    return as_floats(x_fit), as_floats(x_test)


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
# --8<-- [end:input_bn]


_cached_mnist_pixels = lru_cache(maxsize=1)(mnist_pixels)


def pixel_variance(x: np.ndarray, chunk: int = 5000) -> np.ndarray:
    """Each column's variance over the rows, in float64, without a float64 copy of ``x``."""
    total, squares = np.zeros(x.shape[1]), np.zeros(x.shape[1])
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk].astype(np.float64)
        total += part.sum(axis=0)
        squares += (part**2).sum(axis=0)
    mean = total / len(x)
    return np.maximum(squares / len(x) - mean**2, 0.0)


@lru_cache(maxsize=4)
@demo_cache
def input_batch_norm_on_mnist(seed: int = 0, threshold: float = 1e-3, batch_size: int = 32) -> InputBatchNorm:
    """Count MNIST's near-constant pixels and measure what the notebook's input batch norm does to them."""
    x_fit, x_test = _cached_mnist_pixels()
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


# --8<-- [start:figure]
import matplotlib.pyplot as plt
import numpy as np


def pixel_spread_figure(result):
    """Left: each pixel's std over the training images. Right: the input layer's gain."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 4), constrained_layout=True)
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
