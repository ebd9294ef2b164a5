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


def test_restore_best_weights_decides_which_weights_fit_leaves():
    kept = es.early_stopping_run(False)
    restored = es.early_stopping_run(True)
    # Same seed, same training: the flag changes nothing until fit returns.
    assert kept.val_loss == restored.val_loss
    assert kept.stopped_epoch == restored.stopped_epoch == kept.epochs_run < kept.max_epochs
    assert kept.best_epoch == restored.best_epoch < kept.stopped_epoch
    assert kept.stopped_epoch == kept.best_epoch + kept.patience  # patience epochs past the best
    assert kept.best_val_loss == min(kept.val_loss)
    # Without restoring, the model holds the last epoch's weights ...
    assert kept.final_val_loss == pytest.approx(kept.last_epoch_val_loss, abs=1e-5)
    assert kept.final_val_loss > kept.best_val_loss + 1e-3
    # ... with restoring, the best epoch's weights.
    assert restored.final_val_loss == pytest.approx(restored.best_val_loss, abs=1e-5)


def test_keras3_restores_even_when_training_never_stops():
    run = es.early_stopping_run(True, patience=30, max_epochs=30)
    assert run.stopped_epoch is None and run.epochs_run == 30
    assert run.best_epoch < 30
    assert run.last_epoch_val_loss > run.best_val_loss + 1e-3
    assert run.final_val_loss == pytest.approx(run.best_val_loss, abs=1e-5)


def test_patience_on_a_noisy_curve():
    curve, outcomes = es.patience_on_recorded_curve()
    by_patience = {o.patience: o for o in outcomes}
    # Keras counts the current epoch before comparing with patience: 0 and 1 act alike.
    assert (by_patience[0].stopped_epoch, by_patience[0].best_epoch) == (
        by_patience[1].stopped_epoch,
        by_patience[1].best_epoch,
    )
    # Patience 0 stops at the first bump, before the run's lowest validation loss.
    lowest_epoch = int(np.argmin(curve)) + 1
    assert by_patience[0].stopped_epoch < lowest_epoch
    assert by_patience[0].best_val_loss > min(curve)
    # Patience 5 rides out the bumps and finds the lowest point of the whole run.
    assert by_patience[5].best_val_loss == min(curve)
    assert by_patience[5].stopped_epoch == by_patience[5].best_epoch + 5


def test_replay_matches_a_real_run():
    curve, outcomes = es.patience_on_recorded_curve()
    replayed = {o.patience: o for o in outcomes}[0]
    real = es.early_stopping_run(False, patience=0)
    assert real.val_loss == curve[: real.epochs_run]
    assert (real.stopped_epoch, real.best_epoch) == (replayed.stopped_epoch, replayed.best_epoch)


def test_gradient_descent_matches_its_closed_form():
    X, y = es.least_squares_problem()
    lr, steps = 0.05, 40
    s, Q = np.linalg.eigh(X.T @ X / len(X))
    w_ls = es.ridge(X, y, 0.0)
    closed_form = Q @ ((1 - (1 - lr * s) ** steps) * (Q.T @ w_ls))
    assert np.allclose(es.gradient_descent(X, y, lr, steps)[-1], closed_form)


def test_gradient_descent_tracks_ridge_with_lambda_one_over_lr_t():
    lr, curvature, rows = es.gradient_descent_vs_ridge()
    assert lr == pytest.approx(es.STEP_FRACTION / curvature.max())
    for row in rows:
        assert row.lam == pytest.approx(1 / (lr * row.steps))
        assert row.gap_to_ridge < 0.35
    early = [r for r in rows if r.steps <= 1000]
    assert all(r.gap_to_ridge < r.gap_to_least_squares for r in early)
    # Many steps: gradient descent reaches the unregularized solution, ridge with tiny lambda too.
    assert rows[-1].gap_to_least_squares < 0.05 and rows[-1].gap_to_ridge < 0.1


def test_gd_and_ridge_gaps_match_their_spectral_filters():
    # In the eigenbasis of X^T X / n both methods scale the least-squares coefficients:
    # GD after t steps by 1 - (1 - lr s)^t, ridge by s / (s + lambda).
    lr, curvature, rows = es.gradient_descent_vs_ridge()
    X, y = es.least_squares_problem()
    s, Q = np.linalg.eigh(X.T @ X / len(X))
    coefficients = Q.T @ np.linalg.lstsq(X, y, rcond=None)[0]
    assert np.allclose(s, curvature)
    for row in rows:
        gd = (1 - (1 - lr * s) ** row.steps) * coefficients
        ridge = s / (s + row.lam) * coefficients
        assert row.gap_to_ridge == pytest.approx(np.linalg.norm(gd - ridge) / np.linalg.norm(ridge), rel=1e-6)
        assert row.gap_to_least_squares == pytest.approx(
            np.linalg.norm(gd - coefficients) / np.linalg.norm(coefficients), rel=1e-6)
