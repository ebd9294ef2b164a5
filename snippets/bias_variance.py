"""Bias, variance and noise, measured by refitting a model on many training sets.

The decomposition of the expected squared error is a statement about the
*distribution of training sets*: draw many training sets from the same source,
fit the same procedure on each, and look at how its predictions at a fixed test
input scatter (variance) and where their average lands (bias). Everything here
is NumPy; each study runs in about a second or less.

Three studies:

* :func:`polynomial_study` - polynomials of rising degree on noisy sin data;
* :func:`ridge_study` - one high degree, a rising ridge penalty;
* :func:`random_features_study` - minimum-norm least squares on random ReLU
  features, whose test error peaks where the number of features equals the
  number of training points (double descent).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# --8<-- [start:data]
import numpy as np


def true_function(x):
    """The regression function E[y | x] that every model tries to recover."""
    return np.sin(2 * np.pi * x)


def sample_training_set(rng, n=20, noise_sd=0.3):
    """A fresh training set: n inputs in [0, 1], labels = true function + Gaussian noise.

    One input falls uniformly at random in each of n equal cells of [0, 1]
    (a stratified sample). The inputs change from set to set, but no set has a
    wide gap, where a high-degree polynomial would be unconstrained.
    """
    x = (np.arange(n) + rng.uniform(0.0, 1.0, size=n)) / n
    y = true_function(x) + rng.normal(0.0, noise_sd, size=n)
    return x, y
# --8<-- [end:data]


# --8<-- [start:polynomial]
import numpy as np


def polynomial_features(x, degree):
    """Legendre polynomials of 2x - 1: they span the same functions as 1, x, ..., x**degree
    but are far better conditioned, so high degrees fit without numerical trouble."""
    return np.polynomial.legendre.legvander(2 * x - 1, degree)


def fit_polynomial(x, y, degree, ridge=0.0):
    """Least-squares coefficients w_0, ..., w_degree; ridge > 0 adds
    ridge * (w_1**2 + ... + w_degree**2) to the squared error. The constant term w_0
    (the first Legendre polynomial is 1) is not penalized: shrinking it would pull the
    fit's mean level towards 0, so the result would depend on where y's origin is."""
    features = polynomial_features(x, degree)
    penalty = ridge * np.eye(degree + 1)
    penalty[0, 0] = 0.0
    return np.linalg.solve(features.T @ features + penalty, features.T @ y)
# --8<-- [end:polynomial]


# --8<-- [start:decompose]
import numpy as np


def bias_variance(fit_and_predict, *, n_sets=500, n_train=20, noise_sd=0.3, n_test=200, seed=0):
    """Estimate bias^2, variance and noise of a learning procedure, and its simulated test error.

    ``fit_and_predict(x_train, y_train, x_test)`` trains on one training set and
    returns its predictions at ``x_test``. It is run on ``n_sets`` independent
    training sets; the test inputs are a fixed grid over [0, 1], so every average
    over x below stands for an average over the input distribution.
    """
    rng = np.random.default_rng(seed)
    x_test = (np.arange(n_test) + 0.5) / n_test
    predictions = np.empty((n_sets, n_test))
    squared_errors = np.empty(n_sets)
    for s in range(n_sets):
        x_train, y_train = sample_training_set(rng, n_train, noise_sd)
        predictions[s] = fit_and_predict(x_train, y_train, x_test)
        # The error the model actually makes: fresh noisy labels it has never seen.
        y_test = true_function(x_test) + rng.normal(0.0, noise_sd, size=n_test)
        squared_errors[s] = np.mean((y_test - predictions[s]) ** 2)

    average_prediction = predictions.mean(axis=0)  # E_D[f_D(x)] at each test input
    bias2 = np.mean((average_prediction - true_function(x_test)) ** 2)
    variance = np.mean(predictions.var(axis=0))  # spread of f_D(x) over training sets
    noise = noise_sd**2  # the part of y that no model can predict
    return {
        "bias2": bias2,
        "variance": variance,
        "noise": noise,
        "sum": bias2 + variance + noise,
        "test_error": squared_errors.mean(),
    }
# --8<-- [end:decompose]


# --8<-- [start:polynomial_study]
import pandas as pd


def polynomial_study(degrees=range(0, 13), ridge=0.0, seed=0, **kwargs):
    """One row per degree: bias^2, variance, noise, their sum, and the simulated test error."""
    rows = []
    for degree in degrees:
        def fit_and_predict(x_train, y_train, x_test, degree=degree):
            coefficients = fit_polynomial(x_train, y_train, degree, ridge)
            return polynomial_features(x_test, degree) @ coefficients

        # The same seed for every degree: every model sees the same training sets.
        rows.append({"degree": degree, **bias_variance(fit_and_predict, seed=seed, **kwargs)})
    return pd.DataFrame(rows).set_index("degree")
# --8<-- [end:polynomial_study]


# --8<-- [start:ridge_study]
import pandas as pd


def ridge_study(degree=12, ridges=(1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0), seed=0, **kwargs):
    """One row per ridge penalty, all at one (too high) polynomial degree."""
    rows = []
    for ridge in ridges:
        def fit_and_predict(x_train, y_train, x_test, ridge=ridge):
            coefficients = fit_polynomial(x_train, y_train, degree, ridge)
            return polynomial_features(x_test, degree) @ coefficients

        rows.append({"ridge": ridge, **bias_variance(fit_and_predict, seed=seed, **kwargs)})
    return pd.DataFrame(rows).set_index("ridge")
# --8<-- [end:ridge_study]


# --8<-- [start:random_features]
import numpy as np


def relu_features(x, weights):
    """Random ReLU features max(0, x @ W): a one-hidden-layer net whose first layer stays frozen."""
    return np.maximum(0.0, x @ weights)


def min_norm_least_squares(features, y):
    """Least squares; with more features than points, the interpolating solution of smallest
    norm (what lstsq returns, and what gradient descent started from zero converges to)."""
    return np.linalg.lstsq(features, y, rcond=None)[0]
# --8<-- [end:random_features]


# --8<-- [start:random_features_study]
import numpy as np
import pandas as pd


def random_features_study(
    feature_counts=(5, 10, 20, 30, 40, 45, 48, 50, 52, 55, 60, 80, 100, 150, 200, 400, 800),
    n_train=50,
    dim=10,
    noise_sd=0.3,
    n_trials=20,
    n_test=500,
    seed=0,
):
    """Min-norm random-feature regression per feature count: mean train and test squared
    error, and the mean norm of the fitted output weights.

    Inputs are Gaussian in ``dim`` dimensions and the target is a fixed linear
    function plus noise. Each trial draws a training set and a pool of random
    features; the model with p features uses the first p of the pool.
    """
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=dim)
    direction /= np.linalg.norm(direction)
    x_test = rng.normal(size=(n_test, dim))
    y_test = x_test @ direction + rng.normal(0.0, noise_sd, size=n_test)
    train_error = np.zeros(len(feature_counts))
    test_error = np.zeros(len(feature_counts))
    weight_norm = np.zeros(len(feature_counts))
    for _ in range(n_trials):
        x_train = rng.normal(size=(n_train, dim))
        y_train = x_train @ direction + rng.normal(0.0, noise_sd, size=n_train)
        weights = rng.normal(size=(dim, max(feature_counts))) / np.sqrt(dim)
        phi_train, phi_test = relu_features(x_train, weights), relu_features(x_test, weights)
        for i, p in enumerate(feature_counts):
            w = min_norm_least_squares(phi_train[:, :p], y_train)
            train_error[i] += np.mean((phi_train[:, :p] @ w - y_train) ** 2) / n_trials
            test_error[i] += np.mean((phi_test[:, :p] @ w - y_test) ** 2) / n_trials
            weight_norm[i] += np.linalg.norm(w) / n_trials
    return pd.DataFrame(
        {"features": feature_counts, "train_error": train_error, "test_error": test_error,
         "weight_norm": weight_norm}
    ).set_index("features")
# --8<-- [end:random_features_study]


# Figures for the chapter (matplotlib's object API: no global state, no display needed).


# --8<-- [start:plot_polynomial_study]
from snippets.plotting import Figure

N_TRAIN = 20  # points per training set: bias_variance's default


def plot_estimation_floor(axes, study, n_sets):
    """The average of n_sets fits wobbles by variance / n_sets: bias^2 estimates cannot go below it."""
    axes.plot(study.index, study["variance"] / n_sets, color="C0", linestyle=":", alpha=0.7,
              label="floor of the bias$^2$ estimate")


def plot_polynomial_study(study, n_sets=500):  # n_sets: bias_variance's default
    """bias^2, variance, their sum plus noise, and the simulated test error against the degree."""
    figure = Figure(figsize=(6.4, 4.0))
    axes = figure.subplots()
    axes.plot(study.index, study["bias2"], "o-", label="bias$^2$")
    plot_estimation_floor(axes, study, n_sets)
    axes.plot(study.index, study["variance"], "s-", label="variance")
    axes.axhline(study["noise"].iloc[0], color="grey", linestyle=":", label="noise $\\sigma^2$")
    axes.plot(study.index, study["sum"], "-", color="black", linewidth=3, alpha=0.3,
              label="bias$^2$ + variance + noise")
    axes.plot(study.index, study["test_error"], "k.", markersize=8, label="simulated test error")
    axes.set(yscale="log", xlabel="polynomial degree", ylabel="squared error",
             title=f"Polynomial fits over {n_sets} training sets of {N_TRAIN} points")
    axes.legend(fontsize="small")
    return figure
# --8<-- [end:plot_polynomial_study]


# --8<-- [start:plot_ridge_study]
from snippets.plotting import Figure


def plot_ridge_study(study, degree=12, n_sets=500):
    """bias^2 and variance against the ridge penalty, at one fixed degree."""
    figure = Figure(figsize=(6.4, 4.0))
    axes = figure.subplots()
    axes.plot(study.index, study["bias2"], "o-", label="bias$^2$")
    plot_estimation_floor(axes, study, n_sets)
    axes.plot(study.index, study["variance"], "s-", label="variance")
    axes.plot(study.index, study["test_error"], "k.-", label="simulated test error")
    axes.axhline(study["noise"].iloc[0], color="grey", linestyle=":", label="noise $\\sigma^2$")
    axes.set(xscale="log", yscale="log", xlabel="ridge penalty $\\lambda$", ylabel="squared error",
             title=f"Ridge at degree {degree}")
    axes.legend(fontsize="small")
    return figure
# --8<-- [end:plot_ridge_study]


# --8<-- [start:plot_random_features_study]
from snippets.plotting import Figure


def plot_random_features_study(study, n_train=50):
    """Train and test error against the number of random features, threshold p = n marked."""
    figure = Figure(figsize=(6.4, 4.0))
    axes = figure.subplots()
    axes.plot(study.index, study["test_error"], "o-", label="test error")
    axes.plot(study.index, study["train_error"], "s-", label="training error")
    axes.axvline(n_train, color="grey", linestyle="--", label=f"p = n = {n_train}")
    axes.set_yscale("symlog", linthresh=0.01)  # linear near 0 (training error), log above
    axes.set_ylim(bottom=0)
    axes.set(xscale="log", xlabel="number of random features p",
             ylabel="mean squared error", title="Min-norm least squares on random ReLU features")
    axes.legend(fontsize="small")
    return figure
# --8<-- [end:plot_random_features_study]
