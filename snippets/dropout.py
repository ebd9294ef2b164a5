"""Dropout: what the layer does in training and at inference, and what follows from it.

Demonstrations for the dropout chapter, each seeded and small enough to run in
seconds on a laptop CPU. Every model is a plain ``keras.Sequential`` trained with
``model.fit``:

* :func:`keras_dropout_train_vs_inference`: ``keras.layers.Dropout`` zeroes a
  fraction ``rate`` of its inputs in training, scales the survivors by
  ``1 / (1 - rate)``, and is the identity at inference (inverted dropout).
* :func:`monte_carlo_dropout`: many stochastic forward passes of a trained
  dropout MLP average close to the single deterministic pass; their spread is a
  cheap uncertainty estimate (Gal & Ghahramani, 2016).
* :func:`training_curves`: the same MLP and data with and without dropout; the
  training loss falls more slowly with dropout.
* :func:`variance_shift`: dropout placed in front of batch normalization makes the
  batch-norm layer learn a variance that does not hold at inference (Li et al., 2019).
"""

from __future__ import annotations

# --8<-- [start:dropout_forward]
import numpy as np


def dropout_forward(h, rate, *, training, rng, inverted=True):
    """Apply dropout with drop probability ``rate`` to the activations ``h``.

    inverted=True  (Keras, PyTorch): keep each unit with probability 1 - rate and
                   divide the survivors by 1 - rate in training; identity at inference.
    inverted=False (Srivastava et al., 2014): keep units without rescaling in
                   training; multiply by the retain probability 1 - rate at inference.
    Both give inference outputs equal to the expected training output.
    """
    keep = 1.0 - rate
    if training:
        mask = rng.random(np.shape(h)) < keep  # m ~ Bernoulli(1 - rate), one draw per unit
        return h * mask / keep if inverted else h * mask
    return h if inverted else h * keep
# --8<-- [end:dropout_forward]

# --8<-- [start:expectation]
import numpy as np


def expectation_matches_inference(rate=0.5, draws=200_000, seed=0):
    """For both conventions: one unit (activation 3.0) under many masks, the mean
    training output next to the inference output."""
    rng = np.random.default_rng(seed)
    h = np.full(draws, 3.0)
    rows = {}
    for inverted, name in ((True, "inverted (Keras)"), (False, "original (test-time scaling)")):
        train = dropout_forward(h, rate, training=True, rng=rng, inverted=inverted)
        infer = dropout_forward(h[:1], rate, training=False, rng=rng, inverted=inverted)
        rows[name] = (float(train.mean()), float(infer[0]))
    return rows
# --8<-- [end:expectation]


# --8<-- [start:keras_dropout]
import keras
import numpy as np


def keras_dropout_train_vs_inference(rate=0.5, size=10_000, seed=0):
    """Run keras.layers.Dropout on ones, once in training mode, once in inference mode."""
    layer = keras.layers.Dropout(rate, seed=seed)
    ones = np.ones((1, size), dtype="float32")
    trained = keras.ops.convert_to_numpy(layer(ones, training=True))
    inferred = keras.ops.convert_to_numpy(layer(ones, training=False))
    return {
        "zeros in training": int((trained == 0).sum()),
        "survivor values": tuple(float(v) for v in np.unique(trained[trained != 0])),
        "training mean": round(float(trained.mean()), 4),
        "inference output equals input": bool(np.array_equal(inferred, ones)),
    }
# --8<-- [end:keras_dropout]



# --8<-- [start:train_dropout_mlp]
from functools import lru_cache

import keras
import tensorflow as tf

from snippets.data import notebook_subsets
from snippets.demo_cache import demo_cache
from snippets.pipeline import shuffled_batches

N_TRAIN = 2000  # the first 2,000 images of the training split
N_VALIDATION = 1000  # and the first 1,000 of the validation split
EPOCHS = 10
BATCH_SIZE = 32
LEARNING_RATE = 0.05  # plain SGD; larger than the notebook's 0.01 so that ten epochs fit well


def dropout_mlp(rate, seed=0):
    """The notebook's 784-300-100-10 MLP with Dropout(rate) after each hidden layer.

    Dropout(0.0) passes everything through. The dropout layers get seeds of their own,
    so they draw nothing from the global seed: every rate starts from the same weights.
    """
    return keras.Sequential([
        keras.Input(shape=(28, 28)),
        keras.layers.Flatten(),
        keras.layers.Dense(300, activation="relu"),
        keras.layers.Dropout(rate, seed=seed),
        keras.layers.Dense(100, activation="relu"),
        keras.layers.Dropout(rate, seed=seed + 1),
        keras.layers.Dense(10, activation="softmax"),
    ])


class CleanTrainingLoss(keras.callbacks.Callback):
    """Adds ``clean_loss`` to each epoch's logs: the training set's loss with dropout off."""

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y

    def on_epoch_end(self, epoch, logs=None):
        loss, _ = self.model.evaluate(self.x, self.y, batch_size=500, verbose=0)  # inference mode
        logs["clean_loss"] = loss


@lru_cache(maxsize=8)  # the page and the tests share one training per rate; treat as read-only
@demo_cache  # ... and share it across processes when $HANDBOOK_DEMO_CACHE names a folder
def train_dropout_mlp(rate, seed=0, epochs=EPOCHS):
    """Train ``dropout_mlp(rate)``; return its weights and its per-epoch history."""
    (x_train, y_train), (x_val, y_val), _ = notebook_subsets(N_TRAIN, N_VALIDATION)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = dropout_mlp(rate, seed)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=32,  # 32 SGD steps per call from Python: faster, same math
    )
    history = model.fit(
        shuffled_batches(x_train, y_train, seed, BATCH_SIZE),
        epochs=epochs,
        validation_data=(x_val, y_val),
        callbacks=[CleanTrainingLoss(x_train, y_train)],
        shuffle=False,  # the pipeline shuffles
        verbose=0,
    )
    return model.get_weights(), history.history
# --8<-- [end:train_dropout_mlp]


# --8<-- [start:mc_dropout]
import keras
import numpy as np


def mc_dropout_predictions(model, x, passes, seed=0, chunk=25):
    """Softmax outputs of `passes` forward passes with dropout left on: (passes, n, classes)."""
    # A copy with the same weights and freshly seeded dropout layers, so that the
    # same seed gives the same masks however often the model was called before.
    keras.utils.set_random_seed(seed)
    stochastic = keras.models.clone_model(model)
    stochastic.set_weights(model.get_weights())
    outputs = []
    for start in range(0, passes, chunk):
        k = min(chunk, passes - start)
        # Stack k copies of x in one batch: every row gets its own dropout mask.
        stacked = np.concatenate([x] * k)
        probs = keras.ops.convert_to_numpy(stochastic(stacked, training=True))
        outputs.append(probs.reshape(k, len(x), -1))
    return np.concatenate(outputs)
# --8<-- [end:mc_dropout]


# --8<-- [start:monte_carlo_dropout]
from functools import lru_cache

import numpy as np

from snippets.data import notebook_subsets
from snippets.dropout import N_VALIDATION, dropout_mlp, mc_dropout_predictions, train_dropout_mlp


@lru_cache(maxsize=4)  # the page and the tests share one result; treat as read-only
def monte_carlo_dropout(rate=0.5, seed=0, passes=(1, 3, 10, 30, 100), n_images=500):
    """Averages of T stochastic passes against the deterministic pass, on validation images."""
    weights, _ = train_dropout_mlp(rate, seed)
    model = dropout_mlp(rate, seed)
    model.set_weights(weights)
    _, (x_val, y_val), _ = notebook_subsets(validation_size=N_VALIDATION)
    x, y = x_val[:n_images], y_val[:n_images]

    deterministic = np.asarray(model(x, training=False))
    samples = mc_dropout_predictions(model, x, max(passes), seed=seed)
    average = samples.mean(axis=0)
    predicted = average.argmax(axis=1)
    correct = predicted == y
    # How much the passes disagree: the std over passes of the winning class's probability.
    spread = samples[:, np.arange(len(x)), predicted].std(axis=0)
    return {
        "mean |MC average - deterministic|": {t: float(np.abs(samples[:t].mean(axis=0) - deterministic).mean())
                                              for t in passes},
        "same predicted class": float((predicted == deterministic.argmax(axis=1)).mean()),
        "deterministic accuracy": float((deterministic.argmax(axis=1) == y).mean()),
        "MC average accuracy": float(correct.mean()),
        "spread, correct images": float(spread[correct].mean()),
        "spread, misclassified images": float(spread[~correct].mean()),
    }
# --8<-- [end:monte_carlo_dropout]


# --8<-- [start:training_curves]
import pandas as pd

from snippets.dropout import train_dropout_mlp


def training_curves(rates=(0.0, 0.5), seed=0):
    """Per epoch and rate: Keras' training loss (dropout active) and the clean one (dropout off)."""
    columns = {}
    for rate in rates:
        history = train_dropout_mlp(rate, seed)[1]
        columns[("loss", rate)] = history["loss"]
        columns[("clean loss", rate)] = history["clean_loss"]
    curves = pd.DataFrame(columns)
    curves.index = pd.RangeIndex(1, len(curves) + 1, name="epoch")
    curves.columns.names = ["", "dropout rate"]
    return curves


def epochs_to_reach(curves, rate, target):
    """The first epoch whose clean training loss is at or below ``target`` (None if none)."""
    reached = curves[("clean loss", rate)] <= target
    return int(reached.idxmax()) if reached.any() else None
# --8<-- [end:training_curves]


# --8<-- [start:plot_training_curves]
import numpy as np

from snippets.plotting import Figure


def plot_training_curves(curves):
    """Two panels: the loss the optimizer sees, and the training loss with dropout off."""
    fig = Figure(figsize=(9, 3.4))
    axes = fig.subplots(1, 2, sharey=True)
    rates = curves["loss"].columns
    for rate, style in zip(rates, ("-o", "-s", "-^", "-v")):
        label = "no dropout" if rate == 0 else f"dropout {rate:g}"
        axes[0].plot(curves.index, curves[("loss", rate)], style, ms=4, label=label)
        axes[1].plot(curves.index, curves[("clean loss", rate)], style, ms=4, label=label)
    axes[0].set_title("training loss, dropout active\n(Keras' loss)")
    axes[1].set_title("training loss, dropout off\n(evaluated after each epoch)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("cross-entropy")
    axes[1].legend()
    fig.tight_layout()
    return fig
# --8<-- [end:plot_training_curves]


# --8<-- [start:dropout_bn_order]
import keras


def dropout_and_batch_norm(order, rate=0.5, units=100):
    """An MLP with one hidden layer, dropout and batch norm in the given order."""
    if order == "dropout -> BN":
        middle = [keras.layers.Dropout(rate), keras.layers.BatchNormalization()]
    elif order == "BN -> dropout":
        middle = [keras.layers.BatchNormalization(), keras.layers.Dropout(rate)]
    else:
        raise ValueError(f"unknown order {order!r}")
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(units, activation="relu"),
            *middle,
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
# --8<-- [end:dropout_bn_order]

# --8<-- [start:variance_shift]
from functools import lru_cache

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from snippets.data import notebook_subsets
from snippets.demo_cache import demo_cache
from snippets.dropout import BATCH_SIZE, EPOCHS, LEARNING_RATE, N_TRAIN, dropout_and_batch_norm
from snippets.pipeline import shuffled_batches


@lru_cache(maxsize=4)  # the page and the tests share one result; treat as read-only
@demo_cache  # ... and share it across processes when $HANDBOOK_DEMO_CACHE names a folder
def variance_shift(rate=0.5, seed=0):
    """Train both orders; compare the variance batch norm learned with the one it gets.

    Per unit, at inference (dropout off), over the training images: the moving variance
    over the variance of batch norm's input, the ratio the formula predicts, and the
    standard deviation of batch norm's standardized output (1 when the two agree).
    The table holds the medians over the units that fire (dead ReLUs skipped).
    """
    (x_train, y_train), _, _ = notebook_subsets(N_TRAIN)
    rows = {}
    for order in ("dropout -> BN", "BN -> dropout"):
        keras.utils.set_random_seed(seed)
        tf.config.experimental.enable_op_determinism()
        model = dropout_and_batch_norm(order, rate)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE),
                      loss="sparse_categorical_crossentropy", steps_per_execution=32)
        model.fit(shuffled_batches(x_train, y_train, seed, BATCH_SIZE), epochs=EPOCHS, shuffle=False, verbose=0)

        bn = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
        h = x_train  # what reaches batch norm at inference: the layers before it, dropout off
        for layer in model.layers[: model.layers.index(bn)]:
            h = layer(h, training=False)
        h = np.asarray(h, dtype=np.float64)
        inference_var = h.var(axis=0)
        moving_var = np.asarray(bn.moving_variance, dtype=np.float64)
        if order == "dropout -> BN":  # inverted dropout keeps E[h] but inflates E[h^2] by 1/(1-p)
            predicted = ((h**2).mean(axis=0) / (1 - rate) - h.mean(axis=0) ** 2) / np.maximum(inference_var, 1e-12)
        else:
            predicted = np.ones_like(inference_var)
        # At inference batch norm divides by sqrt(moving variance + epsilon).
        output_std = np.sqrt(inference_var / (moving_var + bn.epsilon))
        live = inference_var > 1e-6
        rows[order] = {
            "moving var / inference var": np.median(moving_var[live] / inference_var[live]),
            "predicted ratio": np.median(predicted[live]),
            "BN output std at inference": np.median(output_std[live]),
        }
    return pd.DataFrame.from_dict(rows, orient="index").round(2)
# --8<-- [end:variance_shift]
