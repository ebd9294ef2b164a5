"""Noise as a regularizer: Gaussian noise on the inputs and on the activations, against dropout.

Demonstrations for the noise page, each seeded and small:

* :func:`noisy_inputs_vs_ridge`: for a linear model and squared error, least squares on
  many noisy copies of the inputs approaches ridge regression with strength sigma**2.
* :func:`noise_expansion_check`: for a small nonlinear network, the extra squared error
  caused by small input noise matches the second-order expansion on the page.
* :func:`noise_layer_moments`: what ``GaussianNoise``, ``GaussianDropout`` and
  ``Dropout`` do to a vector of ones in training, and that all three are the identity
  at inference.
* :func:`train_noisy_mlp` / :func:`noise_table`: the notebook's MLP trained with
  ``fit`` with each kind of noise; accuracies and the size of the derivatives of the
  outputs with respect to the inputs (:func:`input_jacobian_norm`).
"""

from __future__ import annotations

# --8<-- [start:noisy_inputs_vs_ridge]
import numpy as np


def noisy_inputs_vs_ridge(sigma=0.5, copies=(1, 10, 100, 1000), n=30, d=5, seed=0):
    """Least squares on noisy copies of X, compared with ridge (strength sigma**2) and
    with plain least squares, for more and more copies.

    With the mean squared error, E[(w.(x + e) - y)**2] = (w.x - y)**2 + sigma**2 |w|**2
    for noise e ~ N(0, sigma**2 I): noisy inputs add an L2 penalty of sigma**2.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = x @ rng.normal(size=d) + 0.5 * rng.normal(size=n)
    plain = np.linalg.lstsq(x, y, rcond=None)[0]
    ridge = np.linalg.solve(x.T @ x / n + sigma**2 * np.eye(d), x.T @ y / n)
    rows = {}
    for r in copies:
        noisy_x = np.tile(x, (r, 1)) + sigma * rng.normal(size=(r * n, d))
        w = np.linalg.lstsq(noisy_x, np.tile(y, r), rcond=None)[0]
        rows[r] = {"distance to ridge": np.linalg.norm(w - ridge),
                   "distance to least squares": np.linalg.norm(w - plain)}
    return rows
# --8<-- [end:noisy_inputs_vs_ridge]


# --8<-- [start:noise_expansion_check]
import keras
import numpy as np
import tensorflow as tf


def noise_expansion_check(sigmas=(0.4, 0.2, 0.1, 0.05), draws=100_000, seed=0):
    """A small nonlinear network f at one input x with target t: the extra squared error
    that input noise causes, E[(f(x + e) - t)**2] - (f(x) - t)**2, divided by sigma**2,
    against the expansion's |grad f|**2 + (f - t) * laplacian f.

    The noise is drawn in pairs +e, -e, which cancels the odd terms of the Monte Carlo
    average exactly (their expectation is zero anyway).
    """
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(16, activation="tanh"),
                              keras.layers.Dense(1)])
    x, t = np.array([[0.3, -0.5]], dtype="float32"), 1.0
    point = tf.constant(x)
    with tf.GradientTape() as outer:
        outer.watch(point)
        with tf.GradientTape() as inner:
            inner.watch(point)
            f = model(point)[0, 0]
        gradient = inner.gradient(f, point)[0]
    hessian = outer.jacobian(gradient, point)[:, 0, :]  # d2f / dx_i dx_j, shape (2, 2)
    f, gradient, hessian = float(f), gradient.numpy(), hessian.numpy()
    squared_gradient = float(gradient @ gradient)
    rng = np.random.default_rng(seed)
    rows = {}
    for sigma in sigmas:
        noise = sigma * rng.normal(size=(draws, 2)).astype("float32")
        noisy = model.predict(np.concatenate([x + noise, x - noise]), batch_size=50_000, verbose=0)
        excess = float(np.mean((noisy[:, 0] - t) ** 2)) - (f - t) ** 2
        rows[sigma] = {"measured / sigma^2": excess / sigma**2,
                       "|grad f|^2 + (f - t) laplacian": squared_gradient + (f - t) * float(np.trace(hessian)),
                       "|grad f|^2 alone": squared_gradient}
    return rows
# --8<-- [end:noise_expansion_check]


# --8<-- [start:noise_layer_moments]
import keras
import numpy as np


def noise_layer_moments(rate=0.5, stddev=0.5, size=100_000, seed=0):
    """Each noise layer on a vector of ones: mean and variance in training, and whether
    inference returns the input unchanged."""
    ones = np.ones((1, size), dtype="float32")
    layers = {
        f"GaussianNoise({stddev:g})": keras.layers.GaussianNoise(stddev, seed=seed),
        f"GaussianDropout({rate:g})": keras.layers.GaussianDropout(rate, seed=seed),
        f"Dropout({rate:g})": keras.layers.Dropout(rate, seed=seed),
    }
    rows = {}
    for name, layer in layers.items():
        trained = keras.ops.convert_to_numpy(layer(ones, training=True))
        inferred = keras.ops.convert_to_numpy(layer(ones, training=False))
        rows[name] = {"mean": trained.mean(), "variance": trained.var(),
                      "identity at inference": bool(np.array_equal(inferred, ones))}
    return rows
# --8<-- [end:noise_layer_moments]


# --8<-- [start:train_noisy_mlp]
from functools import lru_cache

import keras
import tensorflow as tf

from snippets.data import notebook_subsets
from snippets.demo_cache import demo_cache
from snippets.pipeline import shuffled_batches

N_TRAIN = 2000  # the first 2,000 images of the training split
N_VALIDATION = 2000  # the first 2,000 validation images: the held-out images of this page
EPOCHS = 15
BATCH_SIZE = 32
LEARNING_RATE = 0.05  # plain SGD
KINDS = {  # name: (where the noise goes, the layer that adds it)
    "no noise": (None, None),
    "input noise": ("inputs", lambda seed: keras.layers.GaussianNoise(0.5, seed=seed)),
    "hidden noise": ("hidden", lambda seed: keras.layers.GaussianNoise(1.0, seed=seed)),
    "Gaussian dropout": ("hidden", lambda seed: keras.layers.GaussianDropout(0.5, seed=seed)),
    "dropout": ("hidden", lambda seed: keras.layers.Dropout(0.5, seed=seed)),
}


def noisy_mlp(kind, seed=0):
    """The notebook's 784-300-100-10 MLP with the noise of ``KINDS[kind]``: on the
    flattened inputs, or after each hidden layer."""
    where, noise = KINDS[kind]
    layers = [keras.Input(shape=(28, 28)), keras.layers.Flatten()]
    if where == "inputs":
        layers.append(noise(seed))
    for i, units in enumerate((300, 100)):
        layers.append(keras.layers.Dense(units, activation="relu"))
        if where == "hidden":
            layers.append(noise(seed + 1 + i))
    layers.append(keras.layers.Dense(10, activation="softmax"))
    return keras.Sequential(layers)


@lru_cache(maxsize=8)  # the page and the tests share one training per kind
@demo_cache  # ... and share it across processes when $HANDBOOK_DEMO_CACHE names a folder
def train_noisy_mlp(kind, seed=0):
    """Train ``noisy_mlp(kind)``; return its weights and accuracies (inference mode)."""
    (x_train, y_train), (x_val, y_val), _ = notebook_subsets(N_TRAIN, N_VALIDATION)
    keras.utils.set_random_seed(seed)  # noise layers add no weights: same initial weights
    tf.config.experimental.enable_op_determinism()
    model = noisy_mlp(kind, seed)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=32,  # 32 SGD steps per call from Python: faster, same math
        jit_compile=False,  # XLA with random layers is slow on CPU
    )
    model.fit(
        shuffled_batches(x_train, y_train, seed, BATCH_SIZE),
        epochs=EPOCHS,
        shuffle=False,  # the pipeline shuffles
        verbose=0,
    )
    return {
        "weights": model.get_weights(),
        "training accuracy": model.evaluate(x_train, y_train, batch_size=500, verbose=0)[1],
        "held-out accuracy": model.evaluate(x_val, y_val, batch_size=500, verbose=0)[1],
    }
# --8<-- [end:train_noisy_mlp]


# --8<-- [start:input_jacobian_norm]
import numpy as np
import tensorflow as tf


def input_jacobian_norm(model, x):
    """Mean over the images of the Frobenius norm of d(outputs)/d(inputs), inference mode."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        probabilities = model(x, training=False)
    jacobian = tape.batch_jacobian(probabilities, x)  # (images, 10, 28, 28)
    return float(tf.reduce_mean(tf.sqrt(tf.reduce_sum(jacobian**2, axis=[1, 2, 3]))))
# --8<-- [end:input_jacobian_norm]


# --8<-- [start:noise_table]
import pandas as pd

from snippets.data import notebook_subsets
from snippets.noise import KINDS, N_TRAIN, N_VALIDATION, input_jacobian_norm, noisy_mlp, train_noisy_mlp

JACOBIAN_IMAGES = 500  # the first 500 held-out images


def noise_table(seed=0):
    """Per kind of noise: accuracies and the mean input-Jacobian norm on held-out images."""
    _, (x_val, _), _ = notebook_subsets(N_TRAIN, N_VALIDATION)
    rows = {}
    for kind in KINDS:
        run = train_noisy_mlp(kind, seed)
        model = noisy_mlp(kind, seed)
        model.set_weights(run["weights"])
        rows[kind] = {
            "training accuracy": run["training accuracy"],
            "held-out accuracy": run["held-out accuracy"],
            "gap": run["training accuracy"] - run["held-out accuracy"],
            "Jacobian norm": input_jacobian_norm(model, x_val[:JACOBIAN_IMAGES]),
        }
    return pd.DataFrame(rows).T
# --8<-- [end:noise_table]
