"""The model-capacity page's claims, asserted with fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest

from snippets import model_capacity as mc


def test_parameter_counts_follow_the_formula():
    counts = mc.parameter_counts()
    assert list(counts.index) == ["4", "16", "64", "256", "1024", "64-64", "64-64-64"]
    assert (counts["count_params()"] == counts["formula"]).all()
    assert counts.loc["64", "formula"] == 785 * 64 + 65 * 10
    # Depth adds little: each extra layer of 64 units adds 65 * 64 parameters, under a tenth.
    assert counts.loc["64-64", "formula"] - counts.loc["64", "formula"] == 65 * 64
    assert counts.loc["64-64", "formula"] / counts.loc["64", "formula"] < 1.1


def test_every_run_uses_the_same_noisy_subset():
    result = mc.train_capacity_mlp((16,), 0)
    assert mc.N_TRAIN == 1000 and mc.NOISE == 0.2 and len(mc.SEEDS) >= 3
    assert len(result["history"]["loss"]) == mc.EPOCHS
    assert result["parameters"] == mc.formula_count((16,))


@pytest.fixture(scope="module")
def widths():
    return mc.width_sweep()


@pytest.fixture(scope="module")
def depths():
    return mc.depth_sweep()


def test_narrowest_network_underfits(widths):
    narrow = widths.loc["4"]
    assert narrow["train accuracy (noisy labels)"] < 0.7  # cannot even fit the 80% correct labels
    assert narrow["test accuracy"] < widths["test accuracy"].drop("4").min() - 0.1
    assert narrow["test loss"] > widths["test loss"].drop("4").max()


def test_memorization_grows_with_width(widths):
    reproduced = widths["wrong labels reproduced"].to_numpy()
    train = widths["train accuracy (noisy labels)"].to_numpy()
    assert np.all(np.diff(reproduced) > 0) and np.all(np.diff(train) > 0)
    assert reproduced[1] < 0.3  # 16 units: few wrong labels learned
    assert 0.3 < widths.loc["64", "wrong labels reproduced"] < 0.7  # "about half"
    assert widths.loc["256", "wrong labels reproduced"] > 0.9  # nearly all
    assert widths.loc["1024", "wrong labels reproduced"] > 0.95
    assert widths.loc["1024", "train accuracy (noisy labels)"] > 0.99


def test_best_test_accuracy_is_a_network_too_small_to_memorize(widths):
    best = widths["test accuracy"].idxmax()
    assert best == "16"
    assert widths.loc[best, "wrong labels reproduced"] < 0.3


def test_much_wider_networks_do_not_generalize_worse(widths):
    best = widths["test accuracy"].max()
    # Within about two points of the best, for every width that memorizes.
    assert all(best - widths.loc[w, "test accuracy"] < 0.025 for w in ("64", "256", "1024"))
    # The test loss keeps falling from 16 to 1,024 units.
    assert np.all(np.diff(widths["test loss"].drop("4").to_numpy()) < 0)
    # The widest beats the 256-unit network, which already reproduces nearly all wrong labels.
    assert widths.loc["1024", "test accuracy"] > widths.loc["256", "test accuracy"]
    assert widths.loc["1024", "test loss"] < widths.loc["256", "test loss"]


def test_accuracy_and_loss_disagree_and_neighbours_differ_by_about_the_spread(widths):
    assert widths["test accuracy"].idxmax() == "16" and widths["test loss"].idxmin() == "1024"
    for a, b in (("64", "256"), ("256", "1024"), ("64", "1024")):
        difference = abs(widths.loc[a, "test accuracy"] - widths.loc[b, "test accuracy"])
        assert difference < 2 * (widths.loc[a, "test accuracy sd"] + widths.loc[b, "test accuracy sd"])


def test_depth_buys_memorization_not_generalization(depths):
    assert list(depths.index) == ["64", "64-64", "64-64-64"]
    assert np.all(np.diff(depths["wrong labels reproduced"].to_numpy()) > 0)
    assert np.all(np.diff(depths["test accuracy"].to_numpy()) < 0)
    assert np.all(np.diff(depths["test loss"].to_numpy()) > 0)
    assert depths.loc["64-64-64", "wrong labels reproduced"] - depths.loc["64", "wrong labels reproduced"] > 0.2


def test_shown_table_has_mean_and_spread(widths):
    shown = mc.show(widths)
    assert list(shown.columns) == ["parameters", *mc.COLUMNS]
    assert shown.loc["1024", "parameters"] == "814,090"
    mean, sd = widths.loc["16", "test accuracy"], widths.loc["16", "test accuracy sd"]
    assert shown.loc["16", "test accuracy"] == f"{100 * mean:.1f} ± {100 * sd:.1f}"
    assert (widths["test accuracy sd"] > 0).all()  # the seeds differ


def test_figure_draws_means_and_error_bars(widths, depths):
    fig = mc.plot_capacity_sweep(widths, depths)
    left, right = fig.axes
    assert left.get_xlabel() == "parameters" and left.get_ylabel() == "accuracy (%)"
    bars = {container.get_label(): container for container in left.containers}
    assert set(bars) == {"train (noisy labels)", "test (clean labels)"}
    test_line = bars["test (clean labels)"].lines[0]
    assert np.allclose(test_line.get_xdata(), widths["parameters"])
    assert np.allclose(test_line.get_ydata(), 100 * widths["test accuracy"])
    assert len(right.texts) == len(depths)  # one annotation per configuration
