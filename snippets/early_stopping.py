"""Early stopping: what Keras' callback does, and why stopping early regularizes.

Demonstrations for the early-stopping chapter, all seeded and quick:

* :func:`early_stopping_run`: the same seeded ``fit`` of the notebook's MLP on 500
  MNIST images with ``keras.callbacks.EarlyStopping``, with and without
  ``restore_best_weights``; which weights the model holds when ``fit`` returns.
* :func:`patience_on_recorded_curve`: Keras' callback replayed on a recorded,
  noisy validation curve with several values of ``patience``.
* :func:`gradient_descent_vs_ridge`: on a least-squares problem, the weights
  after ``t`` steps of gradient descent from zero are close to the ridge
  solution with ``lambda = 1 / (learning_rate * t)``.

Figures use matplotlib's ``Figure`` API (see :mod:`snippets.plotting`).
"""

from __future__ import annotations


# --8<-- [start:early_stopping_run]
from functools import lru_cache

import keras
import tensorflow as tf

from snippets.data import notebook_subsets
from snippets.demo_cache import demo_cache
from snippets.pipeline import shuffled_batches

#: An overfitting-prone problem: 500 training images, 1,000 validation images.
N_TRAIN, N_VALIDATION = 500, 1000
#: Plain SGD with the notebook's batch size of 32 and a step of 0.05.
LEARNING_RATE = 0.05


@lru_cache(maxsize=8)  # the page's table and the tests share one run per setting
@demo_cache  # ... and share it across processes when $HANDBOOK_DEMO_CACHE names a folder
def early_stopping_run(restore_best_weights, patience=3, max_epochs=40, seed=0):
    """Train the notebook's MLP with EarlyStopping; report the stop and the weights fit leaves."""
    (x_train, y_train), (x_val, y_val), _ = notebook_subsets(N_TRAIN, N_VALIDATION)
    keras.utils.set_random_seed(seed)  # the same initial weights and batches ...
    tf.config.experimental.enable_op_determinism()  # ... and the same numbers, run after run
    model = keras.Sequential([
        keras.Input(shape=(28, 28)),
        keras.layers.Flatten(),
        keras.layers.Dense(300, activation="relu"),
        keras.layers.Dense(100, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=16,  # 16 batches per call into TensorFlow: less overhead, same updates
        # no jit_compile: Keras does not use XLA under op determinism, and these runs are too short to repay it
    )
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_loss",  # the default
        patience=patience,  # the default is 0
        restore_best_weights=restore_best_weights,  # the default is False
    )
    history = model.fit(
        shuffled_batches(x_train, y_train, seed),  # a new order every epoch; so shuffle=False
        validation_data=(x_val, y_val),
        epochs=max_epochs,
        callbacks=[stopper],
        shuffle=False,
        verbose=0,
    )
    return {
        "restore_best_weights": restore_best_weights,
        "patience": patience,
        "val_loss": history.history["val_loss"],  # one value per epoch that ran
        # Keras counts epochs from 0 and leaves stopped_epoch at 0 when it never stopped.
        "stopped_epoch": stopper.stopped_epoch + 1 if stopper.stopped_epoch else None,
        "best_epoch": stopper.best_epoch + 1,
        "best_val_loss": float(stopper.best),
        # The validation loss of the weights the model holds now that fit has returned.
        "final_val_loss": model.evaluate(x_val, y_val, verbose=0)[0],
    }
# --8<-- [end:early_stopping_run]


# --8<-- [start:replay]
import keras

from snippets.early_stopping import early_stopping_run


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
    return {
        "patience": patience,
        "stopped_epoch": stopper.stopped_epoch + 1 if stopper.stopped_epoch else None,
        "best_epoch": stopper.best_epoch + 1,
        "best_val_loss": float(stopper.best),
    }


def patience_on_recorded_curve(patiences=(0, 1, 3, 5, 10), epochs=30, seed=0):
    """Record one full run's val_loss curve (it never stops), then replay several patiences on it."""
    curve = early_stopping_run(True, patience=epochs, max_epochs=epochs, seed=seed)["val_loss"]
    return curve, [replay_early_stopping(curve, patience) for patience in patiences]
# --8<-- [end:replay]


# --8<-- [start:patience_figure]
import numpy as np

from snippets.plotting import COLORS, Figure


def plot_patience(curve, outcomes):
    """The validation curve, its lowest point, and where each patience stops."""
    fig = Figure(figsize=(7, 3.4))
    ax = fig.subplots()
    epochs = np.arange(1, len(curve) + 1)
    ax.plot(epochs, curve, "-o", ms=3, color="0.3", label="validation loss")
    lowest = int(np.argmin(curve))
    ax.plot(lowest + 1, curve[lowest], "*", ms=12, color="gold", mec="k", label="lowest val_loss")
    for outcome, color in zip(outcomes, COLORS):
        if outcome["stopped_epoch"] is not None:
            ax.axvline(outcome["stopped_epoch"], color=color, ls="--", lw=1.2,
                       label=f"patience {outcome['patience']}: stop")
    ax.set_xlabel("epoch")
    ax.set_ylabel("val_loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
# --8<-- [end:patience_figure]


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


# --8<-- [start:gd_vs_ridge_table]
import numpy as np
import pandas as pd

from snippets.early_stopping import gradient_descent, least_squares_problem, ridge

#: Gradient-descent step as a fraction of 1 / (largest curvature). Small steps make
#: (1 - lr s)^t close to exp(-lr s t), the regime where the analogy is cleanest.
STEP_FRACTION = 0.2


def gradient_descent_vs_ridge(steps=(10, 30, 100, 300, 1000, 3000, 10000), seed=0):
    """GD after t steps against ridge at lambda = 1/(lr t) and against least squares."""
    X, y = least_squares_problem(seed=seed)
    curvature = np.linalg.eigvalsh(X.T @ X / len(X))
    lr = STEP_FRACTION / curvature.max()  # stable: any lr below 2 / max curvature converges
    path = gradient_descent(X, y, lr, max(steps))
    w_ls = ridge(X, y, 0.0)
    rows = []
    for t in steps:
        w, w_ridge = path[t - 1], ridge(X, y, 1.0 / (lr * t))
        rows.append({
            "steps t": t,
            "lambda = 1/(lr t)": 1.0 / (lr * t),
            "|GD - ridge| / |ridge|": np.linalg.norm(w - w_ridge) / np.linalg.norm(w_ridge),
            "|GD - least squares| / |least squares|": np.linalg.norm(w - w_ls) / np.linalg.norm(w_ls),
        })
    return lr, curvature, pd.DataFrame(rows)
# --8<-- [end:gd_vs_ridge_table]


# --8<-- [start:gd_vs_ridge_figure]
import numpy as np

from snippets.early_stopping import STEP_FRACTION, gradient_descent, least_squares_problem, ridge
from snippets.plotting import COLORS, Figure


def plot_gd_vs_ridge(seed=0, max_steps=10000):
    """Left: ridge path over lambda (lines) and GD after t steps placed at lambda = 1/(lr t) (dots).
    Right: the share of each least-squares coefficient that each method keeps."""
    X, y = least_squares_problem(seed=seed)
    lr = STEP_FRACTION / np.linalg.eigvalsh(X.T @ X / len(X)).max()
    path = gradient_descent(X, y, lr, max_steps)
    lams = np.geomspace(1.0 / (lr * max_steps), 1.0 / (lr * 10), 200)
    ridge_path = np.array([ridge(X, y, lam) for lam in lams])
    t = np.unique(np.geomspace(10, max_steps, 25).astype(int))
    fig = Figure(figsize=(10, 3.8))
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
    for j in range(X.shape[1]):
        color = COLORS[j % len(COLORS)]
        ax.plot(lams, ridge_path[:, j], color=color, lw=1.5)
        ax.plot(1.0 / (lr * t), path[t - 1, j], "o", color=color, ms=3.5)
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
# --8<-- [end:gd_vs_ridge_figure]
