"""Batch normalization: what the layer computes, in training and at inference.

The mechanics half of the batch-normalization chapter, each demonstration a few seconds
on a CPU (the MNIST half: :mod:`snippets.batch_normalization_pixels`, the notebook's
batch norm on raw pixels, and :mod:`snippets.batch_normalization_mlp`, does it regularize?):

* :func:`keras_matches_formula`: Keras' layer computes exactly the formulas on the page.
* :func:`undo_standardization`: gamma = sqrt(variance + epsilon) and beta = mean undo the
  standardization, exactly only against fixed (moving) statistics.
* :func:`moving_statistics_demo`: batch statistics in training, moving averages at
  inference, and the ``moving = 0.99 * moving + 0.01 * batch`` rule.
* :func:`batch_mates_demo` and :func:`batch_size_noise`: in training mode an
  example's output depends on the other examples in its batch, less so in larger batches.
* :func:`frozen_layer_demo`: ``trainable=False`` runs the layer in inference mode.
* :func:`scale_invariance_demo`: scaling the weights that feed batch norm leaves the
  output unchanged and divides the gradient by the same factor.
"""

from __future__ import annotations

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


# --8<-- [start:keras_check]
import keras
import numpy as np

# A stream of mini-batches whose three features are far from standardized.
STREAM_MEAN = np.array([5.0, -2.0, 0.5])
STREAM_STD = np.array([2.0, 0.5, 3.0])


def stream_batch(rng, batch_size=32):
    """One mini-batch of the stream, float32 like a model's inputs."""
    return (STREAM_MEAN + STREAM_STD * rng.standard_normal((batch_size, 3))).astype(np.float32)


def keras_matches_formula(seed=0):
    """Largest |Keras - NumPy formula| after one training-mode call, gamma and beta non-trivial."""
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
    formula_inference = batch_norm_inference(x, gamma, beta, moving_mean, moving_variance)
    return {
        "training-mode output": np.abs(keras_training - batch_norm_training(x, gamma, beta)).max(),
        "moving_mean": np.abs(np.asarray(layer.moving_mean) - moving_mean).max(),
        "moving_variance": np.abs(np.asarray(layer.moving_variance) - moving_variance).max(),
        "inference-mode output": np.abs(keras_inference - formula_inference).max(),
    }
# --8<-- [end:keras_check]


# --8<-- [start:undo]
import keras
import numpy as np


def undo_standardization(seed=0):
    """Set gamma = sqrt(variance + epsilon) and beta = mean from the stream's population statistics.

    Returns the largest |output - input| over one batch, in each mode.
    """
    layer = keras.layers.BatchNormalization()
    layer.build((None, 3))
    layer.moving_mean.assign(STREAM_MEAN)  # population statistics: what the moving averages
    layer.moving_variance.assign(STREAM_STD**2)  # converge to on a long stream
    layer.gamma.assign(np.sqrt(STREAM_STD**2 + EPSILON))
    layer.beta.assign(STREAM_MEAN)
    x = stream_batch(np.random.default_rng(seed))
    return {mode: float(np.abs(np.asarray(layer(x, training=training)) - x).max())
            for mode, training in (("inference mode", False), ("training mode", True))}
# --8<-- [end:undo]


# --8<-- [start:moving]
from dataclasses import dataclass

import keras
import numpy as np


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


@dataclass(frozen=True)
class MovingStatistics:
    rows: list  # one per checkpoint: updates, moving mean, rule, output mean/std in both modes
    largest_rule_error: float  # largest |Keras - rule| over every step, every feature, mean and variance

    def __str__(self):
        lines = [
            f"feature 0 of the stream: population mean {STREAM_MEAN[0]:g}, std {STREAM_STD[0]:g}; batches of 32",
            "                moving_mean            output of the current batch: mean (std)",
            "updates      Keras   0.99 rule      training mode      inference mode",
        ]
        for row in self.rows:
            training_mean = f"{row['training_mean']:>5.2f}".replace("-0.00", " 0.00")
            lines.append(f"{row['updates']:>7}  {row['moving_mean']:>9.4f}  {row['rule']:>9.4f}"
                         f"     {training_mean} ({row['training_std']:.2f})"
                         f"     {row['inference_mean']:>7.2f} ({row['inference_std']:.2f})")
        lines.append(f"largest |Keras - rule| over all steps: {self.largest_rule_error:.1e}")
        return "\n".join(lines)
# --8<-- [end:moving]


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
    return {
        "the example": example[0],
        "training mode,  batch A": np.asarray(layer(batch_a, training=True))[0],
        "training mode,  batch B": np.asarray(layer(batch_b, training=True))[0],
        "inference mode, batch A": np.asarray(layer(batch_a, training=False))[0],
        "inference mode, batch B": np.asarray(layer(batch_b, training=False))[0],
    }
# --8<-- [end:batch_mates]


# --8<-- [start:noise]
import numpy as np


def batch_size_noise(seed=0, batch_sizes=(4, 8, 16, 32, 64, 128, 256), draws=2000):
    """How much one example's training-mode output moves when its batch-mates are redrawn.

    Returns {batch size: standard deviation of the example's output over `draws` batches}.
    """
    rng = np.random.default_rng(seed)
    example = 1.0  # one standardized feature value, one standard deviation above the mean
    spread = {}
    for size in batch_sizes:
        mates = rng.standard_normal((draws, size - 1))  # `draws` batches of fresh batch-mates
        batches = np.concatenate([np.full((draws, 1), example), mates], axis=1)
        mean, variance = batches.mean(axis=1), batches.var(axis=1)
        outputs = (example - mean) / np.sqrt(variance + EPSILON)  # batch_norm_training, per batch
        spread[size] = float(outputs.std())
    return spread
# --8<-- [end:noise]


# --8<-- [start:frozen]
import keras
import numpy as np


def direct_calls(layer, x):
    """Call the layer in both modes: is training=True the inference output? Did the call update?"""
    before = [np.asarray(layer.moving_mean), np.asarray(layer.moving_variance)]
    inference = np.asarray(layer(x, training=False))
    training = np.asarray(layer(x, training=True))
    after = [np.asarray(layer.moving_mean), np.asarray(layer.moving_variance)]
    return {"same_as_inference": bool(np.array_equal(training, inference)),
            "moving_changed": any(not np.array_equal(b, a) for b, a in zip(before, after))}


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


def frozen_layer_demo(seed=0):
    """trainable=False: direct calls with training=True, then one epoch of fit per way of freezing."""
    rng = np.random.default_rng(seed)
    layer = keras.layers.BatchNormalization()
    layer.build((None, 3))
    for _ in range(20):  # give the moving statistics values other than their initial 0 and 1
        layer(stream_batch(rng), training=True)
    x = stream_batch(rng)
    calls = {"trainable=True": direct_calls(layer, x)}
    layer.trainable = False
    calls["trainable=False"] = direct_calls(layer, x)
    fits = {freeze: fit_one_epoch(seed, freeze) for freeze in ("never", "then compile", "after fit")}
    return calls, fits


def show_frozen(calls, fits):
    """The two tables of the demonstration, as text."""
    yes = lambda flag: "yes" if flag else "no"
    lines = [f"{'direct calls on a layer':<40}{'training=True output':<23}moving statistics",
             f"{'':<40}{'= inference output?':<23}changed by the call?"]
    for name, row in calls.items():
        lines.append(f"  {name:<38}{yes(row['same_as_inference']):<23}{yes(row['moving_changed'])}")
    labels = {"never": "never (trainable=True)", "then compile": "trainable=False, then compile()",
              "after fit": "trainable=False after fit(), no compile()"}
    lines += ["", f"{'one epoch of model.fit changed ...':<46}{'moving_mean':<14}{'gamma, beta':<14}Dense kernels",
              "  when batch norm was frozen:"]
    for freeze, row in fits.items():
        lines.append(f"  {labels[freeze]:<44}{yes(row['moving_mean']):<14}"
                     f"{yes(row['gamma, beta']):<14}{yes(row['Dense kernels'])}")
    return "\n".join(lines)
# --8<-- [end:frozen]


# --8<-- [start:scale]
import keras
import numpy as np
import tensorflow as tf


def scale_invariance_demo(seed=0, scales=(0.01, 0.1, 1.0, 10.0, 100.0), batch_size=64):
    """Multiply the Dense weights feeding batch norm by c: the output and the gradient.

    Returns one row per c: the largest output change, |grad(c)| / |grad(1)| and the
    relative step |grad| / |W| at c divided by the same at c = 1.
    """
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
    return [dict(scale=c,
                 output_change=float(np.abs(outputs[c] - outputs[1.0]).max()),
                 gradient_ratio=gradient_norms[c] / gradient_norms[1.0],
                 relative_step_ratio=relative_step[c] / relative_step[1.0]) for c in scales]
# --8<-- [end:scale]
