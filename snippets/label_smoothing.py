"""Label smoothing: softer targets, what they do to confidence, calibration and noisy labels.

Demonstrations for the label-smoothing page, each seeded and small:

* :func:`smoothing_loss_check`: Keras' ``CategoricalCrossentropy(label_smoothing=alpha)``
  is the cross-entropy against the targets ``(1 - alpha) * one_hot + alpha / K``.
* :func:`train_smoothed_mlp`: the notebook's MLP trained with ``fit`` on a small MNIST
  subset, with and without smoothing, on clean or corrupted labels.
* :func:`calibration_table`: accuracy, confidence
  and expected calibration error (15 bins, ``snippets.calibration``) on held-out images; a
  reliability diagram.
* :func:`noisy_label_table`: with a share of wrong training labels, how many of them each
  model learns and how it does on held-out images.
"""

from __future__ import annotations

# --8<-- [start:smoothed_targets]
import keras
import numpy as np


def smoothed_targets(labels, alpha, classes=10):
    """One-hot targets with a share ``alpha`` of the mass spread evenly over all classes."""
    one_hot = keras.utils.to_categorical(labels, classes)
    return (1.0 - alpha) * one_hot + alpha / classes


def smoothing_loss_check(alpha=0.1, seed=0):
    """Keras' smoothed cross-entropy next to the cross-entropy against smoothed targets."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=5)
    probabilities = rng.dirichlet(np.ones(10), size=5).astype("float32")  # any predictions
    keras_loss = keras.losses.CategoricalCrossentropy(label_smoothing=alpha)
    by_keras = float(keras_loss(keras.utils.to_categorical(labels, 10), probabilities))
    by_hand = float(np.mean(-np.sum(smoothed_targets(labels, alpha) * np.log(probabilities), axis=1)))
    return {"Keras, label_smoothing": by_keras, "by hand, smoothed targets": by_hand}
# --8<-- [end:smoothed_targets]


# --8<-- [start:best_prediction]
import numpy as np


def best_prediction(alpha, classes=10):
    """The prediction that minimizes the smoothed loss: the smoothed target itself.

    Returns the probability it gives the labelled class and the gap between the
    labelled class's logit and every other logit, which stays finite when alpha > 0.
    """
    top = 1.0 - alpha + alpha / classes
    other = alpha / classes
    return {"probability of the label": top, "logit gap": float(np.log(top / other)) if alpha else float("inf")}
# --8<-- [end:best_prediction]


# --8<-- [start:train_smoothed_mlp]
from functools import lru_cache

import keras

from snippets.data import corrupt_labels, notebook_subsets
from snippets.demo_cache import demo_cache
from snippets.pipeline import shuffled_batches

N_TRAIN = 2000  # the first 2,000 images of the training split
N_VALIDATION = 2000  # the first 2,000 validation images: the held-out images of this page
EPOCHS = 15
BATCH_SIZE = 32
LEARNING_RATE = 0.05  # plain SGD


def mlp():
    """The notebook's 784-300-100-10 MLP."""
    return keras.Sequential([
        keras.Input(shape=(28, 28)),
        keras.layers.Flatten(),
        keras.layers.Dense(300, activation="relu"),
        keras.layers.Dense(100, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


@lru_cache(maxsize=8)  # the page and the tests share one training per setting
@demo_cache  # ... and share it across processes when $HANDBOOK_DEMO_CACHE names a folder
def train_smoothed_mlp(alpha, label_noise=0.0, seed=0):
    """Train with smoothing ``alpha`` on labels of which a share ``label_noise`` is wrong.

    Returns the predicted probabilities on the held-out images and on the training
    images, and the training labels the model was given.
    """
    (x_train, y_train), (x_val, y_val), _ = notebook_subsets(N_TRAIN, N_VALIDATION)
    given = corrupt_labels(y_train, label_noise, seed) if label_noise else y_train
    keras.utils.set_random_seed(seed)  # same seed, same initial weights for every alpha
    model = mlp()
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE),
        # SparseCategoricalCrossentropy has no label_smoothing: the labels go in one-hot.
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=alpha),
        metrics=["accuracy"],
        steps_per_execution=32,  # 32 SGD steps per call from Python: faster, same math
    )
    model.fit(
        shuffled_batches(x_train, keras.utils.to_categorical(given, 10), seed, BATCH_SIZE),
        epochs=EPOCHS,
        shuffle=False,  # the pipeline shuffles
        verbose=0,
    )
    return {
        "held-out probabilities": model.predict(x_val, batch_size=500, verbose=0),
        "training probabilities": model.predict(x_train, batch_size=500, verbose=0),
        "given labels": given,
    }
# --8<-- [end:train_smoothed_mlp]




# --8<-- [start:calibration_table]
import pandas as pd

from snippets.data import notebook_subsets
from snippets.calibration import expected_calibration_error
from snippets.label_smoothing import N_TRAIN, N_VALIDATION, train_smoothed_mlp

ALPHAS = (0.0, 0.1)


def calibration_table(alphas=ALPHAS, seed=0):
    """Accuracy, mean confidence and ECE on the held-out images, per smoothing alpha."""
    _, (_, y_val), _ = notebook_subsets(N_TRAIN, N_VALIDATION)
    rows = {}
    for alpha in alphas:
        probabilities = train_smoothed_mlp(alpha, seed=seed)["held-out probabilities"]
        rows[alpha] = {
            "accuracy": (probabilities.argmax(axis=1) == y_val).mean(),
            "mean confidence": probabilities.max(axis=1).mean(),
            "highest confidence": probabilities.max(),
            "ECE (15 bins)": expected_calibration_error(probabilities, y_val),
        }
    return pd.DataFrame(rows).T.rename_axis("alpha")
# --8<-- [end:calibration_table]


# --8<-- [start:plot_reliability]
from snippets.data import notebook_subsets
from snippets.calibration import reliability_bins
from snippets.label_smoothing import ALPHAS, N_TRAIN, N_VALIDATION, train_smoothed_mlp
from snippets.plotting import COLORS, Figure


def plot_reliability(alphas=ALPHAS, seed=0, bins=15):
    """Reliability diagrams: accuracy against confidence per bin, one panel per alpha."""
    _, (_, y_val), _ = notebook_subsets(N_TRAIN, N_VALIDATION)
    fig = Figure(figsize=(8, 3.8))
    axes = fig.subplots(1, len(alphas), sharey=True)
    for ax, alpha, color in zip(axes, alphas, COLORS):
        probabilities = train_smoothed_mlp(alpha, seed=seed)["held-out probabilities"]
        table = reliability_bins(probabilities, y_val, bins).dropna()
        ax.bar(table["from"], table["accuracy"], width=1 / bins, align="edge",
               color=color, alpha=0.7, edgecolor="white", label="accuracy in the bin")
        ax.plot(table["confidence"], table["accuracy"], "o", color="black", markersize=3,
                label="(mean confidence, accuracy)")
        ax.plot([0, 1], [0, 1], "--", color="gray", linewidth=1, label="perfect calibration")
        ax.set_title(f"label_smoothing={alpha:g}")
        ax.set_xlabel("confidence (largest probability)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("accuracy")
    axes[0].legend(loc="upper left", fontsize=8)
    return fig
# --8<-- [end:plot_reliability]


# --8<-- [start:noisy_label_table]
import pandas as pd

from snippets.data import notebook_subsets
from snippets.label_smoothing import N_TRAIN, N_VALIDATION, train_smoothed_mlp

LABEL_NOISE = 0.4  # 40% of the training labels replaced by a wrong class
NOISY_ALPHAS = (0.0, 0.1, 0.3)


def noisy_label_table(alphas=NOISY_ALPHAS, label_noise=LABEL_NOISE, seed=0):
    """Per alpha, trained on corrupted labels: how many wrong labels the model learned,
    its accuracy against the true training labels, and on the held-out images."""
    (_, y_train), (_, y_val), _ = notebook_subsets(N_TRAIN, N_VALIDATION)
    rows = {}
    for alpha in alphas:
        run = train_smoothed_mlp(alpha, label_noise=label_noise, seed=seed)
        wrong = run["given labels"] != y_train
        predicted = run["training probabilities"].argmax(axis=1)
        held_out = run["held-out probabilities"]
        rows[alpha] = {
            "wrong labels learned": (predicted[wrong] == run["given labels"][wrong]).mean(),
            "true training labels": (predicted == y_train).mean(),
            "held-out accuracy": (held_out.argmax(axis=1) == y_val).mean(),
        }
    return pd.DataFrame(rows).T.rename_axis("alpha")
# --8<-- [end:noisy_label_table]
