"""The bias-variance chapter's claims, checked with the seeds the chapter uses."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from snippets.bias_variance import (
    fit_polynomial,
    plot_polynomial_study,
    plot_random_features_study,
    plot_ridge_study,
    min_norm_least_squares,
    polynomial_features,
    polynomial_study,
    random_features_study,
    relu_features,
    ridge_study,
    sample_training_set,
)


@lru_cache(maxsize=None)
def degree_table():
    return polynomial_study()


@lru_cache(maxsize=None)
def ridge_table():
    return ridge_study()


@lru_cache(maxsize=None)
def features_table():
    return random_features_study()


def test_decomposition_matches_simulated_test_error():
    table = degree_table()
    relative_gap = np.abs(table["sum"] - table["test_error"]) / table["test_error"]
    assert relative_gap.max() < 0.02, relative_gap
    ridge_gap = np.abs(ridge_table()["sum"] - ridge_table()["test_error"]) / ridge_table()["test_error"]
    assert ridge_gap.max() < 0.02, ridge_gap


def test_no_procedure_beats_the_noise():
    # The noise term is the label noise's variance, and no degree or penalty gets below it.
    assert np.allclose(degree_table()["noise"], 0.3**2)
    assert degree_table()["test_error"].min() > 0.3**2
    assert ridge_table()["test_error"].min() > 0.3**2


def test_bias_falls_with_degree():
    bias2 = degree_table()["bias2"]
    # sin(2 pi x) is odd about x = 1/2, so even degrees add nothing: compare 0, 1, 3, 5.
    assert bias2[0] > bias2[1] > bias2[3] > bias2[5]
    assert bias2[0] > 0.4 and bias2[1] > 0.15
    assert bias2.loc[5:].max() < 0.01
    # The steps: an even degree adds (almost) nothing to the odd degree below it.
    assert bias2[2] == pytest.approx(bias2[1], rel=0.05)
    assert bias2[4] == pytest.approx(bias2[3], rel=0.2)


def test_variance_rises_with_degree():
    variance = degree_table()["variance"].to_numpy()
    assert np.all(np.diff(variance) > 0), variance
    assert variance[-1] > 100 * variance[0]


def test_test_error_is_u_shaped_in_the_degree():
    error = degree_table()["test_error"]
    best = error.idxmin()
    assert 3 <= best <= 6
    assert error[0] > 3 * error[best] and error.iloc[-1] > 3 * error[best]


def test_ridge_trades_variance_for_bias():
    table = ridge_table()
    variance = table["variance"].to_numpy()
    assert np.all(np.diff(variance) < 0), variance
    large = table.loc[0.1:, "bias2"].to_numpy()  # where bias is no longer at its floor
    assert np.all(np.diff(large) > 0), large
    assert table["bias2"].iloc[-1] > 20 * table["bias2"].iloc[0]
    # With little penalty the bias^2 estimate is at its floor, variance / number of sets.
    small = table.loc[:1e-2]
    assert np.all(small["bias2"] < 2 * small["variance"] / 500), small
    # The best penalty is in between: neither the smallest nor the largest.
    best = table["test_error"].to_numpy().argmin()
    assert 0 < best < len(table) - 1


def test_ridge_with_zero_penalty_is_least_squares():
    rng = np.random.default_rng(1)
    x, y = sample_training_set(rng, 20, 0.3)
    ours = fit_polynomial(x, y, 5)
    reference = np.linalg.lstsq(polynomial_features(x, 5), y, rcond=None)[0]
    assert np.allclose(ours, reference)


def test_double_descent_peaks_at_the_interpolation_threshold():
    table = features_table()
    n_train = 50
    assert table["test_error"].idxmax() == n_train
    assert table.loc[n_train, "test_error"] > 10 * table.loc[[20, 100], "test_error"].max()
    # Below it, training error falls as features are added and test error is U-shaped.
    under = table.loc[: n_train - 1]
    assert np.all(np.diff(under["train_error"]) < 0) and under["train_error"].min() > 1e-3
    best_under = under["test_error"].idxmin()
    assert under.index[0] < best_under < under.index[-1]
    # Past the threshold every model interpolates the training data...
    assert table.loc[n_train:, "train_error"].max() < 1e-8
    # ...and still the test error falls again as features are added,
    over = table.loc[52:, "test_error"].to_numpy()
    assert np.all(np.diff(over) < 0), over
    # down below the best model with fewer features than training points.
    assert table.loc[200:, "test_error"].min() < table.loc[: n_train - 1, "test_error"].min()


def test_weights_explode_at_the_threshold_and_shrink_past_it():
    norm = features_table()["weight_norm"]
    assert norm.idxmax() == 50
    assert norm[50] > 10 * max(norm[20], norm[100])
    past = norm.loc[52:].to_numpy()
    assert np.all(np.diff(past) < 0), past


def test_min_norm_solution_is_the_smallest_interpolator():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(10, 3))
    features = relu_features(x, rng.normal(size=(3, 40)))
    y = rng.normal(size=10)
    w = min_norm_least_squares(features, y)
    assert np.allclose(features @ w, y)
    # Any other interpolator adds a null-space component and is longer.
    null_direction = np.linalg.svd(features)[2][-1]
    assert np.linalg.norm(w + 0.1 * null_direction) > np.linalg.norm(w)


def test_ridge_leaves_the_constant_unpenalized():
    # As in the chapter's formula: a huge penalty flattens the fit to the mean of y, not to 0.
    rng = np.random.default_rng(3)
    x, y = sample_training_set(rng, 20, 0.3)
    y = y + 5.0  # far from the origin
    coefficients = fit_polynomial(x, y, 12, ridge=1e9)
    assert coefficients[0] == pytest.approx(y.mean(), rel=1e-6)
    assert np.abs(coefficients[1:]).max() < 1e-6
    # Shifting y shifts the ridge fit by the same amount: the origin of y does not matter.
    shifted = fit_polynomial(x, y + 3.0, 12, ridge=0.1)
    unshifted = fit_polynomial(x, y, 12, ridge=0.1)
    assert shifted[0] == pytest.approx(unshifted[0] + 3.0)
    assert np.allclose(shifted[1:], unshifted[1:])


def test_one_exact_fit_at_p_equal_n_infinitely_many_past_it():
    rng = np.random.default_rng(4)
    n = 50
    x = rng.normal(size=(n, 10))
    weights = rng.normal(size=(10, n + 10)) / np.sqrt(10)
    square = relu_features(x, weights[:, :n])
    # At p = n the feature matrix has full rank: the exact fit exists and is unique.
    assert np.linalg.matrix_rank(square) == n
    # Past it, the null space is not empty: adding any multiple of a null vector still fits.
    wide = relu_features(x, weights)
    y = rng.normal(size=n)
    w = min_norm_least_squares(wide, y)
    null_direction = np.linalg.svd(wide)[2][-1]
    assert np.allclose(wide @ null_direction, 0.0, atol=1e-9)
    assert np.allclose(wide @ (w + 3.0 * null_direction), y)


def test_polynomial_figure_draws_the_table():
    table = degree_table()
    figure = plot_polynomial_study(table)
    axes = figure.axes[0]
    lines = {line.get_label(): line for line in axes.get_lines()}
    assert np.allclose(lines["bias$^2$"].get_ydata(), table["bias2"])
    assert np.allclose(lines["variance"].get_ydata(), table["variance"])
    assert np.allclose(lines["simulated test error"].get_ydata(), table["test_error"])
    assert np.allclose(lines["floor of the bias$^2$ estimate"].get_ydata(), table["variance"] / 500)
    assert list(lines["bias$^2$"].get_xdata()) == list(range(13))
    assert axes.get_yscale() == "log" and axes.get_xlabel() == "polynomial degree"


def test_ridge_figure_draws_the_table():
    table = ridge_table()
    figure = plot_ridge_study(table)
    axes = figure.axes[0]
    lines = {line.get_label(): line for line in axes.get_lines()}
    assert np.allclose(lines["variance"].get_xdata(), table.index)
    assert np.allclose(lines["simulated test error"].get_ydata(), table["test_error"])
    assert axes.get_xscale() == "log" and "12" in axes.get_title()


def test_random_features_figure_marks_the_threshold():
    table = features_table()
    figure = plot_random_features_study(table, n_train=50)
    axes = figure.axes[0]
    lines = {line.get_label(): line for line in axes.get_lines()}
    assert np.allclose(lines["test error"].get_ydata(), table["test_error"])
    assert np.allclose(lines["training error"].get_ydata(), table["train_error"])
    assert list(lines["p = n = 50"].get_xdata()) == [50, 50]
