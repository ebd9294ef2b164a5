"""The dropout chapter's claims, asserted with fixed seeds."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from snippets import dropout as d


def test_numpy_dropout_conventions_match_in_expectation():
    rng = np.random.default_rng(0)
    h = np.arange(1.0, 6.0)
    # Inverted dropout: identity at inference; original: scaled by the retain probability.
    assert np.array_equal(d.dropout_forward(h, 0.3, training=False, rng=rng), h)
    assert np.allclose(d.dropout_forward(h, 0.3, training=False, rng=rng, inverted=False), 0.7 * h)
    trained = d.dropout_forward(np.ones(100_000), 0.3, training=True, rng=rng)
    assert np.allclose(np.unique(trained), [0.0, 1 / 0.7])
    checks = d.expectation_matches_inference(rate=0.5, seed=0)
    assert list(checks) == ["inverted (Keras)", "original (test-time scaling)"]
    (inverted_mean, inverted_inference), (original_mean, original_inference) = checks.values()
    assert inverted_inference == 3.0 and original_inference == 1.5  # identity vs retain-probability scaling
    assert inverted_mean == pytest.approx(inverted_inference, rel=0.01)
    assert original_mean == pytest.approx(original_inference, rel=0.01)


def test_keras_dropout_zeroes_half_and_doubles_survivors_in_training_only():
    result = d.keras_dropout_train_vs_inference(rate=0.5, size=10_000, seed=0)
    assert 4800 <= result["zeros in training"] <= 5200
    assert result["survivor values"] == (2.0,)  # exactly 1 / (1 - 0.5)
    assert result["inference output equals input"]
    assert abs(result["training mean"] - 1.0) < 0.03
    fifth = d.keras_dropout_train_vs_inference(rate=0.2, size=10_000, seed=0)
    assert 1800 <= fifth["zeros in training"] <= 2200
    assert fifth["survivor values"] == (pytest.approx(1.25),)  # 1 / (1 - 0.2), not 0.2 or 0.8


def test_every_rate_starts_from_the_same_weights():
    keras.utils.set_random_seed(0)
    plain = d.dropout_mlp(0.0).get_weights()
    keras.utils.set_random_seed(0)
    dropped = d.dropout_mlp(0.5).get_weights()
    assert [w.shape for w in plain] == [(784, 300), (300,), (300, 100), (100,), (100, 10), (10,)]
    assert all(np.array_equal(a, b) for a, b in zip(plain, dropped))


def test_training_uses_the_stated_settings_and_records_the_clean_loss():
    weights, history = d.train_dropout_mlp(0.5)
    assert d.LEARNING_RATE == 0.05 and d.BATCH_SIZE == 32  # what the page prints
    assert set(history) >= {"loss", "accuracy", "val_loss", "val_accuracy", "clean_loss"}
    assert all(len(values) == d.EPOCHS for values in history.values())
    # With dropout off the training set's loss is lower than Keras' loss with dropout on.
    assert all(clean < noisy for clean, noisy in zip(history["clean_loss"], history["loss"]))


def test_monte_carlo_average_is_close_to_deterministic_pass():
    result = d.monte_carlo_dropout()
    gaps = list(result["mean |MC average - deterministic|"].values())
    assert list(result["mean |MC average - deterministic|"]) == [1, 3, 10, 30, 100]
    assert gaps[-1] < gaps[0]  # averaging helps
    assert gaps[-1] < 0.03  # and ends close to the single deterministic pass
    # It levels off a little above zero: the deterministic pass approximates the average.
    assert abs(gaps[-2] - gaps[-1]) < 0.005
    assert gaps[-1] > 0.005
    assert result["same predicted class"] >= 0.97
    assert abs(result["MC average accuracy"] - result["deterministic accuracy"]) <= 0.02
    assert result["deterministic accuracy"] > 0.85
    assert result["spread, misclassified images"] > result["spread, correct images"]  # more where it errs


def test_monte_carlo_passes_do_not_depend_on_earlier_calls():
    keras.utils.set_random_seed(1)
    model = d.dropout_mlp(0.5)
    x = np.random.default_rng(0).random((7, 28, 28), dtype=np.float32)
    first = d.mc_dropout_predictions(model, x, passes=30, seed=3)
    model(x, training=True)  # draws masks from the model's own dropout layers
    d.mc_dropout_predictions(model, x, passes=5, seed=4)
    second = d.mc_dropout_predictions(model, x, passes=30, seed=3)
    assert first.shape == (30, 7, 10)
    assert np.array_equal(first, second)
    assert first.std(axis=0).max() > 0  # the passes differ from each other


def test_dropout_slows_the_decrease_of_training_loss():
    curves = d.training_curves()
    assert len(curves) == d.EPOCHS
    for column in ("loss", "clean loss"):
        # Higher with dropout at every epoch, with dropout on and off.
        assert (curves[(column, 0.5)] > curves[(column, 0.0)]).all()
    # Both keep improving, but dropout needs more epochs to reach the same clean loss.
    assert curves[("clean loss", 0.5)].iloc[-1] < curves[("clean loss", 0.5)].iloc[0]
    for target in (0.4, 0.25):
        assert d.epochs_to_reach(curves, 0.5, target) > d.epochs_to_reach(curves, 0.0, target)
    assert d.epochs_to_reach(curves, 0.5, 0.0) is None


def test_training_curves_figure_plots_the_curves():
    curves = d.training_curves()
    fig = d.plot_training_curves(curves)
    left, right = fig.axes
    for ax, column in ((left, "loss"), (right, "clean loss")):
        lines = ax.get_lines()
        assert len(lines) == 2
        for line, rate in zip(lines, (0.0, 0.5)):
            assert list(line.get_xdata()) == list(range(1, d.EPOCHS + 1))
            assert np.array_equal(line.get_ydata(), curves[(column, rate)].to_numpy())
    assert [t.get_text() for t in right.get_legend().get_texts()] == ["no dropout", "dropout 0.5"]
    assert left.get_ylabel() == "cross-entropy" and right.get_xlabel() == "epoch"


def test_dropout_before_batch_norm_shifts_variance():
    shift = d.variance_shift()
    before, after = shift.loc["dropout -> BN"], shift.loc["BN -> dropout"]
    # Dropout in front: batch norm learns a variance more than twice what it sees at inference,
    # above the formula's lower bound 1 / (1 - p) = 2, and close to the formula's prediction.
    assert before["moving var / inference var"] > 2.2
    assert before["predicted ratio"] > 2.0
    assert before["moving var / inference var"] == pytest.approx(before["predicted ratio"], rel=0.2)
    assert before["BN output std at inference"] < 0.75
    # Dropout after batch norm: the statistics match.
    assert after["moving var / inference var"] == pytest.approx(1.0, abs=0.1)
    assert after["BN output std at inference"] == pytest.approx(1.0, abs=0.05)
