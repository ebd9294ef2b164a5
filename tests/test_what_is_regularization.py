"""The first chapter's demonstrations: memorizing wrong labels, fitting random labels.

The studies are the chapter's own (same sizes, epochs and seed), cached in the
module (and on disk with $HANDBOOK_DEMO_CACHE), so the page and these tests share one
run. Each test asserts a sentence of the chapter.
"""

from __future__ import annotations

import numpy as np
import pytest

from snippets.what_is_regularization import (
    EPOCHS,
    LABEL_NOISE,
    REGULARIZERS,
    RANDOM_LABEL_EPOCHS,
    memorization_study,
    plot_memorization,
    plot_random_labels,
    random_label_study,
)


@pytest.fixture(scope="module")
def memorization():
    summary, curves = memorization_study(seed=0)
    return summary, curves


@pytest.fixture(scope="module")
def random_labels():
    summary, curves = random_label_study(seed=0)
    return summary, curves


def test_plain_mlp_memorizes_the_wrong_labels(memorization):
    summary, _ = memorization
    plain = summary.loc["none"]
    assert plain["train acc (given labels)"] >= 0.97  # it fits the 40% wrong labels too
    assert plain["wrong labels reproduced"] >= 0.9
    assert plain["true labels recovered"] <= 0.05


def test_plain_mlp_validation_accuracy_peaks_early_then_falls(memorization):
    summary, _ = memorization
    plain = summary.loc["none"]
    assert plain["best epoch"] <= 15
    assert plain["final val acc"] <= plain["best val acc"] - 0.07


def test_regularized_models_hold_validation_accuracy_up(memorization):
    summary, _ = memorization
    plain_final = summary.loc["none", "final val acc"]
    for name in ("dropout 0.5", "L2 0.02"):
        assert summary.loc[name, "final val acc"] >= plain_final + 0.04, name
        assert summary.loc[name, "wrong labels reproduced"] < summary.loc["none", "wrong labels reproduced"] - 0.1


def test_dropout_slows_memorization_down(memorization):
    summary, _ = memorization
    # Its validation peak comes later than the plain model's ...
    assert summary.loc["dropout 0.5", "best epoch"] > summary.loc["none", "best epoch"]
    # ... but by the last epoch it reproduces many of the wrong labels, far more than L2.
    assert summary.loc["dropout 0.5", "wrong labels reproduced"] > 0.4
    assert summary.loc["dropout 0.5", "wrong labels reproduced"] > summary.loc["L2 0.02", "wrong labels reproduced"] + 0.2


def test_l2_fits_the_signal_not_the_noise(memorization):
    summary, _ = memorization
    l2 = summary.loc["L2 0.02"]
    # Training accuracy stays near the share of correct labels (0.6), far from 1 ...
    assert 0.45 < l2["train acc (given labels)"] < 0.7
    assert l2["wrong labels reproduced"] < 0.3
    # ... and most images whose label was wrong get their true class.
    assert l2["true labels recovered"] > 0.5
    plain = summary.loc["none"]
    assert l2["best val acc"] - l2["final val acc"] < (plain["best val acc"] - plain["final val acc"]) / 1.5


def test_memorization_curves_cover_every_model_and_epoch(memorization):
    _, curves = memorization
    assert set(curves["regularizer"]) == {"none", "dropout 0.5", "L2 0.02"}
    assert curves.groupby("regularizer").size().eq(EPOCHS).all()
    # The summary's last training accuracy is the curve's last point.
    last = curves.groupby("regularizer")["train_accuracy"].last()
    summary, _ = memorization
    assert np.allclose(last[summary.index], summary["train acc (given labels)"])


def test_mlp_fits_random_labels_but_stays_at_chance(random_labels):
    summary, _ = random_labels
    assert summary.loc["random labels", "train acc"] >= 0.95
    assert abs(summary.loc["random labels", "test acc"] - 0.1) < 0.03
    # The same network, same images, true labels: it fits them and generalizes.
    assert summary.loc["true labels", "train acc"] >= 0.99
    assert summary.loc["true labels", "test acc"] > 0.8


def test_random_labels_take_longer_to_fit(random_labels):
    summary, _ = random_labels
    random_epochs = summary.loc["random labels", "epochs to 95% train acc"]
    true_epochs = summary.loc["true labels", "epochs to 95% train acc"]
    assert true_epochs < random_epochs <= 4 * true_epochs  # longer, but not dramatically


def test_random_label_held_out_accuracy_stays_near_chance_every_epoch(random_labels):
    _, curves = random_labels
    held_out = curves.loc[curves["labels"] == "random labels", "val_accuracy"]
    assert held_out.between(0.05, 0.16).all()


def test_memorization_figure_draws_each_model_on_both_panels(memorization):
    _, curves = memorization
    figure = plot_memorization(curves)
    left, right = figure.axes
    for axes, column in ((left, "train_accuracy"), (right, "val_accuracy")):
        lines = {line.get_label(): line for line in axes.get_lines()}
        for name in REGULARIZERS:
            drawn = lines[name]
            expected = curves.loc[curves["regularizer"] == name, column]
            assert np.allclose(drawn.get_ydata(), expected), (name, column)
            assert list(drawn.get_xdata()) == list(range(1, EPOCHS + 1))
    share = {line.get_label(): line for line in left.get_lines()}["share of correct labels"]
    assert np.allclose(share.get_ydata(), 1 - LABEL_NOISE)
    assert left.get_ylabel() == "accuracy" and right.get_xlabel() == "epoch"


def test_random_label_figure_has_training_and_held_out_curves(random_labels):
    _, curves = random_labels
    figure = plot_random_labels(curves)
    lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
    assert set(lines) == {"true labels: training", "true labels: held-out", "random labels: training",
                          "random labels: held-out", "chance (10 classes)"}
    random_run = curves[curves["labels"] == "random labels"]
    assert np.allclose(lines["random labels: held-out"].get_ydata(), random_run["val_accuracy"])
    assert len(lines["true labels: training"].get_xdata()) == RANDOM_LABEL_EPOCHS


def test_max_norm_is_a_projection_after_the_update_not_a_loss_term():
    import keras

    keras.utils.set_random_seed(0)
    layer = keras.layers.Dense(4, kernel_initializer=keras.initializers.RandomNormal(stddev=3.0),
                               kernel_constraint=keras.constraints.MaxNorm(1.0))
    model = keras.Sequential([keras.Input(shape=(8,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x, y = np.ones((16, 8), "float32"), np.zeros((16, 4), "float32")
    assert np.linalg.norm(layer.kernel.numpy(), axis=0).max() > 1.0  # before any update
    assert model.losses == []  # nothing is added to the loss
    model.train_on_batch(x, y)
    # After one update every unit's incoming weight vector is back inside the ball.
    assert np.linalg.norm(layer.kernel.numpy(), axis=0).max() <= 1.0 + 1e-6


def test_input_noise_is_an_l2_penalty_for_a_linear_model():
    # E[(w.(x + e) - y)^2] = (w.x - y)^2 + sigma^2 ||w||^2: a Tikhonov term that, for a
    # linear model, is an L2 penalty on the weights (Bishop, 1995).
    rng = np.random.default_rng(0)
    w, x, y, sigma = rng.normal(size=5), rng.normal(size=5), 0.7, 0.1
    half = rng.normal(0.0, sigma, size=(100_000, 5))
    noise = np.concatenate([half, -half])  # antithetic pairs: the cross term averages to 0 exactly
    added = np.mean(((x + noise) @ w - y) ** 2) - (x @ w - y) ** 2
    assert added == pytest.approx(sigma**2 * w @ w, rel=0.02)
