"""Overfitting made visible: an MLP memorizes wrong labels and random labels.

Two small experiments on MNIST, each a few seconds on a CPU, trained with Keras'
``fit`` exactly as the chapter shows them:

* :func:`memorization_study` - a few hundred training images, 40% of them with a
  wrong label. The plain MLP ends up reproducing the wrong labels and its
  validation accuracy falls from its early peak; dropout or an L2 penalty keep it
  from memorizing the noise.
* :func:`random_label_study` - after Zhang et al. (ICLR 2017): the same MLP fits
  labels drawn at random, so its training accuracy says nothing about its test
  accuracy, which stays at chance.

Both studies are cached (``functools.lru_cache``): the chapter's table and figure
blocks, and the tests, share one run per seed; with ``$HANDBOOK_DEMO_CACHE`` set they
also share it across processes (``snippets.demo_cache``). Treat the returned frames as
read-only.
"""

from __future__ import annotations


# --8<-- [start:fit_noisy]
import keras
import numpy as np
import tensorflow as tf

from snippets.pipeline import shuffled_batches

TRAIN_SIZE = 600  # training images in the memorization study
LABEL_NOISE = 0.4  # fraction of them whose label is replaced by a wrong one
VALIDATION_SIZE = 2000  # clean held-out images: the first 2,000 of the validation split
EPOCHS = 40
LEARNING_RATE = 0.1  # plain SGD, batches of 32
STEPS_PER_EXECUTION = 32  # batches per call into TensorFlow: faster on a CPU, same math
#: The models compared: keyword arguments of mlp() below.
REGULARIZERS = {
    "none": {},
    "dropout 0.5": {"dropout": 0.5},
    "L2 0.02": {"l2": 0.02},
}


def mlp(dropout=0.0, l2=0.0):
    """The source material's 784-300-100-10 MLP; optionally dropout after each hidden
    layer and an L2 penalty (Keras adds l2 * sum(w**2) to the loss) on every kernel."""
    penalty = keras.regularizers.L2(l2) if l2 else None
    layers = [keras.Input(shape=(28, 28)), keras.layers.Flatten()]
    for units in (300, 100):
        layers.append(keras.layers.Dense(units, activation="relu", kernel_regularizer=penalty))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(10, activation="softmax", kernel_regularizer=penalty))
    return keras.Sequential(layers)


class TrainingAccuracy(keras.callbacks.Callback):
    """Adds ``fit_accuracy`` to the history: the accuracy on (x, y) after each epoch, in
    inference mode. (Keras' own ``accuracy`` is a running mean over the epoch's batches,
    taken with dropout active.)"""

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y

    def on_epoch_end(self, epoch, logs=None):
        predicted = self.model.predict_on_batch(self.x).argmax(axis=1)  # one batch, no dropout
        logs["fit_accuracy"] = float(np.mean(predicted == self.y))


def fit_noisy_labels(x_train, y_noisy, x_val, y_val, regularizer, *, epochs=EPOCHS, seed=0):
    """Train the MLP on the noisy labels with plain SGD; return the model and its history
    (a dict of per-epoch lists: loss, accuracy, val_loss, val_accuracy, fit_accuracy)."""
    keras.utils.set_random_seed(seed)  # initial weights and dropout masks
    tf.config.experimental.enable_op_determinism()  # the same numbers on every run
    model = mlp(**regularizer)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=STEPS_PER_EXECUTION)
    history = model.fit(shuffled_batches(x_train, y_noisy, seed), epochs=epochs,
                        validation_data=(x_val, y_val), validation_batch_size=1000,
                        callbacks=[TrainingAccuracy(x_train, y_noisy)],
                        shuffle=False, verbose=0)  # shuffle=False: the pipeline shuffles
    return model, history.history
# --8<-- [end:fit_noisy]


# --8<-- [start:memorization_study]
from functools import lru_cache

import numpy as np
import pandas as pd

from snippets.data import corrupt_labels, notebook_subsets
from snippets.demo_cache import demo_cache


@lru_cache(maxsize=4)
@demo_cache
def memorization_study(seed=0):
    """Train every model of REGULARIZERS on the same noisy set; return (summary, curves):
    one row per model, and one row per model and epoch."""
    (x_train, y_true), (x_val, y_val), _ = notebook_subsets(TRAIN_SIZE, VALIDATION_SIZE)
    y_noisy = corrupt_labels(y_true, LABEL_NOISE, seed=seed)
    changed = y_noisy != y_true
    summary, curves = [], []
    for name, regularizer in REGULARIZERS.items():
        model, history = fit_noisy_labels(x_train, y_noisy, x_val, y_val, regularizer, seed=seed)
        predicted = model.predict(x_train, batch_size=1024, verbose=0).argmax(axis=1)
        validation = np.array(history["val_accuracy"])
        summary.append({
            "regularizer": name,
            "train acc (given labels)": history["fit_accuracy"][-1],
            "wrong labels reproduced": np.mean(predicted[changed] == y_noisy[changed]),
            "true labels recovered": np.mean(predicted[changed] == y_true[changed]),
            "best val acc": validation.max(),
            "best epoch": int(validation.argmax()) + 1,
            "final val acc": validation[-1],
        })
        for epoch, (fit, val) in enumerate(zip(history["fit_accuracy"], validation), start=1):
            curves.append({"regularizer": name, "epoch": epoch, "train_accuracy": fit, "val_accuracy": val})
    return pd.DataFrame(summary).set_index("regularizer"), pd.DataFrame(curves)
# --8<-- [end:memorization_study]


# --8<-- [start:plot_memorization]
from snippets.plotting import Figure


def plot_memorization(curves):
    """Training accuracy on the noisy labels and validation accuracy, per epoch and model."""
    figure = Figure(figsize=(9.0, 3.6))
    left, right = figure.subplots(1, 2, sharey=True)
    for name, run in curves.groupby("regularizer", sort=False):
        left.plot(run["epoch"], run["train_accuracy"], label=name)
        right.plot(run["epoch"], run["val_accuracy"], label=name)
    left.axhline(1 - LABEL_NOISE, color="grey", linestyle=":", label="share of correct labels")
    left.set(xlabel="epoch", ylabel="accuracy", title="training images, given (noisy) labels")
    right.set(xlabel="epoch", title="validation images, true labels")
    left.legend(fontsize="small")
    figure.tight_layout()
    return figure
# --8<-- [end:plot_memorization]


# --8<-- [start:random_labels]
from functools import lru_cache

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from snippets.data import notebook_subsets
from snippets.demo_cache import demo_cache
from snippets.pipeline import shuffled_batches

RANDOM_LABEL_TRAIN_SIZE = 300
RANDOM_LABEL_EPOCHS = 30


def fit_labels(x_train, labels, x_val, y_val, *, epochs=RANDOM_LABEL_EPOCHS, seed=0):
    """Train the plain MLP (no regularization) with Adam on the given labels."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = mlp()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=STEPS_PER_EXECUTION)
    history = model.fit(shuffled_batches(x_train, labels, seed), epochs=epochs,
                        validation_data=(x_val, y_val), validation_batch_size=1000,
                        shuffle=False, verbose=0)  # the pipeline shuffles
    return model, history.history


def first_epoch_reaching(accuracies, level):
    """The first epoch (counting from 1) whose accuracy is at least ``level``."""
    reached = [epoch for epoch, accuracy in enumerate(accuracies, start=1) if accuracy >= level]
    return reached[0] if reached else float("nan")


@lru_cache(maxsize=4)
@demo_cache
def random_label_study(train_size=RANDOM_LABEL_TRAIN_SIZE, epochs=RANDOM_LABEL_EPOCHS, seed=0):
    """Fit the same images once with their true labels and once with random labels;
    return (summary, curves): final train and test accuracy, and per-epoch accuracies."""
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = notebook_subsets(train_size, VALIDATION_SIZE)
    random_labels = np.random.default_rng(seed).integers(0, 10, size=train_size)  # independent of the images
    summary, curves = {}, []
    for name, labels in (("true labels", y_train), ("random labels", random_labels)):
        model, history = fit_labels(x_train, labels, x_val, y_val, epochs=epochs, seed=seed)
        summary[name] = {
            "train acc": model.evaluate(x_train, labels, verbose=0, return_dict=True)["accuracy"],
            "test acc": model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"],
            "epochs to 95% train acc": first_epoch_reaching(history["accuracy"], 0.95),
        }
        for epoch, (fit, val) in enumerate(zip(history["accuracy"], history["val_accuracy"]), start=1):
            curves.append({"labels": name, "epoch": epoch, "train_accuracy": fit, "val_accuracy": val})
    return pd.DataFrame(summary).T, pd.DataFrame(curves)
# --8<-- [end:random_labels]


# --8<-- [start:plot_random_labels]
from snippets.plotting import Figure


def plot_random_labels(curves):
    """Training accuracy (on the labels fitted) and held-out accuracy, true vs random labels."""
    figure = Figure(figsize=(6.4, 3.8))
    axes = figure.subplots()
    for (name, run), color in zip(curves.groupby("labels", sort=False), ("C0", "C3")):
        axes.plot(run["epoch"], run["train_accuracy"], color=color, label=f"{name}: training")
        axes.plot(run["epoch"], run["val_accuracy"], color=color, linestyle="--", label=f"{name}: held-out")
    axes.axhline(0.1, color="grey", linestyle=":", label="chance (10 classes)")
    axes.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02), title="The same MLP on true and on random labels")
    axes.legend(fontsize="small")
    return figure
# --8<-- [end:plot_random_labels]
