"""The bias-variance chapter's claims, checked with the seeds the chapter uses."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

from snippets.bias_variance import (
    fit_polynomial,
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


def test_noise_term_is_the_label_noise_variance():
    assert np.allclose(degree_table()["noise"], 0.3**2)


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


def test_every_degree_sees_the_same_training_sets():
    # A degree's row does not depend on which other degrees the study fits.
    alone = polynomial_study(degrees=(3, 9))
    pd.testing.assert_frame_equal(alone, degree_table().loc[[3, 9]], check_exact=False, rtol=1e-12)


def test_models_with_fewer_features_use_the_first_features_of_the_pool():
    # A feature count's row does not depend on which other counts the study fits.
    alone = random_features_study(feature_counts=(10, 50, 800))
    pd.testing.assert_frame_equal(alone, features_table().loc[[10, 50, 800]], check_exact=False, rtol=1e-9)
