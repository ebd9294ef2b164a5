"""The normalization page's claims, asserted with fixed seeds."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from snippets import normalization as n


def test_each_layer_standardizes_its_own_groups():
    table = n.what_each_normalizes(seed=0)
    n_, h, w, c = n.SHAPE
    expected_groups = {
        "BatchNormalization (batch)": (c, n_ * h * w),
        "LayerNormalization (layer)": (n_, h * w * c),
        "LayerNormalization (layer, last axis)": (n_ * h * w, c),
        "GroupNormalization (group 2)": (2 * n_, h * w * c // 2),
        "GroupNormalization (group 6)": (c * n_, h * w),
    }
    assert list(table.index) == list(expected_groups)
    for name, (count, size) in expected_groups.items():
        assert (table.loc[name, "groups"], table.loc[name, "values per group"]) == (count, size)
    assert (table["largest |mean|"] < 1e-5).all()
    assert (table["sd from"] > 0.99).all() and (table["sd to"] <= 1.0).all()


def test_groups_cut_the_wrong_axes_are_not_standardized():
    # The check can fail: a layer normalized over other axes leaves these groups' means non-zero.
    rng = np.random.default_rng(0)
    x = (rng.normal(2.0, 1.0, n.SHAPE) * np.arange(1, 7)).astype("float32")
    out = keras.ops.convert_to_numpy(keras.layers.LayerNormalization()(x))  # last axis only
    assert np.abs(n.groups(out, "layer, last axis").mean(axis=1)).max() < 1e-5
    assert np.abs(n.groups(out, "batch").mean(axis=1)).max() > 0.1
    grouped = keras.ops.convert_to_numpy(keras.layers.GroupNormalization(groups=1)(x))
    whole = keras.ops.convert_to_numpy(keras.layers.LayerNormalization(axis=(1, 2, 3))(x))
    assert np.allclose(grouped, whole, atol=1e-4)  # GroupNormalization(groups=1) is layer norm
    with pytest.raises(ValueError):
        n.groups(out, "instance")


def test_moving_variance_is_biased_by_m_minus_one_over_m():
    table = n.small_batches(seed=0)
    for m in n.BATCH_SIZES:
        assert table.loc[("batch", m), "moving / true variance"] == pytest.approx((m - 1) / m, abs=0.05)
    ratios = [table.loc[("batch", m), "moving / true variance"] for m in n.BATCH_SIZES]
    assert ratios == sorted(ratios)  # the bias shrinks as the batch grows


def test_removing_the_bias_hardly_changes_accuracy():
    table = n.small_batches(seed=0).loc["batch"]
    change = (table["inference, variance x m/(m-1)"] - table["inference mode"]).abs()
    assert (change <= 0.005).all()


def test_batch_norm_modes_disagree_at_tiny_batches_and_layer_norm_does_not():
    table = n.small_batches(seed=0)
    gap = table["inference mode"] - table["batch mode"]
    assert gap[("batch", 2)] > 0.1  # batch statistics of two examples: features reduced to +-1
    assert gap[("batch", 2)] > gap[("batch", 4)] > 0 and gap[("batch", 8)] > 0
    for m in n.BATCH_SIZES:
        assert gap[("layer", m)] == 0.0  # the same computation in both modes
    assert table.loc[("layer", 2), "inference mode"] > table.loc[("batch", 2), "inference mode"] + 0.05
    assert table.loc[("batch", 2), "inference mode"] < table.loc[("batch", 8), "inference mode"]
    assert (table["inference mode"] > 0.7).all()  # every network learned something


def test_the_models_and_settings_the_page_states():
    assert (n.N_TRAIN, n.N_VALIDATION, n.STEPS, n.BATCH_SIZES) == (1000, 1000, 1000, (2, 4, 8))
    batch, layer = n.normalized_mlp("batch"), n.normalized_mlp("layer")
    assert isinstance(batch.layers[2], keras.layers.BatchNormalization)
    assert isinstance(layer.layers[2], keras.layers.LayerNormalization)
    assert [w.shape for w in batch.get_weights()][4:6] == [(100,), (100,)]  # moving mean, variance
    assert layer.count_params() == 784 * 100 + 100 + 2 * 100 + 100 * 10 + 10


def test_the_figure_draws_the_groups_of_the_table():
    table = n.what_each_normalizes(seed=0)
    fig = n.plot_groups()
    assert len(fig.axes) == len(n.PANELS)
    for ax, name in zip(fig.axes, n.PANELS):
        grid = np.asarray(ax.images[0].get_array())
        assert grid.shape == (n.SHAPE[0], n.SHAPE[3])  # examples x channels
        count = table.loc[[row for row in table.index if row.endswith(f"({name})")][0], "groups"]
        assert len(np.unique(grid)) == count
        assert ax.get_title().endswith(f"{count} groups") and ax.get_xlabel() == "channel"
    assert (n.group_map("batch") == np.arange(6)).all()  # one group per channel, across examples
    assert (n.group_map("layer") == np.arange(4)[:, None]).all()  # one group per example
    assert (n.group_map("group 2") == np.array([[0, 0, 0, 1, 1, 1]]) + 2 * np.arange(4)[:, None]).all()
