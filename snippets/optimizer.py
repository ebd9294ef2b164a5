"""The optimizer as a regularizer: batch size, learning rate, sharpness, SAM.

Demonstrations for the page docs/beyond/optimizer.md, each seeded and small enough
to run in seconds on a laptop CPU. Every model is a plain ``keras.Sequential`` (or a
small ``keras.Model`` wrapper around one) trained with ``model.fit``:

* :func:`batch_size_and_learning_rate`: the same MLP trained for the same number of
  epochs with three (batch size, learning rate) pairs; test accuracy follows the ratio
  learning rate / batch size (Smith & Le, 2018) more than the batch size alone.
* :func:`sharpness`: how much the training loss rises when the weights are moved
  a little at random; a crude measure of how flat the solution is (Keskar et al., 2017).
* :class:`SAM`: sharpness-aware minimization (Foret et al., 2021) as a ``train_step``.
"""

from __future__ import annotations

# --8<-- [start:sam]
import keras
import tensorflow as tf


class SAM(keras.Model):
    """Sharpness-aware minimization (Foret et al., 2021) around any Keras model.

    Each step: the gradient g at w; a step up to w + rho * g / ||g||, the point of
    highest loss nearby (to first order); the gradient there; back to w; and the
    optimizer applies that second gradient to w.
    """

    def __init__(self, model, rho=0.05):
        super().__init__()
        self.model, self.rho = model, rho

    def call(self, x, training=False):
        return self.model(x, training=training)

    def train_step(self, data):
        x, y = data
        weights = self.trainable_variables
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred)
        grads = tape.gradient(loss, weights)

        scale = self.rho / (tf.linalg.global_norm(grads) + 1e-12)
        steps = [g * scale for g in grads]
        for w, e in zip(weights, steps):
            w.assign_add(e)  # climb to w + rho * g / ||g||
        with tf.GradientTape() as tape:
            sharp_loss = self.compute_loss(x=x, y=y, y_pred=self(x, training=True))
        sharp_grads = tape.gradient(sharp_loss, weights)
        for w, e in zip(weights, steps):
            w.assign_sub(e)  # back to w
        self.optimizer.apply_gradients(zip(sharp_grads, weights))

        for metric in self.metrics:  # Keras' loss tracker and the compiled metrics, at w
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {metric.name: metric.result() for metric in self.metrics}
# --8<-- [end:sam]


# --8<-- [start:train_mlp]
from functools import lru_cache

import keras
import tensorflow as tf

from snippets.data import notebook_subsets
from snippets.demo_cache import demo_cache
from snippets.optimizer import SAM
from snippets.pipeline import shuffled_batches

N_TRAIN = 2000  # the first 2,000 images of the training split
EPOCHS = 20
HIDDEN_UNITS = 128


def mlp():
    """A small MLP: 784 pixels, one hidden layer of 128 ReLU units, 10 classes."""
    return keras.Sequential([
        keras.Input(shape=(28, 28)),
        keras.layers.Flatten(),
        keras.layers.Dense(HIDDEN_UNITS, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


@lru_cache(maxsize=16)  # the page and the tests share one result; treat as read-only
@demo_cache  # ... and share it across processes when $HANDBOOK_DEMO_CACHE names a folder
def train_mlp(batch_size, learning_rate, rho=0.0, seed=0):
    """Train the MLP with plain SGD (SAM when rho > 0); its weights and history."""
    (x_train, y_train), _, _ = notebook_subsets(N_TRAIN)
    keras.utils.set_random_seed(seed)  # the same initial weights for every setting
    tf.config.experimental.enable_op_determinism()
    model = SAM(mlp(), rho) if rho > 0 else mlp()
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=16,  # 16 steps per call from Python: faster, same math
    )
    history = model.fit(
        shuffled_batches(x_train, y_train, seed, batch_size),
        epochs=EPOCHS,
        shuffle=False,  # the pipeline shuffles
        verbose=0,
    )
    return model.get_weights(), history.history
# --8<-- [end:train_mlp]


# --8<-- [start:sharpness]
import keras
import numpy as np


def sharpness(model, x, y, sigma=0.2, draws=10, seed=0):
    """Mean rise of the loss on (x, y) when every weight w moves to w * (1 + sigma * noise).

    The noise is standard normal, drawn anew for each of `draws` perturbations; scaling
    it by |w| makes the measure indifferent to the overall size of each weight.
    """
    rng = np.random.default_rng(seed)
    loss = keras.losses.SparseCategoricalCrossentropy()
    weights = model.get_weights()
    base = float(loss(y, model(x)))
    rises = []
    for _ in range(draws):
        model.set_weights([w * (1 + sigma * rng.standard_normal(w.shape)).astype(w.dtype) for w in weights])
        rises.append(float(loss(y, model(x))) - base)
    model.set_weights(weights)
    return float(np.mean(rises))
# --8<-- [end:sharpness]


# --8<-- [start:measure]
import numpy as np

from snippets.data import notebook_subsets
from snippets.optimizer import N_TRAIN, mlp, sharpness, train_mlp


def measure(batch_size, learning_rate, rho=0.0, seed=0):
    """Train (cached) and measure: training and test accuracy, test loss, sharpness."""
    weights, history = train_mlp(batch_size, learning_rate, rho, seed)
    (x_train, y_train), _, (x_test, y_test) = notebook_subsets(N_TRAIN)
    model = mlp()
    model.set_weights(weights)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    train_loss, train_accuracy = model.evaluate(x_train, y_train, batch_size=1000, verbose=0)
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    return {
        "steps": len(history["loss"]) * int(np.ceil(N_TRAIN / batch_size)),
        "train accuracy": train_accuracy,
        "test accuracy": test_accuracy,
        "test loss": test_loss,
        "sharpness": sharpness(model, x_train, y_train),
    }
# --8<-- [end:measure]


# --8<-- [start:batch_size_and_learning_rate]
from functools import lru_cache

import pandas as pd

from snippets.optimizer import measure

SETTINGS = ((32, 0.05), (256, 0.05), (256, 0.4))  # (batch size, learning rate)


@lru_cache(maxsize=2)  # the page and the tests share one result; treat as read-only
def batch_size_and_learning_rate(settings=SETTINGS, seed=0):
    """One row per (batch size, learning rate): the noise scale lr / B and the measures."""
    rows = {(b, lr): {"lr / B": lr / b, **measure(b, lr, seed=seed)} for b, lr in settings}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["batch size", "learning rate"]
    return table
# --8<-- [end:batch_size_and_learning_rate]


# --8<-- [start:sam_against_sgd]
from functools import lru_cache

import pandas as pd

from snippets.optimizer import measure

RHOS = (0.05, 0.2)  # SAM's neighbourhood radius; Foret et al. tune it from 0.01 to 0.5


@lru_cache(maxsize=2)  # the page and the tests share one result; treat as read-only
def sam_against_sgd(batch_size=32, learning_rate=0.05, rhos=RHOS, seed=0):
    """Plain SGD (rho 0) and SAM with each rho, same data, seed and settings."""
    rows = {rho: measure(batch_size, learning_rate, rho, seed) for rho in (0.0, *rhos)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "rho"
    return table
# --8<-- [end:sam_against_sgd]


# --8<-- [start:loss_profile]
import keras
import numpy as np

from snippets.data import notebook_subsets
from snippets.optimizer import N_TRAIN, mlp, train_mlp
from snippets.plotting import COLORS, Figure

STEPS = np.linspace(-0.5, 0.5, 21)  # t: how far along the direction, relative to each |w|; t = 0 in the middle
PROFILED = {  # label: (batch size, learning rate, rho)
    "SGD, batch 32": (32, 0.05, 0.0),
    "SGD, batch 256": (256, 0.05, 0.0),
    "SAM (rho 0.2), batch 32": (32, 0.05, 0.2),
}


def loss_profile(weights, x, y, steps=STEPS, seed=0):
    """Training loss at w * (1 + t * z) for each t, along one random normal direction z."""
    rng = np.random.default_rng(seed)
    direction = [rng.standard_normal(w.shape).astype(w.dtype) for w in weights]
    model, loss = mlp(), keras.losses.SparseCategoricalCrossentropy()
    profile = []
    for t in steps:
        model.set_weights([w * (1 + t * z) for w, z in zip(weights, direction)])
        profile.append(float(loss(y, model(x))))
    return np.array(profile)


def plot_loss_profiles(profiled=PROFILED):
    """The rise of the training loss along a random direction around each solution."""
    (x_train, y_train), _, _ = notebook_subsets(N_TRAIN)
    fig = Figure(figsize=(6, 3.8))
    ax = fig.subplots()
    for (label, setting), color in zip(profiled.items(), COLORS):
        weights, _ = train_mlp(*setting)
        profile = loss_profile(weights, x_train, y_train)
        ax.plot(STEPS, profile - profile[len(STEPS) // 2], "-o", ms=3, color=color, label=label)
    ax.set_xlabel("t (each weight w moved to w · (1 + t z))")
    ax.set_ylabel("training loss minus its value at t = 0")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
# --8<-- [end:loss_profile]
