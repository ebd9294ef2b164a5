"""The dropout chapter's claims, asserted with fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest

from snippets import dropout as d
from snippets.demo_cache import ENV_VAR


def test_numpy_dropout_conventions_match_in_expectation():
    rng = np.random.default_rng(0)
    h = np.arange(1.0, 6.0)
    # Inverted dropout: identity at inference; original: scaled by the retain probability.
    assert np.array_equal(d.dropout_forward(h, 0.3, training=False, rng=rng), h)
    assert np.allclose(d.dropout_forward(h, 0.3, training=False, rng=rng, inverted=False), 0.7 * h)
    trained = d.dropout_forward(np.ones(100_000), 0.3, training=True, rng=rng)
    assert np.allclose(np.unique(trained), [0.0, 1 / 0.7])
    for check in d.expectation_matches_inference(rate=0.5, seed=0):
        assert check.training_mean == pytest.approx(check.inference_output, rel=0.01)


def test_keras_dropout_zeroes_half_and_doubles_survivors_in_training_only():
    result = d.keras_dropout_train_vs_inference(rate=0.5, size=10_000, seed=0)
    assert 4800 <= result.zeros_in_training <= 5200
    assert result.survivor_values == (2.0,)  # exactly 1 / (1 - 0.5)
    assert result.inference_equals_input
    assert abs(result.training_mean - 1.0) < 0.03
    assert d.keras_dropout_train_vs_inference(rate=0.5, size=10_000, seed=0) == result  # seeded


def test_monte_carlo_average_is_close_to_deterministic_pass():
    result = d.monte_carlo_dropout()
    assert result.passes == (1, 3, 10, 30, 100)
    assert result.mean_abs_gap[-1] < result.mean_abs_gap[0]  # averaging helps
    assert result.mean_abs_gap[-1] < 0.03  # and ends close to the single deterministic pass
    # It levels off a little above zero: the deterministic pass approximates the average.
    assert abs(result.mean_abs_gap[-2] - result.mean_abs_gap[-1]) < 0.005
    assert result.mean_abs_gap[-1] > 0.005
    assert result.agreement >= 0.97
    assert abs(result.monte_carlo_accuracy - result.deterministic_accuracy) <= 0.02
    assert result.deterministic_accuracy > 0.85
    assert result.spread_wrong > result.spread_correct  # more spread where the model errs


def test_monte_carlo_passes_are_reproducible():
    import keras

    from snippets.models import build_mlp

    keras.utils.set_random_seed(1)
    model = build_mlp(dropout=0.5)
    x = np.random.default_rng(0).random((7, 28, 28), dtype=np.float32)
    first = d.mc_dropout_predictions(model, x, passes=30, seed=3)
    second = d.mc_dropout_predictions(model, x, passes=30, seed=3)
    assert first.shape == (30, 7, 10)
    assert np.array_equal(first, second)
    assert first.std(axis=0).max() > 0  # the passes differ from each other


def test_dropout_slows_the_decrease_of_training_loss():
    curves = d.training_curves()
    none, half = curves.rates
    assert curves.epochs == d.EPOCHS
    for epoch in range(curves.epochs):
        assert curves.loss[half][epoch] > curves.loss[none][epoch]
        assert curves.clean_loss[half][epoch] > curves.clean_loss[none][epoch]
    # Both keep improving, but dropout needs more epochs to reach the same clean loss.
    assert curves.clean_loss[half][-1] < curves.clean_loss[half][0]
    for target in (0.4, 0.25):
        assert curves.epochs_to_reach(half, target) > curves.epochs_to_reach(none, target)


def test_dropout_before_batch_norm_shifts_variance():
    before, after = d.dropout_batch_norm_variance_shift()
    assert before.order == "dropout -> BN" and after.order == "BN -> dropout"
    # Dropout in front: batch norm learns a variance about 2x what it sees at inference.
    assert before.ratio_moving_to_inference > 1.8
    assert before.ratio_moving_to_inference == pytest.approx(before.predicted_ratio, rel=0.2)
    assert before.output_std_at_inference < 0.75
    # Dropout after batch norm: the statistics match.
    assert after.ratio_moving_to_inference == pytest.approx(1.0, abs=0.1)
    assert after.output_std_at_inference == pytest.approx(1.0, abs=0.05)


def test_same_seed_gives_the_same_training(monkeypatch):
    weights, history = d._trained_mlp(0.5, 0, d.EPOCHS, d.N_TRAIN)
    d._trained_mlp.cache_clear()
    monkeypatch.delenv(ENV_VAR, raising=False)  # train again for real, not from the disk cache
    weights_again, history_again = d._trained_mlp(0.5, 0, d.EPOCHS, d.N_TRAIN)
    assert history == history_again
    assert all(np.array_equal(a, b) for a, b in zip(weights, weights_again))
