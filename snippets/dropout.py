"""Dropout: what the layer does in training and at inference, and what follows from it.

Four demonstrations for the dropout chapter, each seeded and small enough to run
in seconds on a laptop CPU:

* :func:`keras_dropout_train_vs_inference`: ``keras.layers.Dropout`` zeroes a
  fraction ``rate`` of its inputs in training, scales the survivors by
  ``1 / (1 - rate)``, and is the identity at inference (inverted dropout).
* :func:`monte_carlo_dropout`: many stochastic forward passes of a trained
  dropout MLP average close to the single deterministic pass; their spread is a
  cheap uncertainty estimate (Gal & Ghahramani, 2016).
* :func:`training_curves`: the same MLP and data with and without dropout; the
  training loss falls more slowly with dropout.
* :func:`dropout_batch_norm_variance_shift`: dropout placed in front of batch
  normalization makes the batch-norm layer learn a variance that does not hold at
  inference (Li et al., 2019).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from snippets.demo_cache import demo_cache

#: The small MNIST problem of the chapter: training and validation sizes, epochs.
N_TRAIN = 2000
N_VALIDATION = 1000
EPOCHS = 10
#: Plain SGD with batch 32 as in the notebook, with a larger step than its 0.01 so
#: that ten epochs on 2,000 images fit the data well.
LEARNING_RATE = 0.05


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


@dataclass(frozen=True)
class TrainVsInference:
    """What ``keras.layers.Dropout`` did to a vector of ones."""

    rate: float
    size: int
    zeros_in_training: int
    survivor_values: tuple[float, ...]
    training_mean: float
    inference_equals_input: bool

    def __str__(self) -> str:
        return "\n".join(
            [
                f"Dropout(rate={self.rate}) applied to {self.size:,} ones",
                f"training=True : {self.zeros_in_training:,} zeros "
                f"({self.zeros_in_training / self.size:.1%}), survivors equal to "
                f"{', '.join(f'{v:g}' for v in self.survivor_values)}; "
                f"mean output {self.training_mean:.4f}",
                f"training=False: output identical to the input: {self.inference_equals_input}",
            ]
        )


# --8<-- [start:keras_dropout]
import keras
import numpy as np


def keras_dropout_train_vs_inference(rate=0.5, size=10_000, seed=0):
    """Run keras.layers.Dropout on ones, once in training mode, once in inference mode."""
    layer = keras.layers.Dropout(rate, seed=seed)
    ones = np.ones((1, size), dtype="float32")
    trained = keras.ops.convert_to_numpy(layer(ones, training=True))
    inferred = keras.ops.convert_to_numpy(layer(ones, training=False))
    survivors = trained[trained != 0]
    return TrainVsInference(
        rate=rate,
        size=size,
        zeros_in_training=int((trained == 0).sum()),
        survivor_values=tuple(float(v) for v in np.unique(survivors)),
        training_mean=float(trained.mean()),
        inference_equals_input=bool(np.array_equal(inferred, ones)),
    )
# --8<-- [end:keras_dropout]


@dataclass(frozen=True)
class ExpectationCheck:
    """Mean training-mode output over many masks versus the inference output."""

    convention: str
    training_mean: float
    inference_output: float


def expectation_matches_inference(rate=0.5, draws=200_000, seed=0):
    """Both conventions: the average training output equals the inference output."""
    rng = np.random.default_rng(seed)
    h = np.full(draws, 3.0)  # one unit with activation 3.0, seen under `draws` masks
    checks = []
    for inverted, name in ((True, "inverted (Keras)"), (False, "original (test-time scaling)")):
        train = dropout_forward(h, rate, training=True, rng=rng, inverted=inverted)
        infer = dropout_forward(h[:1], rate, training=False, rng=rng, inverted=inverted)
        checks.append(ExpectationCheck(name, float(train.mean()), float(infer[0])))
    return tuple(checks)


# ---------------------------------------------------------------------------
# A small MNIST problem shared by the demonstrations below.
# ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def small_mnist(n_train: int = N_TRAIN, n_validation: int = N_VALIDATION):
    """The first ``n_train`` images of the notebook's training split and ``n_validation``
    of its validation split, as float32 in [0, 1]."""
    from snippets.data import load_mnist, notebook_split
    from snippets.data import as_float_images

    (x, y), _ = load_mnist()
    (x_train, y_train), (x_val, y_val) = notebook_split(x, y)
    return (
        (as_float_images(x_train[:n_train]), y_train[:n_train]),
        (as_float_images(x_val[:n_validation]), y_val[:n_validation]),
    )


@lru_cache(maxsize=8)
@demo_cache
def _trained_mlp(rate: float, seed: int, epochs: int, n_train: int):
    """Train the notebook's MLP with dropout ``rate``; return its weights and history.

    Cached so that the chapter's demonstrations (and their tests) train each
    configuration once per process, or once in all with ``$HANDBOOK_DEMO_CACHE``
    (``snippets.demo_cache``). Weights, not the model, are cached: callers
    rebuild a fresh model, so nothing shared can be changed by accident.
    """
    from snippets.models import build_mlp
    from snippets.training import EvaluateEachEpoch, compile_like_notebook, seed_everything, train

    train_data, validation_data = small_mnist(n_train)
    seed_everything(seed)
    model = compile_like_notebook(build_mlp(dropout=rate), learning_rate=LEARNING_RATE)
    # Keras' `loss` is measured with dropout active; `clean_loss` re-evaluates the
    # training set at the end of each epoch in inference mode (dropout off).
    history = train(
        model,
        train_data,
        validation_data,
        seed=seed,
        epochs=epochs,
        callbacks=[EvaluateEachEpoch(*train_data, prefix="clean")],
    )
    weights = tuple(w.copy() for w in model.get_weights())
    # Keep the losses and accuracies; drop the wall-clock seconds, which vary run to run.
    return weights, {name: tuple(values) for name, values in history.items() if name != "seconds"}


# ---------------------------------------------------------------------------
# (b) Monte Carlo dropout
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MonteCarloResult:
    """Averages of stochastic passes compared with the deterministic pass."""

    passes: tuple[int, ...]
    mean_abs_gap: tuple[float, ...]  # mean |MC average - deterministic| per probability
    agreement: float  # share of images where both predict the same class (most passes)
    deterministic_accuracy: float
    monte_carlo_accuracy: float
    spread_correct: float  # mean std of the winning class's probability, correct images
    spread_wrong: float  # the same on misclassified images
    n_images: int

    def __str__(self) -> str:
        rows = [f"{'passes T':>8}  {'mean |MC average - deterministic|':>34}"]
        rows += [f"{t:>8}  {gap:>34.4f}" for t, gap in zip(self.passes, self.mean_abs_gap)]
        return "\n".join(
            rows
            + [
                "",
                f"same predicted class (T={self.passes[-1]}): {self.agreement:.1%} of {self.n_images} images",
                f"accuracy: deterministic {self.deterministic_accuracy:.1%}, "
                f"MC average {self.monte_carlo_accuracy:.1%}",
                f"spread (std over passes of the predicted class's probability): "
                f"correct images {self.spread_correct:.3f}, misclassified {self.spread_wrong:.3f}",
            ]
        )


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


@lru_cache(maxsize=4)
def monte_carlo_dropout(
    rate=0.5, seed=0, passes=(1, 3, 10, 30, 100), n_images=500, epochs=EPOCHS, n_train=N_TRAIN
) -> MonteCarloResult:
    """Train a dropout MLP, then compare MC averages of T passes with the deterministic pass."""
    import keras

    from snippets.models import build_mlp

    weights, _ = _trained_mlp(rate, seed, epochs, n_train)
    model = build_mlp(dropout=rate)
    model.set_weights(list(weights))
    _, (x_val, y_val) = small_mnist(n_train)
    x, y = x_val[:n_images], y_val[:n_images]

    deterministic = keras.ops.convert_to_numpy(model(x, training=False))
    samples = mc_dropout_predictions(model, x, max(passes), seed=seed)
    gaps = tuple(float(np.abs(samples[:t].mean(axis=0) - deterministic).mean()) for t in passes)
    average = samples.mean(axis=0)
    predicted = average.argmax(axis=1)
    spread = samples[:, np.arange(len(x)), predicted].std(axis=0)
    correct = predicted == y
    return MonteCarloResult(
        passes=tuple(passes),
        mean_abs_gap=gaps,
        agreement=float((predicted == deterministic.argmax(axis=1)).mean()),
        deterministic_accuracy=float((deterministic.argmax(axis=1) == y).mean()),
        monte_carlo_accuracy=float(correct.mean()),
        spread_correct=float(spread[correct].mean()),
        spread_wrong=float(spread[~correct].mean()),
        n_images=len(x),
    )


# ---------------------------------------------------------------------------
# (c) Dropout slows the decrease of the training loss
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingCurves:
    """Per-epoch losses of the same MLP trained with each dropout rate."""

    rates: tuple[float, ...]
    loss: dict  # rate -> Keras' training loss (dropout active, running mean over the epoch)
    clean_loss: dict  # rate -> training-set loss at the epoch's end, dropout off
    val_loss: dict  # rate -> validation loss at the epoch's end

    @property
    def epochs(self) -> int:
        return len(self.loss[self.rates[0]])

    def epochs_to_reach(self, rate: float, target: float) -> int | None:
        """First epoch (1-based) whose clean training loss is at or below ``target``."""
        for epoch, value in enumerate(self.clean_loss[rate], start=1):
            if value <= target:
                return epoch
        return None

    def table(self) -> str:
        head = "epoch" + "".join(
            f"  {'loss r=' + format(r, 'g'):>11}  {'clean r=' + format(r, 'g'):>11}" for r in self.rates
        )
        rows = [head]
        for e in range(self.epochs):
            rows.append(
                f"{e + 1:>5}"
                + "".join(f"  {self.loss[r][e]:>11.3f}  {self.clean_loss[r][e]:>11.3f}" for r in self.rates)
            )
        return "\n".join(rows)


@lru_cache(maxsize=4)
def training_curves(rates=(0.0, 0.5), seed=0, epochs=EPOCHS, n_train=N_TRAIN) -> TrainingCurves:
    """Train the notebook's MLP (SGD, batch 32) on the same data and seed with each rate."""
    histories = {rate: _trained_mlp(rate, seed, epochs, n_train)[1] for rate in rates}
    return TrainingCurves(
        rates=tuple(rates),
        loss={r: h["loss"] for r, h in histories.items()},
        clean_loss={r: h["clean_loss"] for r, h in histories.items()},
        val_loss={r: h["val_loss"] for r, h in histories.items()},
    )


def plot_training_curves(curves: TrainingCurves):
    """Two panels: the loss the optimizer sees, and the training loss with dropout off."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    epochs = np.arange(1, curves.epochs + 1)
    for rate, style in zip(curves.rates, ("-o", "-s", "-^", "-v")):
        label = "no dropout" if rate == 0 else f"dropout {rate:g}"
        axes[0].plot(epochs, curves.loss[rate], style, ms=4, label=label)
        axes[1].plot(epochs, curves.clean_loss[rate], style, ms=4, label=label)
    axes[0].set_title("training loss, dropout active\n(Keras' loss)")
    axes[1].set_title("training loss, dropout off\n(evaluated after each epoch)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("cross-entropy")
    axes[1].legend()
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# (d) Dropout in front of batch normalization: the variance shift
# ---------------------------------------------------------------------------


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


@dataclass(frozen=True)
class VarianceShift:
    """Batch norm's moving variance against the variance its input has at inference."""

    order: str
    rate: float
    ratio_moving_to_inference: float  # median over units
    predicted_ratio: float  # median over units of E[h^2]/(1-p) - E[h]^2 over Var(h), or 1
    output_std_at_inference: float  # median over units; 1 when the statistics match

    def row(self) -> str:
        return (
            f"{self.order:<14}{self.ratio_moving_to_inference:>15.2f}{self.predicted_ratio:>11.2f}"
            f"{self.output_std_at_inference:>16.2f}"
        )


@lru_cache(maxsize=4)
@demo_cache
def dropout_batch_norm_variance_shift(
    rate=0.5, seed=0, epochs=EPOCHS, n_train=N_TRAIN
) -> tuple[VarianceShift, VarianceShift]:
    """Train both orders on the same data; compare what batch norm learned with what it gets."""
    import keras

    from snippets.training import compile_like_notebook, seed_everything, train

    train_data, validation_data = small_mnist(n_train)
    x_train = train_data[0]
    results = []
    for order in ("dropout -> BN", "BN -> dropout"):
        seed_everything(seed)
        model = compile_like_notebook(dropout_and_batch_norm(order, rate), learning_rate=LEARNING_RATE)
        train(model, train_data, validation_data, seed=seed, epochs=epochs)
        bn = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
        # What reaches batch norm at inference: the layers before it, with dropout off.
        h = x_train
        for layer in model.layers[: model.layers.index(bn)]:
            h = layer(h, training=False)
        h = keras.ops.convert_to_numpy(h).astype(np.float64)
        inference_var = h.var(axis=0)
        moving_var = np.asarray(bn.moving_variance, dtype=np.float64)
        live = inference_var > 1e-6  # skip units that never fire (dead ReLUs)
        if order == "dropout -> BN":
            # Inverted dropout keeps E[h] but inflates E[h^2] by 1/(1-p).
            predicted = ((h**2).mean(axis=0) / (1 - rate) - h.mean(axis=0) ** 2) / np.maximum(inference_var, 1e-12)
        else:
            predicted = np.ones_like(inference_var)
        # Batch norm at inference divides by sqrt(moving variance): the standardized
        # output has std sqrt(inference var / moving var), 1 when they match.
        standardized_std = np.sqrt(inference_var / (moving_var + bn.epsilon))
        results.append(
            VarianceShift(
                order=order,
                rate=rate,
                ratio_moving_to_inference=float(np.median(moving_var[live] / inference_var[live])),
                predicted_ratio=float(np.median(predicted[live])),
                output_std_at_inference=float(np.median(standardized_std[live])),
            )
        )
    return tuple(results)


def format_variance_shift(results) -> str:
    head = f"{'order':<14}{'moving var /':>15}{'predicted':>11}{'BN output std':>16}"
    sub = f"{'':<14}{'inference var':>15}{'':>11}{'at inference':>16}"
    return "\n".join([head, sub, *(r.row() for r in results)])

