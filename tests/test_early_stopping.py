"""The early-stopping chapter's claims, asserted with fixed seeds."""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest

from snippets import early_stopping as es


def test_keras_defaults_do_not_restore_weights():
    defaults = {k: v.default for k, v in inspect.signature(keras.callbacks.EarlyStopping).parameters.items()}
    assert defaults["monitor"] == "val_loss"
    assert defaults["patience"] == 0
    assert defaults["restore_best_weights"] is False


def test_the_small_problem_overfits():
    run = es.early_stopping_run(True, patience=30, max_epochs=30)
    curve = run["val_loss"]
    # The validation loss falls a long way, then rises again after its lowest point.
    assert curve[0] > 2 * min(curve)
    assert 5 < run["best_epoch"] < 30
    assert curve[-1] > min(curve) + 0.01


def test_restore_best_weights_decides_which_weights_fit_leaves():
    kept = es.early_stopping_run(False)
    restored = es.early_stopping_run(True)
    # Same seed, same training: the flag changes nothing until fit returns.
    assert kept["val_loss"] == restored["val_loss"]
    epochs_run = len(kept["val_loss"])
    assert kept["stopped_epoch"] == restored["stopped_epoch"] == epochs_run < 40
    assert kept["best_epoch"] == restored["best_epoch"] < kept["stopped_epoch"]
    assert kept["stopped_epoch"] == kept["best_epoch"] + kept["patience"]  # patience epochs past the best
    assert kept["best_val_loss"] == pytest.approx(min(kept["val_loss"]), abs=1e-7)
    # Without restoring, the model holds the last epoch's weights ...
    assert kept["final_val_loss"] == pytest.approx(kept["val_loss"][-1], abs=1e-5)
    assert kept["final_val_loss"] > kept["best_val_loss"] + 1e-3
    # ... with restoring, the best epoch's weights.
    assert restored["final_val_loss"] == pytest.approx(restored["best_val_loss"], abs=1e-5)


def test_keras3_restores_even_when_training_never_stops():
    run = es.early_stopping_run(True, patience=30, max_epochs=30)
    assert run["stopped_epoch"] is None and len(run["val_loss"]) == 30
    assert run["best_epoch"] < 30
    assert run["val_loss"][-1] > run["best_val_loss"] + 1e-3
    assert run["final_val_loss"] == pytest.approx(run["best_val_loss"], abs=1e-5)


def test_patience_on_a_noisy_curve():
    curve, outcomes = es.patience_on_recorded_curve()
    by_patience = {o["patience"]: o for o in outcomes}
    # Keras counts the current epoch before comparing with patience: 0 and 1 act alike.
    assert (by_patience[0]["stopped_epoch"], by_patience[0]["best_epoch"]) == (
        by_patience[1]["stopped_epoch"],
        by_patience[1]["best_epoch"],
    )
    # Patience 0 stops at the first bump, epochs before the run's lowest validation loss.
    lowest_epoch = int(np.argmin(curve)) + 1
    assert by_patience[0]["stopped_epoch"] < lowest_epoch - 2
    assert by_patience[0]["best_val_loss"] > min(curve) + 0.05
    # Patience 5 rides out the bumps and finds the lowest point of the whole run.
    assert by_patience[5]["best_val_loss"] == pytest.approx(min(curve), abs=1e-7)
    assert by_patience[5]["stopped_epoch"] == by_patience[5]["best_epoch"] + 5


def test_replay_matches_a_real_run():
    curve, outcomes = es.patience_on_recorded_curve()
    replayed = {o["patience"]: o for o in outcomes}[0]
    real = es.early_stopping_run(False, patience=0)
    assert real["val_loss"] == curve[: len(real["val_loss"])]
    assert (real["stopped_epoch"], real["best_epoch"]) == (replayed["stopped_epoch"], replayed["best_epoch"])


def test_patience_figure_marks_each_stop_and_the_lowest_point():
    curve, outcomes = es.patience_on_recorded_curve()
    fig = es.plot_patience(curve, outcomes)
    assert fig.canvas.manager is None  # made with the Figure API: no pyplot window or state
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert np.allclose(lines["validation loss"].get_ydata(), curve)
    star = lines["lowest val_loss"]
    assert (star.get_xdata()[0], star.get_ydata()[0]) == (int(np.argmin(curve)) + 1, min(curve))
    for outcome in outcomes:
        stop = lines[f"patience {outcome['patience']}: stop"]
        assert stop.get_xdata()[0] == outcome["stopped_epoch"]


def test_gradient_descent_matches_its_closed_form():
    X, y = es.least_squares_problem()
    lr, steps = 0.05, 40
    s, Q = np.linalg.eigh(X.T @ X / len(X))
    w_ls = es.ridge(X, y, 0.0)
    closed_form = Q @ ((1 - (1 - lr * s) ** steps) * (Q.T @ w_ls))
    assert np.allclose(es.gradient_descent(X, y, lr, steps)[-1], closed_form)


def test_gradient_descent_tracks_ridge_with_lambda_one_over_lr_t():
    lr, curvature, table = es.gradient_descent_vs_ridge()
    assert lr == pytest.approx(es.STEP_FRACTION / curvature.max())
    assert np.allclose(table["lambda = 1/(lr t)"], 1 / (lr * table["steps t"]))
    to_ridge, to_ls = table["|GD - ridge| / |ridge|"], table["|GD - least squares| / |least squares|"]
    assert (to_ridge < 0.35).all()
    early = table["steps t"] <= 1000
    assert (to_ridge[early] < to_ls[early]).all()
    # Many steps: gradient descent reaches the unregularized solution, ridge with tiny lambda too.
    assert to_ls.iloc[-1] < 0.05 and to_ridge.iloc[-1] < 0.1


def test_gd_and_ridge_gaps_match_their_spectral_filters():
    # In the eigenbasis of X^T X / n both methods scale the least-squares coefficients:
    # GD after t steps by 1 - (1 - lr s)^t, ridge by s / (s + lambda).
    lr, curvature, table = es.gradient_descent_vs_ridge()
    X, y = es.least_squares_problem()
    s, Q = np.linalg.eigh(X.T @ X / len(X))
    coefficients = Q.T @ np.linalg.lstsq(X, y, rcond=None)[0]
    assert np.allclose(s, curvature)
    for _, row in table.iterrows():
        gd = (1 - (1 - lr * s) ** row["steps t"]) * coefficients
        ridge = s / (s + row["lambda = 1/(lr t)"]) * coefficients
        assert row["|GD - ridge| / |ridge|"] == pytest.approx(
            np.linalg.norm(gd - ridge) / np.linalg.norm(ridge), rel=1e-6)
        assert row["|GD - least squares| / |least squares|"] == pytest.approx(
            np.linalg.norm(gd - coefficients) / np.linalg.norm(coefficients), rel=1e-6)


def test_gd_vs_ridge_figure_draws_every_coefficient_path_and_both_filters():
    fig = es.plot_gd_vs_ridge(seed=0)
    assert fig.canvas.manager is None
    paths, filters = fig.axes
    X, y = es.least_squares_problem()
    lines = paths.get_lines()
    assert len(lines) == 2 * X.shape[1]  # one ridge line and one set of GD dots per coefficient
    ridge_lines = lines[0::2]
    lams = ridge_lines[0].get_xdata()
    assert np.allclose(ridge_lines[0].get_ydata()[-1], es.ridge(X, y, lams[-1])[0])
    x = filters.get_lines()[0].get_xdata()
    gd_filter, ridge_filter = (line.get_ydata() for line in filters.get_lines())
    assert np.allclose(gd_filter, 1 - np.exp(-x)) and np.allclose(ridge_filter, x / (1 + x))
    assert np.all(gd_filter >= ridge_filter)  # GD runs slightly ahead of its ridge match
