"""The first chapter's demonstrations: memorizing wrong labels, fitting random labels.

The studies are the chapter's own (same sizes, epochs and seed), cached in the
module, so the page and these tests share one run per process.
"""

from __future__ import annotations

import numpy as np
import pytest

from snippets.what_is_regularization import (
    LABEL_NOISE,
    corrupt_labels,
    memorization_study,
    noisy_mnist_subset,
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


def test_corrupt_labels_changes_exactly_the_fraction_and_always_to_a_wrong_class():
    labels = np.arange(1000) % 10
    noisy, changed = corrupt_labels(labels, 0.4, np.random.default_rng(0))
    assert changed.sum() == 400
    assert np.all(noisy[changed] != labels[changed])
    assert np.all(noisy[~changed] == labels[~changed])
    # The wrong classes are spread over all nine alternatives, not a fixed shift.
    shifts = (noisy[changed] - labels[changed]) % 10
    assert set(shifts) == set(range(1, 10))


def test_noisy_subset_is_deterministic_and_keeps_validation_clean():
    a, b = noisy_mnist_subset(seed=0), noisy_mnist_subset(seed=0)
    assert np.array_equal(a["x_train"], b["x_train"]) and np.array_equal(a["y_noisy"], b["y_noisy"])
    assert a["changed"].mean() == pytest.approx(LABEL_NOISE)
    assert np.array_equal(a["y_noisy"] != a["y_true"], a["changed"])
    assert len(a["x_val"]) == 2000


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
    for name in ("dropout 0.5", "L2 0.03"):
        assert summary.loc[name, "final val acc"] >= plain_final + 0.04, name
        assert summary.loc[name, "wrong labels reproduced"] < summary.loc["none", "wrong labels reproduced"] - 0.1


def test_dropout_slows_memorization_down(memorization):
    summary, _ = memorization
    # Its validation peak comes later than the plain model's ...
    assert summary.loc["dropout 0.5", "best epoch"] > summary.loc["none", "best epoch"]
    # ... but by the last epoch it reproduces many of the wrong labels, far more than L2.
    assert summary.loc["dropout 0.5", "wrong labels reproduced"] > 0.4
    assert summary.loc["dropout 0.5", "wrong labels reproduced"] > summary.loc["L2 0.03", "wrong labels reproduced"] + 0.2


def test_l2_fits_the_signal_not_the_noise(memorization):
    summary, _ = memorization
    l2 = summary.loc["L2 0.03"]
    # Training accuracy stays near the share of correct labels (0.6), far from 1 ...
    assert 0.45 < l2["train acc (given labels)"] < 0.7
    assert l2["wrong labels reproduced"] < 0.3
    # ... and most images whose label was wrong get their true class.
    assert l2["true labels recovered"] > 0.5
    plain = summary.loc["none"]
    assert l2["best val acc"] - l2["final val acc"] < (plain["best val acc"] - plain["final val acc"]) / 1.5


def test_memorization_curves_cover_every_model_and_epoch(memorization):
    _, curves = memorization
    assert set(curves["regularizer"]) == {"none", "dropout 0.5", "L2 0.03"}
    assert curves.groupby("regularizer").size().eq(40).all()


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
