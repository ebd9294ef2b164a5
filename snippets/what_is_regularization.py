"""Overfitting made visible: an MLP memorizes wrong labels and random labels.

Two small experiments on MNIST, each a few seconds on a CPU:

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

from functools import lru_cache

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from snippets.demo_cache import demo_cache

TRAIN_SIZE = 600  # training images in the memorization study
LABEL_NOISE = 0.4  # fraction of them whose label is replaced by a wrong one
VALIDATION_SIZE = 2000  # clean held-out images: the notebook's validation split, first 2,000
EPOCHS = 40
LEARNING_RATE = 5e-4  # Adam: fast enough to memorize within seconds
#: The models compared, as keyword arguments of snippets.models.build_mlp.
REGULARIZERS = {
    "none": {},
    "dropout 0.5": {"dropout": 0.5},
    "L2 0.03": {"l2": 0.03},
}
RANDOM_LABEL_TRAIN_SIZE = 300
RANDOM_LABEL_EPOCHS = 30


# --8<-- [start:corrupt_labels]
import numpy as np


def corrupt_labels(labels, fraction, rng):
    """Replace the labels of a random ``fraction`` of the examples by a *wrong* class.

    Returns the noisy labels and a boolean mask of the examples that were changed.
    Adding 1..9 modulo 10 guarantees that every changed label is wrong.
    """
    labels = np.asarray(labels)
    changed = np.zeros(len(labels), dtype=bool)
    changed[rng.permutation(len(labels))[: round(fraction * len(labels))]] = True
    noisy = labels.copy()
    noisy[changed] = (labels[changed] + rng.integers(1, 10, size=changed.sum())) % 10
    return noisy, changed
# --8<-- [end:corrupt_labels]


def noisy_mnist_subset(train_size=TRAIN_SIZE, label_noise=LABEL_NOISE, validation_size=VALIDATION_SIZE, seed=0):
    """A small MNIST training set with corrupted labels, and a clean validation set.

    The training images are drawn at random from the notebook's training split
    (images 5,000 onwards); the validation images are the first ``validation_size``
    of its validation split, with their true labels.
    """
    from snippets.data import load_mnist, notebook_split

    (x_all, y_all), _ = load_mnist()
    (x_pool, y_pool), (x_val, y_val) = notebook_split(x_all, y_all)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(x_pool), size=train_size, replace=False)
    x_train, y_true = x_pool[pick], y_pool[pick]
    y_noisy, changed = corrupt_labels(y_true, label_noise, rng)
    return {
        "x_train": x_train,
        "y_noisy": y_noisy,
        "y_true": y_true,
        "changed": changed,
        "x_val": x_val[:validation_size],
        "y_val": y_val[:validation_size],
    }


# --8<-- [start:fit_noisy]
import keras

from snippets.models import build_mlp
from snippets.data import as_float_images
from snippets.training import (EvaluateEachEpoch, compile_like_notebook,
                               seed_everything, train)


def fit_noisy_labels(data, regularizer, *, epochs=40, learning_rate=5e-4, seed=0):
    """Train the 784-300-100-10 MLP on the noisy labels; return the model and its history.

    ``regularizer`` holds build_mlp's keyword arguments, e.g. {"dropout": 0.5}
    or {"l2": 0.03}; {} is the plain model. The history records, after every
    epoch and in inference mode, the accuracy on the training images against
    their (noisy) training labels (``fit_accuracy``) and on the clean
    validation images (``val_accuracy``).
    """
    seed_everything(seed)
    model = build_mlp(**regularizer)
    compile_like_notebook(model, optimizer=keras.optimizers.Adam(learning_rate))
    x_train = as_float_images(data["x_train"])
    history = train(
        model,
        (x_train, data["y_noisy"]),
        (data["x_val"], data["y_val"]),
        seed=seed,
        epochs=epochs,
        batch_size=32,
        # Keras' own "accuracy" is a running mean with dropout active; measure it properly.
        callbacks=[EvaluateEachEpoch(x_train, data["y_noisy"], prefix="fit")],
    )
    return model, history
# --8<-- [end:fit_noisy]


@lru_cache(maxsize=4)
@demo_cache
def _memorization_study(seed, epochs):
    data = noisy_mnist_subset(seed=seed)
    x_train = data["x_train"]
    curves, summary = [], []
    for name, regularizer in REGULARIZERS.items():
        model, history = fit_noisy_labels(data, regularizer, epochs=epochs, learning_rate=LEARNING_RATE, seed=seed)
        predicted = model.predict(as_float_images(x_train), batch_size=1024, verbose=0).argmax(axis=1)
        changed = data["changed"]
        validation = np.array(history["val_accuracy"])
        summary.append({
            "regularizer": name,
            "train acc (given labels)": history["fit_accuracy"][-1],
            "wrong labels reproduced": np.mean(predicted[changed] == data["y_noisy"][changed]),
            "true labels recovered": np.mean(predicted[changed] == data["y_true"][changed]),
            "best val acc": validation.max(),
            "best epoch": int(validation.argmax()) + 1,
            "final val acc": validation[-1],
        })
        for epoch, (fit, val) in enumerate(zip(history["fit_accuracy"], history["val_accuracy"]), start=1):
            curves.append({"regularizer": name, "epoch": epoch, "train_accuracy": fit, "val_accuracy": val})
    return pd.DataFrame(summary).set_index("regularizer"), pd.DataFrame(curves)


def memorization_study(seed=0, epochs=EPOCHS):
    """Train every model of REGULARIZERS on the same noisy set; return (summary, curves).

    ``summary`` has one row per model: its final accuracy on the training labels
    it was given, how many of the *wrong* labels its predictions reproduce and how
    many of those images it classifies correctly anyway, its best validation
    accuracy (and epoch) and its final validation accuracy. ``curves`` has one row
    per model and epoch.
    """
    summary, curves = _memorization_study(seed, epochs)
    return summary.copy(), curves.copy()


def plot_memorization(curves: pd.DataFrame) -> Figure:
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


# --8<-- [start:random_labels]
import keras
import numpy as np

from snippets.data import load_mnist
from snippets.models import build_mlp
from snippets.training import compile_like_notebook, evaluate, seed_everything, train


def fit_labels(x_train, labels, held_out, *, epochs=30, seed=0):
    """Train the plain MLP (no regularization) on the given labels; return its history."""
    seed_everything(seed)
    model = build_mlp()
    compile_like_notebook(model, optimizer=keras.optimizers.Adam(1e-3))
    history = train(model, (x_train, labels), held_out, seed=seed, epochs=epochs)
    return model, history


def random_labels_experiment(train_size=300, epochs=30, seed=0):
    """Fit the same images once with their true labels and once with random labels."""
    (x_all, y_all), (x_test, y_test) = load_mnist()
    rng = np.random.default_rng(seed)
    pick = 5000 + rng.choice(len(x_all) - 5000, size=train_size, replace=False)
    x_train, y_train = x_all[pick], y_all[pick]
    random_labels = rng.integers(0, 10, size=train_size)  # independent of the images
    held_out = (x_all[:2000], y_all[:2000])  # validation images, true labels, every epoch
    results = {}
    for name, labels in (("true labels", y_train), ("random labels", random_labels)):
        model, history = fit_labels(x_train, labels, held_out, epochs=epochs, seed=seed)
        results[name] = {
            "history": history,
            "train acc": evaluate(model, (x_train, labels))["accuracy"],
            "test acc": evaluate(model, (x_test, y_test))["accuracy"],  # 10,000 unseen images
        }
    return results
# --8<-- [end:random_labels]


@lru_cache(maxsize=4)
@demo_cache
def _random_label_study(train_size, epochs, seed):
    results = random_labels_experiment(train_size, epochs, seed)
    summary = pd.DataFrame(
        {
            name: {
                "train acc": r["train acc"],
                "test acc": r["test acc"],
                "epochs to 95% train acc": _first_epoch_reaching(r["history"]["accuracy"], 0.95),
            }
            for name, r in results.items()
        }
    ).T
    curves = pd.DataFrame(
        [
            {"labels": name, "epoch": epoch, "train_accuracy": fit, "val_accuracy": val}
            for name, r in results.items()
            for epoch, (fit, val) in enumerate(zip(r["history"]["accuracy"], r["history"]["val_accuracy"]), 1)
        ]
    )
    return summary, curves


def random_label_study(train_size=RANDOM_LABEL_TRAIN_SIZE, epochs=RANDOM_LABEL_EPOCHS, seed=0):
    """Summary (final train and test accuracy, epochs to fit) and per-epoch curves, cached."""
    summary, curves = _random_label_study(train_size, epochs, seed)
    return summary.copy(), curves.copy()


def _first_epoch_reaching(accuracies, level):
    reached = [epoch for epoch, accuracy in enumerate(accuracies, start=1) if accuracy >= level]
    return reached[0] if reached else float("nan")


def plot_random_labels(curves: pd.DataFrame) -> Figure:
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
