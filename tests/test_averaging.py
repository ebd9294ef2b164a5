"""The averaging page's claims, asserted with fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest

from snippets import averaging as a


def test_ece_of_calibrated_and_overconfident_predictions():
    rng = np.random.default_rng(0)
    n = 20_000
    confidence = rng.uniform(0.5, 1.0, n)
    labels = np.zeros(n, dtype=int)
    correct = rng.random(n) < confidence  # right exactly as often as it claims
    predicted = np.where(correct, 0, 1)
    probabilities = np.zeros((n, 2))
    probabilities[np.arange(n), predicted] = confidence
    probabilities[np.arange(n), 1 - predicted] = 1 - confidence
    assert a.expected_calibration_error(probabilities, labels) < 0.02
    # Always 90% sure, right half the time: the error is the gap, 0.4.
    sure = np.tile([0.9, 0.1], (n, 1))
    half = np.where(np.arange(n) % 2 == 0, 0, 1)
    assert a.expected_calibration_error(sure, half) == pytest.approx(0.4)


def test_swa_callback_averages_the_last_epochs():
    weights = a.train_mlp(0)
    assert set(weights) == {"last", "EMA", "SWA"}
    for name in ("EMA", "SWA"):
        assert not all(np.array_equal(x, y) for x, y in zip(weights["last"], weights[name]))
    assert a.SWA_START == 10 and a.EPOCHS == 20 and a.EMA_MOMENTUM == 0.99


def test_ensemble_beats_its_members_on_loss_and_calibration():
    table = a.ensemble_against_members()
    members = table.loc[[f"seed {s}" for s in a.SEEDS]]
    ensemble = table.loc[f"ensemble of {len(a.SEEDS)}"]
    assert len(members) == 5
    assert (ensemble["test loss"] < members["test loss"] - 0.01).all()
    assert (ensemble["ECE"] < members["ECE"]).all()
    assert ensemble["ECE"] < 0.85 * members["ECE"].mean()
    assert ensemble["test accuracy"] > members["test accuracy"].mean()


def test_averaged_weights_test_better_than_the_last_weights():
    table = a.weight_averaging()
    assert list(table.index) == ["last", "EMA", "SWA"]
    last = table.loc["last"]
    for name in ("EMA", "SWA"):
        assert table.loc[name, "test loss"] < last["test loss"] - 0.005
        assert table.loc[name, "ECE"] < last["ECE"]
        assert table.loc[name, "test accuracy"] >= last["test accuracy"]
    # The members' mean of the ensemble table is the mean of the same last weights.
    assert last["test accuracy"] == pytest.approx(
        a.ensemble_against_members().loc["members' mean", "test accuracy"])
