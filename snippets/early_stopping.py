"""Early stopping: what Keras' callback does, and why stopping early regularizes.

Demonstrations for the early-stopping chapter, all seeded and quick:

* :func:`early_stopping_run`: the same seeded training of the notebook's MLP on
  500 MNIST images with ``keras.callbacks.EarlyStopping``, with and without
  ``restore_best_weights``; which weights the model holds when ``fit`` returns.
* :func:`gradient_descent_vs_ridge`: on a least-squares problem, the weights
  after ``t`` steps of gradient descent from zero are close to the ridge
  solution with ``lambda = 1 / (learning_rate * t)``.
* :func:`patience_on_recorded_curve`: Keras' callback replayed on a recorded,
  noisy validation curve with several values of ``patience``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: An overfitting-prone problem: 500 training images, 1,000 validation images.
N_TRAIN = 500
N_VALIDATION = 1000
#: Plain SGD with the notebook's batch size of 32 and a step of 0.05.
LEARNING_RATE = 0.05


@lru_cache(maxsize=1)
def small_mnist(n_train: int = N_TRAIN, n_validation: int = N_VALIDATION):
    """The first images of the notebook's training and validation splits, float32 in [0, 1]."""
    from snippets.data import load_mnist, notebook_split
    from snippets.data import as_float_images

    (x, y), _ = load_mnist()
    (x_train, y_train), (x_val, y_val) = notebook_split(x, y)
    return (
        (as_float_images(x_train[:n_train]), y_train[:n_train]),
        (as_float_images(x_val[:n_validation]), y_val[:n_validation]),
    )


@dataclass(frozen=True)
class EarlyStoppingRun:
    """What one ``fit`` with ``EarlyStopping`` did and which weights it left behind."""

    restore_best_weights: bool
    patience: int
    max_epochs: int
    val_loss: tuple[float, ...]  # per epoch, as logged during training
    stopped_epoch: int | None  # 1-based epoch at which the callback stopped training
    best_epoch: int  # 1-based epoch with the lowest val_loss
    best_val_loss: float
    final_val_loss: float  # val_loss of the weights the model holds after fit

    @property
    def epochs_run(self) -> int:
        return len(self.val_loss)

    @property
    def last_epoch_val_loss(self) -> float:
        return self.val_loss[-1]

    def row(self) -> str:
        stopped = "never" if self.stopped_epoch is None else str(self.stopped_epoch)
        return (
            f"{str(self.restore_best_weights):>8} {self.patience:>8} {self.epochs_run:>6} {stopped:>8}"
            f" {self.best_epoch:>5} {self.best_val_loss:>9.4f} {self.last_epoch_val_loss:>10.4f}"
            f" {self.final_val_loss:>11.4f}"
        )


def format_runs(runs) -> str:
    head = (
        f"{'restore':>8} {'patience':>8} {'epochs':>6} {'stopped':>8} {'best':>5} {'best val':>9}"
        f" {'last epoch':>10} {'final model':>11}"
    )
    sub = f"{'':>8} {'':>8} {'run':>6} {'at epoch':>8} {'epoch':>5} {'loss':>9} {'val loss':>10} {'val loss':>11}"
    return "\n".join([head, sub, *(run.row() for run in runs)])


# --8<-- [start:early_stopping_run]
from functools import lru_cache

import keras

from snippets.demo_cache import demo_cache
from snippets.models import build_mlp
from snippets.training import compile_like_notebook, evaluate, seed_everything, train


@lru_cache(maxsize=8)  # the page's table and the tests share one run per setting
@demo_cache  # ... and share it across processes when $HANDBOOK_DEMO_CACHE names a folder
def early_stopping_run(restore_best_weights, patience=3, max_epochs=40, seed=0):
    """Train the MLP with EarlyStopping; report the stop and the weights left in the model."""
    train_data, validation_data = small_mnist()
    seed_everything(seed)  # same seed, same data order: identical runs until they stop
    model = compile_like_notebook(build_mlp(), learning_rate=LEARNING_RATE)
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_loss",  # the default
        patience=patience,  # the default is 0
        restore_best_weights=restore_best_weights,  # the default is False
    )
    history = train(model, train_data, validation_data, seed=seed, epochs=max_epochs, callbacks=[stopper])
    return EarlyStoppingRun(
        restore_best_weights=restore_best_weights,
        patience=patience,
        max_epochs=max_epochs,
        val_loss=tuple(history["val_loss"]),
        # Keras counts epochs from 0 and leaves stopped_epoch at 0 when it never stopped.
        stopped_epoch=stopper.stopped_epoch + 1 if stopper.stopped_epoch else None,
        best_epoch=stopper.best_epoch + 1,
        best_val_loss=float(stopper.best),
        final_val_loss=evaluate(model, validation_data)["loss"],
    )
# --8<-- [end:early_stopping_run]


# ---------------------------------------------------------------------------
# Patience on a noisy validation curve
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PatienceOutcome:
    patience: int
    stopped_epoch: int | None  # 1-based; None if the curve ran out first
    best_epoch: int  # 1-based
    best_val_loss: float


# --8<-- [start:replay]
import keras


def replay_early_stopping(val_losses, patience):
    """Feed a recorded val_loss curve, epoch by epoch, to Keras' EarlyStopping callback.

    The callback only reads the logged value, so this gives the decision that a
    real run with the same curve would make, without training again.
    """
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience)
    stand_in = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    stand_in.stop_training = False  # what model.fit sets before the first epoch
    stopper.set_model(stand_in)
    stopper.on_train_begin()
    for epoch, value in enumerate(val_losses):
        stopper.on_epoch_end(epoch, {"val_loss": value})
        if stopper.model.stop_training:
            break
    return PatienceOutcome(
        patience=patience,
        stopped_epoch=stopper.stopped_epoch + 1 if stopper.stopped_epoch else None,
        best_epoch=stopper.best_epoch + 1,
        best_val_loss=float(stopper.best),
    )
# --8<-- [end:replay]


def patience_on_recorded_curve(patiences=(0, 1, 3, 5, 10), epochs=30, seed=0):
    """Record one full run's val_loss curve, then replay several patiences on it."""
    curve = early_stopping_run(True, patience=epochs, max_epochs=epochs, seed=seed).val_loss
    return curve, tuple(replay_early_stopping(curve, p) for p in patiences)


def format_patience(curve, outcomes) -> str:
    overall = int(np.argmin(curve)) + 1
    rows = [
        f"lowest val_loss of the whole {len(curve)}-epoch run: {min(curve):.4f} at epoch {overall}",
        "",
        f"{'patience':>8} {'stops after':>11} {'best epoch':>10} {'best val_loss':>13}",
    ]
    for o in outcomes:
        stop = "never" if o.stopped_epoch is None else f"epoch {o.stopped_epoch}"
        rows.append(f"{o.patience:>8} {stop:>11} {o.best_epoch:>10} {o.best_val_loss:>13.4f}")
    return "\n".join(rows)


def plot_patience(curve, outcomes):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.4))
    epochs = np.arange(1, len(curve) + 1)
    ax.plot(epochs, curve, "-o", ms=3, color="0.3", label="validation loss")
    lowest = int(np.argmin(curve))
    ax.plot(lowest + 1, curve[lowest], "*", ms=12, color="gold", mec="k", label="lowest val_loss")
    for o, color in zip(outcomes, plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        if o.stopped_epoch is not None:
            ax.axvline(o.stopped_epoch, color=color, ls="--", lw=1.2, label=f"patience {o.patience}: stop")
    ax.set_xlabel("epoch")
    ax.set_ylabel("val_loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# Gradient descent steps versus ridge regression
# ---------------------------------------------------------------------------


# --8<-- [start:gd_vs_ridge]
import numpy as np


def least_squares_problem(n=200, d=8, noise=0.5, seed=0):
    """y = X w_true + noise, with feature scales from 3 down to 0.1 (an ill-conditioned X)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.geomspace(3.0, 0.1, d)
    w_true = rng.standard_normal(d)
    return X, X @ w_true + noise * rng.standard_normal(n)


def gradient_descent(X, y, lr, steps):
    """Full-batch gradient descent from w = 0 on (1/2n)||Xw - y||^2; weights after each step."""
    n, d = X.shape
    w, path = np.zeros(d), []
    for _ in range(steps):
        w = w - lr * X.T @ (X @ w - y) / n
        path.append(w.copy())
    return np.array(path)


def ridge(X, y, lam):
    """Minimizer of (1/2n)||Xw - y||^2 + (lam/2)||w||^2."""
    n, d = X.shape
    return np.linalg.solve(X.T @ X / n + lam * np.eye(d), X.T @ y / n)
# --8<-- [end:gd_vs_ridge]


#: Gradient-descent step as a fraction of 1 / (largest curvature). Small steps make
#: (1 - lr s)^t close to exp(-lr s t), the regime where the analogy is cleanest.
STEP_FRACTION = 0.2


@dataclass(frozen=True)
class GdRidgeRow:
    steps: int
    lam: float  # 1 / (lr * steps)
    gap_to_ridge: float  # ||w_gd - w_ridge(lam)|| / ||w_ridge(lam)||
    gap_to_least_squares: float  # ||w_gd - w_ls|| / ||w_ls||


def gradient_descent_vs_ridge(steps=(10, 30, 100, 300, 1000, 3000, 10000), seed=0):
    """Compare GD after t steps with ridge at lambda = 1/(lr t)."""
    X, y = least_squares_problem(seed=seed)
    curvature = np.linalg.eigvalsh(X.T @ X / len(X))
    lr = STEP_FRACTION / curvature.max()  # stable: any lr below 2 / max curvature converges
    path = gradient_descent(X, y, lr, max(steps))
    w_ls = ridge(X, y, 0.0)
    rows = []
    for t in steps:
        w = path[t - 1]
        lam = 1.0 / (lr * t)
        w_r = ridge(X, y, lam)
        rows.append(
            GdRidgeRow(
                steps=t,
                lam=lam,
                gap_to_ridge=float(np.linalg.norm(w - w_r) / np.linalg.norm(w_r)),
                gap_to_least_squares=float(np.linalg.norm(w - w_ls) / np.linalg.norm(w_ls)),
            )
        )
    return lr, curvature, tuple(rows)


def format_gd_vs_ridge(lr, curvature, rows) -> str:
    lines = [
        f"learning rate {lr:.4f}; curvatures (eigenvalues of X^T X / n) from "
        f"{curvature.min():.4f} to {curvature.max():.2f}",
        "",
        f"{'steps t':>7} {'lambda = 1/(lr t)':>17} {'|GD - ridge|':>13} {'|GD - least squares|':>21}",
        f"{'':>7} {'':>17} {'/ |ridge|':>13} {'/ |least squares|':>21}",
    ]
    for r in rows:
        lines.append(f"{r.steps:>7} {r.lam:>17.4g} {r.gap_to_ridge:>13.3f} {r.gap_to_least_squares:>21.3f}")
    return "\n".join(lines)


def plot_gd_vs_ridge(seed=0, max_steps=10000):
    """Left: ridge path over lambda (lines) and GD after t steps placed at lambda = 1/(lr t) (dots).
    Right: the share of each least-squares coefficient that each method keeps."""
    import matplotlib.pyplot as plt

    X, y = least_squares_problem(seed=seed)
    lr = STEP_FRACTION / np.linalg.eigvalsh(X.T @ X / len(X)).max()
    path = gradient_descent(X, y, lr, max_steps)
    lams = np.geomspace(1.0 / (lr * max_steps), 1.0 / (lr * 10), 200)
    ridge_path = np.array([ridge(X, y, lam) for lam in lams])
    t = np.unique(np.geomspace(10, max_steps, 25).astype(int))
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [1.6, 1]})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j in range(X.shape[1]):
        c = colors[j % len(colors)]
        ax.plot(lams, ridge_path[:, j], color=c, lw=1.5)
        ax.plot(1.0 / (lr * t), path[t - 1, j], "o", color=c, ms=3.5)
    ax.set_xscale("log")
    ax.invert_xaxis()  # left: strong penalty / few steps; right: weak penalty / many steps
    ax.set_xlabel("lambda  (GD: 1 / (learning rate x steps))")
    ax.set_ylabel("coefficient")
    ax.set_title("ridge path (lines), gradient-descent iterates (dots)")
    ax.grid(alpha=0.3)

    x = np.geomspace(1e-2, 1e2, 300)  # x = curvature / lambda = lr * curvature * t
    ax2.plot(x, 1 - np.exp(-x), label="gradient descent: 1 - exp(-x)")
    ax2.plot(x, x / (1 + x), label="ridge: x / (1 + x)")
    ax2.set_xscale("log")
    ax2.set_xlabel("x = curvature x lr x t = curvature / lambda")
    ax2.set_title("share of the least-squares coefficient kept")
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig
