"""L1 and L2 penalties: what Keras adds to the loss, which weights reach zero, and
how an L2 penalty relates to an optimizer's weight decay.

Demonstrations for the L1/L2 chapter, each seeded and small enough to run in a few
seconds on a laptop CPU:

* :func:`penalty_and_gradient`: the value and gradient of ``keras.regularizers.L1``
  and ``L2`` on a small vector (no 1/2 in front of Keras' L2).
* :func:`geometry_paths` / :func:`plot_geometry`: in two dimensions the L1 solution
  path reaches an axis at a finite strength, the L2 path does not.
* :func:`sparse_fits` / :func:`sparsity_table` / :func:`plot_noise_weights`: a linear
  model with 5 informative and 45 pure-noise features, fitted with an L1 penalty under
  Keras' SGD, an L2 penalty under SGD, and a proximal (ISTA) L1 solver; only the
  proximal solver leaves weights at exactly zero.
* :func:`weight_decay_runs` / :func:`weight_decay_table`: ``SGD(weight_decay=wd)``
  follows the same trajectory as an ``L2(wd / 2)`` penalty, while Adam with an L2
  penalty and Adam with (decoupled) weight decay part ways.
* :func:`decay_in_one_step`: how much an optimizer's ``weight_decay`` shrinks a weight
  in one update: ``learning_rate * weight_decay``, so it follows the learning rate.

Figures use matplotlib's ``Figure`` API (see :mod:`snippets.plotting`).
"""

from __future__ import annotations


# --8<-- [start:penalty_and_gradient]
import keras
import numpy as np
import tensorflow as tf


def penalty_and_gradient(regularizer, weights):
    """The penalty a Keras regularizer adds to the loss, and its gradient, at ``weights``."""
    w = tf.Variable(np.asarray(weights, dtype=np.float32))
    with tf.GradientTape() as tape:
        penalty = regularizer(w)
    return float(penalty), tape.gradient(penalty, w).numpy()
# --8<-- [end:penalty_and_gradient]


# --8<-- [start:geometry]
import numpy as np


def soft_threshold(z, threshold):
    """The proximal map of ``threshold * |z|``: shrink towards 0, and stop exactly at 0."""
    return np.sign(z) * np.maximum(np.abs(z) - threshold, 0.0)


def geometry_paths(strengths, w_star=(2.0, 0.5), hessian=((1.0, 0.4), (0.4, 0.8))):
    """Minimizers of (w - w*)^T H (w - w*) + penalty, for each strength in ``strengths``.

    L2 (strength * ||w||^2) has a closed form: (H + strength I) w = H w*.
    L1 (strength * ||w||_1) has none; proximal gradient descent (ISTA) finds it.
    Returns two arrays of shape (len(strengths), 2): the L1 and the L2 solutions.
    """
    H, w_star = np.asarray(hessian), np.asarray(w_star)
    step = 1.0 / (2.0 * np.linalg.eigvalsh(H).max())  # 1 / Lipschitz constant of the gradient
    l1_path, l2_path = [], []
    for strength in strengths:
        l2_path.append(np.linalg.solve(H + strength * np.eye(2), H @ w_star))
        w = np.zeros(2)
        for _ in range(2000):
            gradient = 2.0 * H @ (w - w_star)
            w = soft_threshold(w - step * gradient, step * strength)
        l1_path.append(w)
    return np.array(l1_path), np.array(l2_path)
# --8<-- [end:geometry]


# --8<-- [start:geometry_figure]
import numpy as np

from snippets.plotting import Figure


def plot_geometry(strength=2.0, w_star=(2.0, 0.5), hessian=((1.0, 0.4), (0.4, 0.8))):
    """Loss contours, the L1 diamond and the L2 ball that the solution at ``strength`` touches,
    and each penalty's whole solution path from w* (no penalty) towards 0."""
    H, w_star = np.asarray(hessian), np.asarray(w_star)
    strengths = np.linspace(0.0, 5.0, 201)
    l1_path, l2_path = geometry_paths(strengths, w_star, hessian)
    at = int(np.argmin(np.abs(strengths - strength)))

    def loss(w1, w2):  # (w - w*)^T H (w - w*)
        d1, d2 = w1 - w_star[0], w2 - w_star[1]
        return H[0, 0] * d1**2 + 2 * H[0, 1] * d1 * d2 + H[1, 1] * d2**2

    g1, g2 = np.meshgrid(np.linspace(-0.6, 2.6, 300), np.linspace(-0.6, 2.6, 300))
    fig = Figure(figsize=(9, 4.3))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, path, name in zip(axes, (l1_path, l2_path), ("L1", "L2")):
        w = path[at]
        ax.contour(g1, g2, loss(g1, g2), levels=np.geomspace(0.02, 6, 9), colors="0.75", linewidths=0.8)
        ax.contour(g1, g2, loss(g1, g2), levels=[loss(*w)], colors="tab:blue", linewidths=1.5)
        if name == "L1":
            r = np.abs(w).sum()
            ax.fill([r, 0, -r, 0], [0, r, 0, -r], color="tab:orange", alpha=0.3, label=r"$\|w\|_1 \leq$ const")
        else:
            r, t = np.linalg.norm(w), np.linspace(0, 2 * np.pi, 200)
            ax.fill(r * np.cos(t), r * np.sin(t), color="tab:orange", alpha=0.3, label=r"$\|w\|_2 \leq$ const")
        ax.plot(path[:, 0], path[:, 1], color="tab:red", lw=1.5, label="solution path")
        ax.plot(*w_star, "k*", ms=10, label="w* (no penalty)")
        ax.plot(*w, "o", color="tab:red", ms=6)
        ax.axhline(0, color="k", lw=0.5)
        ax.axvline(0, color="k", lw=0.5)
        ax.set(aspect="equal", xlim=(-0.6, 2.6), ylim=(-0.6, 1.6), xlabel="$w_1$", title=f"{name} penalty")
        ax.legend(loc="upper right", fontsize=8)
    axes[0].set_ylabel("$w_2$")
    fig.tight_layout()
    return fig
# --8<-- [end:geometry_figure]


# --8<-- [start:sparse_problem]
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SparseProblem:
    """Linear regression data where only the first ``n_informative`` features matter."""

    x: np.ndarray  # (n_samples, n_features), float32
    y: np.ndarray  # (n_samples,), float32
    true_weights: np.ndarray
    n_informative: int


def sparse_problem(n_samples=500, n_informative=5, n_noise=45, noise=1.0, seed=0):
    """y = x @ w_true + noise, with w_true zero on the ``n_noise`` pure-noise features."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_samples, n_informative + n_noise)).astype(np.float32)
    true_weights = np.zeros(n_informative + n_noise)
    true_weights[:n_informative] = rng.choice([-1, 1], n_informative) * rng.uniform(1, 3, n_informative)
    y = (x @ true_weights + noise * rng.standard_normal(n_samples)).astype(np.float32)
    return SparseProblem(x, y, true_weights, n_informative)
# --8<-- [end:sparse_problem]


# --8<-- [start:fit_keras]
import keras
import tensorflow as tf

from snippets.pipeline import shuffled_batches


def fit_linear_keras(problem, regularizer, *, learning_rate=0.01, epochs=50, batch_size=32, seed=0):
    """Mean squared error + ``regularizer`` on the kernel, minimized by Keras' plain SGD.

    The optimizer steps along the loss gradient plus the penalty's (sub)gradient:
    for L1 that is ``l1 * sign(w)``, a fixed-size push that overshoots zero and
    back, so weights end near zero but (almost) never exactly on it.
    """
    keras.utils.set_random_seed(seed)  # the initial weights
    tf.config.experimental.enable_op_determinism()  # the same numbers on every run
    model = keras.Sequential([
        keras.Input((problem.x.shape[1],)),
        keras.layers.Dense(1, kernel_regularizer=regularizer),
    ])
    # 64 steps per call into TensorFlow instead of 1: the same updates, less overhead
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse", steps_per_execution=64)
    batches = shuffled_batches(problem.x, problem.y, seed, batch_size)
    model.fit(batches, epochs=epochs, shuffle=False, verbose=0)  # shuffle=False: the pipeline shuffles
    return model.layers[0].kernel.numpy().ravel()
# --8<-- [end:fit_keras]


# --8<-- [start:ista]
import numpy as np

from snippets.l1_l2 import soft_threshold


def fit_lasso_ista(problem, l1, *, iterations=5000):
    """The same objective as ``Dense(1, kernel_regularizer=L1(l1))`` with loss "mse",

        mean((y - x @ w - b)^2) + l1 * sum(|w|),

    minimized by proximal gradient descent (ISTA): a gradient step on the smooth
    loss, then soft-thresholding, which sets every small weight to exactly 0.
    The bias b is not penalized, as in Keras.
    """
    x, y = problem.x.astype(np.float64), problem.y.astype(np.float64)
    n, d = x.shape
    design = np.hstack([x, np.ones((n, 1))])
    step = 1.0 / (2.0 * np.linalg.eigvalsh(design.T @ design / n).max())
    w, b = np.zeros(d), 0.0
    for _ in range(iterations):
        residual = x @ w + b - y
        w = soft_threshold(w - step * 2.0 * x.T @ residual / n, step * l1)
        b = b - step * 2.0 * residual.mean()
    return w
# --8<-- [end:ista]


# --8<-- [start:sparse_fits]
from functools import lru_cache

import keras

from snippets.demo_cache import demo_cache
from snippets.l1_l2 import fit_lasso_ista, fit_linear_keras, sparse_problem

#: The strength of both penalties in the sparsity demonstration.
SPARSITY_STRENGTH = 0.3


@lru_cache(maxsize=4)  # the page's table, its figure and the tests share one training
def sparse_fits(strength=SPARSITY_STRENGTH, seed=0):
    """The fitted weights of the three methods, by name."""
    return _fit_sparse_problem(strength, seed)


@demo_cache  # ... and share it across processes when $HANDBOOK_DEMO_CACHE names a folder
def _fit_sparse_problem(strength, seed):
    problem = sparse_problem(seed=seed)
    return {
        f"L1({strength}), Keras SGD": fit_linear_keras(problem, keras.regularizers.L1(strength), seed=seed),
        f"L2({strength}), Keras SGD": fit_linear_keras(problem, keras.regularizers.L2(strength), seed=seed),
        f"L1({strength}), proximal (ISTA)": fit_lasso_ista(problem, strength),
    }
# --8<-- [end:sparse_fits]


# --8<-- [start:sparsity_table]
import numpy as np
import pandas as pd

from snippets.l1_l2 import sparse_fits, sparse_problem


def sparsity_table(strength=0.3, seed=0):
    """For each method: how many of the 45 noise weights are exactly 0, or merely small."""
    k = sparse_problem(seed=seed).n_informative
    rows = {}
    for method, weights in sparse_fits(strength, seed).items():
        noise = np.abs(weights[k:])
        rows[method] = {
            "exactly 0": int(np.sum(noise == 0.0)),
            "|w| < 1e-3": int(np.sum(noise < 1e-3)),
            "|w| < 1e-2": int(np.sum(noise < 1e-2)),
            "largest |w|": float(noise.max()),
            "informative weights": np.round(weights[:k], 2).tolist(),
        }
    return pd.DataFrame.from_dict(rows, orient="index")
# --8<-- [end:sparsity_table]


# --8<-- [start:noise_weights_figure]
import numpy as np

from snippets.l1_l2 import SPARSITY_STRENGTH, sparse_fits, sparse_problem
from snippets.plotting import Figure


def plot_noise_weights(strength=SPARSITY_STRENGTH, seed=0):
    """Histograms of |w| for the noise weights of each method, on a log scale.

    Exact zeros have no logarithm: they are drawn as a separate bar at the left.
    """
    k = sparse_problem(seed=seed).n_informative
    fits = sparse_fits(strength, seed)
    bins = np.geomspace(1e-6, 1.0, 25)
    zero_at = 3e-8  # where the bar of exact zeros is drawn, left of the log-scale bins
    fig = Figure(figsize=(7, 5.5))
    axes = fig.subplots(len(fits), 1, sharex=True, sharey=True)
    for ax, (method, weights) in zip(axes, fits.items()):
        noise = np.abs(weights[k:])
        zeros = int(np.sum(noise == 0.0))
        ax.hist(np.clip(noise[noise > 0], bins[0], None), bins=bins, color="tab:blue", label="|w| > 0")
        ax.bar(zero_at, zeros, width=zero_at, color="tab:orange", label="exactly 0")
        ax.axvline(1e-3, color="tab:red", ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_title(f"{method}: {zeros} of {noise.size} noise weights exactly 0", fontsize=10)
        ax.set_ylabel("count")
    axes[0].legend(loc="upper left", fontsize=8)
    axes[-1].set_xticks([zero_at, 1e-6, 1e-4, 1e-2, 1.0], ["0", "$10^{-6}$", "$10^{-4}$", "$10^{-2}$", "1"])
    axes[-1].set_xlabel(f"|w| of the {noise.size} noise features (dashed line: 1e-3)")
    fig.tight_layout()
    return fig
# --8<-- [end:noise_weights_figure]


# --8<-- [start:decay_in_one_step]
import keras
import numpy as np


def decay_in_one_step(optimizer, step=0):
    """By how much an optimizer's weight_decay shrinks a weight in the update after
    ``step`` earlier updates, as a fraction of the weight (the gradient is zero, so
    only the decay moves it)."""
    w = keras.Variable(np.ones(1), dtype="float64")  # float64: the shrinkage is tiny
    optimizer.build([w])
    optimizer.iterations.assign(step)  # where a learning-rate schedule stands
    optimizer.apply([keras.ops.zeros(1, dtype="float64")], [w])
    return 1.0 - float(w.numpy()[0])
# --8<-- [end:decay_in_one_step]


# --8<-- [start:weight_decay]
import keras
import numpy as np
import tensorflow as tf

from snippets.pipeline import shuffled_batches


class RecordWeights(keras.callbacks.Callback):
    """Keep a flat copy of all trainable weights at the start and after every epoch."""

    def _record(self):
        self.trajectory.append(np.concatenate([v.numpy().ravel() for v in self.model.trainable_variables]))

    def on_train_begin(self, logs=None):
        self.trajectory = []
        self._record()

    def on_epoch_end(self, epoch, logs=None):
        self._record()


def weight_trajectory(problem, optimizer, regularizer=None, *, epochs=10, batch_size=32, seed=0):
    """Train a small MLP and return its weights after each epoch, shape (epochs + 1, n_weights).

    The same seed gives the same initial weights and the same batches, so runs differ
    only in the optimizer and the penalty. The penalty goes on the kernels only, and
    the optimizer's weight decay is kept off the biases to match.
    """
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = keras.Sequential([
        keras.Input((problem.x.shape[1],)),
        keras.layers.Dense(16, activation="relu", kernel_regularizer=regularizer),
        keras.layers.Dense(1, kernel_regularizer=regularizer),
    ])
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    model.compile(optimizer=optimizer, loss="mse")
    recorder = RecordWeights()
    batches = shuffled_batches(problem.x, problem.y, seed, batch_size)  # it shuffles, so shuffle=False
    model.fit(batches, epochs=epochs, callbacks=[recorder], shuffle=False, verbose=0)
    return np.array(recorder.trajectory)
# --8<-- [end:weight_decay]


# --8<-- [start:weight_decay_runs]
from functools import lru_cache

import keras

from snippets.demo_cache import demo_cache
from snippets.l1_l2 import sparse_problem, weight_trajectory


@lru_cache(maxsize=2)  # the page's table and the tests share one set of runs
@demo_cache  # ... and share it across processes when $HANDBOOK_DEMO_CACHE names a folder
def weight_decay_runs(weight_decay=0.1, learning_rate=0.01, seed=0):
    """Weight trajectories of six runs that differ only in how the weights are pulled to zero."""
    wd, lr = weight_decay, learning_rate
    problem = sparse_problem(seed=seed)
    L2, SGD, Adam = keras.regularizers.L2, keras.optimizers.SGD, keras.optimizers.Adam
    runs = {
        f"SGD(weight_decay={wd})": (SGD(lr, weight_decay=wd), None),
        f"SGD + L2({wd / 2})": (SGD(lr), L2(wd / 2)),
        f"SGD + L2({wd})": (SGD(lr), L2(wd)),
        f"Adam(weight_decay={wd})": (Adam(lr, weight_decay=wd), None),
        f"AdamW(weight_decay={wd})": (keras.optimizers.AdamW(lr, weight_decay=wd), None),
        f"Adam + L2({wd / 2})": (Adam(lr), L2(wd / 2)),
    }
    return {name: weight_trajectory(problem, opt, reg, seed=seed) for name, (opt, reg) in runs.items()}
# --8<-- [end:weight_decay_runs]


# --8<-- [start:weight_decay_table]
import numpy as np
import pandas as pd

from snippets.l1_l2 import weight_decay_runs


def weight_decay_table(weight_decay=0.1, learning_rate=0.01, seed=0):
    """Largest weight difference, over all weights and epochs, between pairs of runs."""
    wd = weight_decay
    runs = weight_decay_runs(weight_decay, learning_rate, seed)
    pairs = [
        (f"SGD(weight_decay={wd})", f"SGD + L2({wd / 2})"),
        (f"SGD(weight_decay={wd})", f"SGD + L2({wd})"),
        (f"Adam(weight_decay={wd})", f"AdamW(weight_decay={wd})"),
        (f"Adam(weight_decay={wd})", f"Adam + L2({wd / 2})"),
    ]
    return pd.DataFrame(
        [{"run A": a, "run B": b, "max |w_A - w_B|": float(np.abs(runs[a] - runs[b]).max())} for a, b in pairs]
    )
# --8<-- [end:weight_decay_table]
