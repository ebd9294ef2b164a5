"""The label-smoothing page's claims, asserted with fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest

from snippets import label_smoothing as ls
from snippets.data import notebook_subsets


def test_keras_smoothing_is_cross_entropy_against_smoothed_targets():
    targets = ls.smoothed_targets(np.array([3, 0]), 0.1)
    assert targets[0, 3] == pytest.approx(0.91) and targets[0, 0] == pytest.approx(0.01)
    assert np.allclose(targets.sum(axis=1), 1.0)
    for alpha in (0.0, 0.1, 0.3):
        check = ls.smoothing_loss_check(alpha)
        assert check["Keras, label_smoothing"] == pytest.approx(check["by hand, smoothed targets"], rel=1e-5)
    # Smoothing changes the loss: the check is not comparing a number with itself.
    assert ls.smoothing_loss_check(0.3)["by hand, smoothed targets"] != pytest.approx(
        ls.smoothing_loss_check(0.0)["by hand, smoothed targets"], rel=1e-3)


def test_the_best_prediction_keeps_a_finite_logit_gap():
    best = ls.best_prediction(0.1)
    assert best["probability of the label"] == pytest.approx(0.91)
    assert best["logit gap"] == pytest.approx(np.log(91))
    assert ls.best_prediction(0.0)["logit gap"] == float("inf")


def test_ece_of_known_predictions():
    labels = np.array([0, 0, 0, 0])
    # Four images, all at confidence 0.8 (one bin); three of four correct: ECE = |0.75 - 0.8|.
    probabilities = np.full((4, 10), 0.2 / 9)
    probabilities[:, 0] = 0.8
    probabilities[3] = np.roll(probabilities[3], 1)  # the fourth predicts class 1
    assert ls.expected_calibration_error(probabilities, labels) == pytest.approx(0.05)
    table = ls.reliability_bins(probabilities, labels)
    assert len(table) == 15 and table["images"].sum() == 4
    assert table.dropna()["images"].tolist() == [4]


def test_smoothing_lowers_confidence_and_here_miscalibrates():
    table = ls.calibration_table()
    plain, smoothed = table.loc[0.0], table.loc[0.1]
    # Accuracy about the same, confidence clearly lower.
    assert abs(smoothed["accuracy"] - plain["accuracy"]) < 0.02
    assert smoothed["mean confidence"] < plain["mean confidence"] - 0.1
    # The plain model is already close to calibrated; the smoothed one is underconfident.
    assert plain["ECE (15 bins)"] < 0.05
    assert smoothed["ECE (15 bins)"] > 2 * plain["ECE (15 bins)"]
    assert smoothed["mean confidence"] < smoothed["accuracy"]
    # The bound 1 - alpha + alpha / K holds for the best fit of training images, not elsewhere.
    assert smoothed["highest confidence"] > ls.best_prediction(0.1)["probability of the label"]


def test_reliability_diagram_draws_the_bins():
    fig = ls.plot_reliability()
    assert len(fig.axes) == 2
    _, (_, y_val), _ = notebook_subsets(ls.N_TRAIN, ls.N_VALIDATION)
    for ax, alpha in zip(fig.axes, ls.ALPHAS):
        probabilities = ls.train_smoothed_mlp(alpha)["held-out probabilities"]
        filled = ls.reliability_bins(probabilities, y_val).dropna()
        assert len(ax.patches) == len(filled)
        assert np.allclose([p.get_height() for p in ax.patches], filled["accuracy"])
        assert ax.get_title() == f"label_smoothing={alpha:g}"
    assert fig.axes[0].get_ylabel() == "accuracy"
    # What the page reads off it: without smoothing most images sit in the last bin;
    # with smoothing most images sit in bins whose accuracy is above their confidence.
    plain = ls.reliability_bins(ls.train_smoothed_mlp(0.0)["held-out probabilities"], y_val)
    assert plain["images"].idxmax() == 14 and plain["images"].iloc[14] > len(y_val) / 2
    smoothed = ls.reliability_bins(ls.train_smoothed_mlp(0.1)["held-out probabilities"], y_val).dropna()
    above = smoothed[smoothed["accuracy"] > smoothed["confidence"]]["images"].sum()
    assert above > 0.5 * len(y_val)


def test_smoothing_resists_wrong_labels():
    table = ls.noisy_label_table()
    assert list(table.index) == [0.0, 0.1, 0.3]
    learned = table["wrong labels learned"].to_numpy()
    held_out = table["held-out accuracy"].to_numpy()
    # The more smoothing, the fewer wrong labels learned and the better on held-out images.
    assert (np.diff(learned) < 0).all() and learned[0] - learned[-1] > 0.05
    assert (np.diff(held_out) > 0).all() and held_out[-1] - held_out[0] > 0.03
    true_labels = table["true training labels"].to_numpy()
    assert (np.diff(true_labels) > 0).all()  # and the more often it predicts the true label
