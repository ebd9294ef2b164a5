"""Averaging and ensembles: several models' predictions, or one model's weights over time.

Demonstrations for the page docs/beyond/averaging.md, each seeded and small enough to
run in seconds on a laptop CPU. Every model is a plain ``keras.Sequential`` trained
with ``model.fit``:

* calibration: ``snippets.calibration`` (shared with the label-smoothing page).
* :func:`ensemble_against_members`: the average of the predicted probabilities of
  five seeds of a small MLP against each of the five (Lakshminarayanan et al., 2017).
* :class:`StochasticWeightAveraging`: a callback that averages the weights of the
  last epochs (Izmailov et al., 2018).
* :func:`weight_averaging`: one training's last weights, their exponential moving
  average (``use_ema=True``) and their stochastic weight average, compared.
"""

from __future__ import annotations



# --8<-- [start:swa]
import keras


class StochasticWeightAveraging(keras.callbacks.Callback):
    """Averages the model's weights at the end of every epoch from `start_epoch` on.

    Training itself is untouched; after fit, `average` holds the average and `last`
    the weights of the last epoch.
    """

    def __init__(self, start_epoch):
        super().__init__()
        self.start_epoch = start_epoch

    def on_train_begin(self, logs=None):
        self.average, self.count = None, 0

    def on_epoch_end(self, epoch, logs=None):
        self.last = self.model.get_weights()
        if epoch < self.start_epoch:  # Keras counts epochs from 0
            return
        self.count += 1
        if self.average is None:
            self.average = self.last
        else:  # running mean: a + (w - a) / n
            self.average = [a + (w - a) / self.count for a, w in zip(self.average, self.last)]
# --8<-- [end:swa]


# --8<-- [start:train_mlp]
from functools import lru_cache

import keras
import tensorflow as tf

from snippets.averaging import StochasticWeightAveraging
from snippets.data import corrupt_labels, notebook_subsets
from snippets.demo_cache import demo_cache
from snippets.pipeline import shuffled_batches

N_TRAIN = 2000  # the first 2,000 images of the training split
EPOCHS = 20
BATCH_SIZE = 32
LEARNING_RATE = 0.1  # plain SGD, kept constant: the weights keep moving to the end
EMA_MOMENTUM = 0.99  # Keras' default: each step's weights count 1% in the average
SWA_START = 10  # average the weights at the end of epochs 11 to 20
LABEL_NOISE = 0.2  # the second setting: a fifth of the training labels wrong


def mlp():
    """A small MLP: 784 pixels, one hidden layer of 128 ReLU units, 10 classes."""
    return keras.Sequential([
        keras.Input(shape=(28, 28)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


@lru_cache(maxsize=8)  # the page and the tests share one result; treat as read-only
@demo_cache  # ... and share it across processes when $HANDBOOK_DEMO_CACHE names a folder
def train_mlp(seed, label_noise=0.0):
    """Train one MLP; its last weights, their moving average and their SWA average.

    With label_noise > 0, that fraction of the training labels is replaced by wrong ones
    (the same images for every seed).
    """
    (x_train, y_train), _, _ = notebook_subsets(N_TRAIN)
    if label_noise:
        y_train = corrupt_labels(y_train, label_noise, seed=0)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = mlp()
    model.compile(
        # use_ema keeps a moving average of the weights next to them; fit writes it
        # into the model when training ends. The steps themselves are plain SGD.
        optimizer=keras.optimizers.SGD(LEARNING_RATE, use_ema=True, ema_momentum=EMA_MOMENTUM),
        loss="sparse_categorical_crossentropy",
        steps_per_execution=16,  # 16 steps per call from Python: faster, same math
    )
    swa = StochasticWeightAveraging(start_epoch=SWA_START)
    model.fit(
        shuffled_batches(x_train, y_train, seed, BATCH_SIZE),
        epochs=EPOCHS,
        shuffle=False,  # the pipeline shuffles
        callbacks=[swa],
        verbose=0,
    )
    return {"last": swa.last, "EMA": model.get_weights(), "SWA": swa.average}
# --8<-- [end:train_mlp]


# --8<-- [start:evaluate]
import keras
import numpy as np

from snippets.averaging import mlp
from snippets.calibration import expected_calibration_error


def scores(probabilities, labels):
    """Test accuracy, mean confidence, test loss (cross-entropy), expected calibration error."""
    loss = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
    return {
        "test accuracy": float((probabilities.argmax(axis=1) == labels).mean()),
        "confidence": float(probabilities.max(axis=1).mean()),
        "test loss": float(np.mean(loss)),
        "ECE": expected_calibration_error(probabilities, labels),
    }


def predict(weights, x):
    """The MLP's predicted probabilities with the given weights."""
    model = mlp()
    model.set_weights(weights)
    return keras.ops.convert_to_numpy(model(x))
# --8<-- [end:evaluate]


# --8<-- [start:ensemble]
from functools import lru_cache

import numpy as np
import pandas as pd

from snippets.averaging import predict, scores, train_mlp
from snippets.data import notebook_subsets

SEEDS = (0, 1, 2, 3, 4)


@lru_cache(maxsize=4)  # the page and the tests share one result; treat as read-only
def ensemble_against_members(label_noise=0.0, seeds=SEEDS):
    """Each seed's model on the test set, and the ensemble: their probabilities averaged."""
    _, _, (x_test, y_test) = notebook_subsets()
    members = [predict(train_mlp(seed, label_noise)["last"], x_test) for seed in seeds]
    rows = {f"seed {seed}": scores(p, y_test) for seed, p in zip(seeds, members)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.loc["members' mean"] = table.mean()
    table.loc[f"ensemble of {len(seeds)}"] = scores(np.mean(members, axis=0), y_test)
    return table
# --8<-- [end:ensemble]


# --8<-- [start:weight_averaging]
from functools import lru_cache

import pandas as pd

from snippets.averaging import SEEDS, predict, scores, train_mlp
from snippets.data import notebook_subsets


@lru_cache(maxsize=4)  # the page and the tests share one result; treat as read-only
def weight_averaging(label_noise=0.0, seeds=SEEDS):
    """Per seed, the last weights, the EMA and the SWA average on the test set; the mean over seeds."""
    _, _, (x_test, y_test) = notebook_subsets()
    rows = []
    for seed in seeds:
        for name, weights in train_mlp(seed, label_noise).items():
            rows.append({"seed": seed, "weights": name, **scores(predict(weights, x_test), y_test)})
    table = pd.DataFrame(rows)
    return table.groupby("weights", sort=False).mean().drop(columns="seed")
# --8<-- [end:weight_averaging]


# --8<-- [start:averaged_seeds]
import numpy as np

from snippets.averaging import SEEDS, predict, scores, train_mlp
from snippets.data import notebook_subsets


def average_weights_of_seeds(label_noise=0.0, seeds=SEEDS):
    """One model whose weights are the average of the seeds' last weights, on the test set."""
    _, _, (x_test, y_test) = notebook_subsets()
    members = [train_mlp(seed, label_noise)["last"] for seed in seeds]
    average = [np.mean(layer, axis=0) for layer in zip(*members)]
    return scores(predict(average, x_test), y_test)
# --8<-- [end:averaged_seeds]


# --8<-- [start:reliability]
import numpy as np

from snippets.averaging import LABEL_NOISE, SEEDS, predict, train_mlp
from snippets.calibration import reliability_bins
from snippets.data import notebook_subsets
from snippets.plotting import COLORS, Figure


def plot_reliability(noises=(0.0, LABEL_NOISE), seeds=SEEDS):
    """Accuracy against confidence, per bin: one member, the ensemble, SWA; clean and noisy labels."""
    _, _, (x_test, y_test) = notebook_subsets()
    fig = Figure(figsize=(9, 4))
    axes = fig.subplots(1, len(noises), sharey=True)
    for ax, noise in zip(axes, noises):
        members = [predict(train_mlp(seed, noise)["last"], x_test) for seed in seeds]
        curves = {
            f"one member (seed {seeds[0]})": members[0],
            f"ensemble of {len(seeds)}": np.mean(members, axis=0),
            f"SWA (seed {seeds[0]})": predict(train_mlp(seeds[0], noise)["SWA"], x_test),
        }
        ax.plot([0, 1], [0, 1], "--", color="gray", lw=1, label="calibrated")
        for (name, probabilities), color, marker in zip(curves.items(), COLORS, "osd"):
            table = reliability_bins(probabilities, y_test, bins=10).dropna()  # the bins that hold images
            ax.plot(table["confidence"], table["accuracy"], marker=marker, ms=4, color=color, label=name)
        ax.set_title(f"{noise:.0%} of the training labels wrong")
        ax.set_xlabel("confidence (bin mean)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy in the bin")
    axes[-1].legend(loc="lower right")
    fig.tight_layout()
    return fig
# --8<-- [end:reliability]
