"""The batch-normalization chapter's claims, each checked with a fixed seed."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from snippets import batch_normalization as bn
from snippets import batch_normalization_mlp as mlp
from snippets import batch_normalization_pixels as pixels


def test_keras_defaults_are_the_ones_the_page_states():
    layer = keras.layers.BatchNormalization()
    assert layer.momentum == bn.MOMENTUM == 0.99
    assert layer.epsilon == bn.EPSILON == 1e-3


def test_keras_computes_the_formulas():
    check = bn.keras_matches_formula(seed=0)
    assert check["training-mode output"] < 1e-5
    assert check["moving_mean"] < 1e-6
    assert check["moving_variance"] < 1e-6
    assert check["inference-mode output"] < 1e-5


def test_gamma_and_beta_undo_the_standardization_only_against_fixed_statistics():
    undo = bn.undo_standardization(seed=0)
    assert undo["inference mode"] < 1e-5  # the identity, up to float32 rounding
    assert undo["training mode"] > 0.05  # each batch's own statistics: not the identity


def test_undoing_needs_epsilon_in_gamma():
    # gamma = sqrt(variance) without epsilon leaves a visible error on the low-variance feature.
    x = bn.stream_batch(np.random.default_rng(0))
    layer = keras.layers.BatchNormalization()
    layer.build((None, 3))
    layer.moving_mean.assign(bn.STREAM_MEAN)
    layer.moving_variance.assign(bn.STREAM_STD**2)
    layer.gamma.assign(bn.STREAM_STD)
    layer.beta.assign(bn.STREAM_MEAN)
    error = np.abs(np.asarray(layer(x, training=False)) - x).max()
    assert error > 100 * bn.undo_standardization(seed=0)["inference mode"]
    assert error > 1e-4


# (a) batch vs moving statistics -------------------------------------------------------


@pytest.fixture(scope="module")
def moving():
    return bn.moving_statistics_demo(seed=0)


def test_moving_statistics_follow_the_099_rule(moving):
    assert moving.largest_rule_error < 1e-4  # float32 rounding of values near 5
    for row in moving.rows:
        assert row["moving_mean"] == pytest.approx(row["rule"], abs=1e-4)


def test_moving_mean_starts_at_zero_and_approaches_the_population_mean(moving):
    by_updates = {row["updates"]: row for row in moving.rows}
    assert by_updates[0]["moving_mean"] == 0.0
    # One update from 0 moves the average 1% of the way to the batch mean.
    assert by_updates[1]["moving_mean"] == pytest.approx(0.05, abs=0.01)
    # After k updates roughly (1 - 0.99**k) of the way: about 63% after 100, 99% after 500.
    assert 0.5 * bn.STREAM_MEAN[0] < by_updates[100]["moving_mean"] < 0.75 * bn.STREAM_MEAN[0]
    assert by_updates[500]["moving_mean"] == pytest.approx(bn.STREAM_MEAN[0], rel=0.03)


def test_training_mode_standardizes_while_fresh_inference_mode_passes_inputs_through(moving):
    for row in moving.rows:
        assert abs(row["training_mean"]) < 1e-5
        assert row["training_std"] == pytest.approx(1.0, abs=1e-3)
    first, last = moving.rows[0], moving.rows[-1]
    # Before any update (mean 0, variance 1) inference mode is nearly the identity.
    assert first["inference_mean"] > 4.0 and first["inference_std"] > 1.5
    # After 500 updates the two modes agree closely.
    assert abs(last["inference_mean"]) < 0.2
    assert last["inference_std"] == pytest.approx(1.0, abs=0.15)


# (b) batch-mates ----------------------------------------------------------------------


def test_output_depends_on_batch_mates_in_training_mode_only():
    mates = bn.batch_mates_demo(seed=0)
    assert np.abs(mates["training mode,  batch A"] - mates["training mode,  batch B"]).max() > 0.05
    np.testing.assert_array_equal(mates["inference mode, batch A"], mates["inference mode, batch B"])


def test_batch_norm_noise_shrinks_with_batch_size():
    noise = bn.batch_size_noise(seed=0)
    sizes, spread = np.array(list(noise)), np.array(list(noise.values()))
    assert np.all(np.diff(spread) < 0)
    assert spread[0] / spread[-1] > 5  # from 4 to 256 examples per batch
    # Beyond tiny batches it falls like 1/sqrt(batch size).
    scaled = spread * np.sqrt(sizes)
    large = sizes >= 16
    assert scaled[large].max() / scaled[large].min() < 1.1


def test_batch_norm_noise_is_about_sqrt_1_5_over_n_whatever_the_seed():
    # The mean of n-1 standard normal batch-mates moves the output with variance about 1/n, and
    # their sample variance adds about 1/(2n) more: spread ~ sqrt(1.5 / n) for all but tiny batches.
    for seed in (3, 4):  # the spread is a property of the batch size, not of the draw
        for size, spread in bn.batch_size_noise(seed=seed).items():
            if size >= 16:
                assert spread == pytest.approx(np.sqrt(1.5 / size), rel=0.08), size


# (c) scale invariance -----------------------------------------------------------------


@pytest.fixture(scope="module")
def scale():
    return bn.scale_invariance_demo(seed=0)


def test_scaling_the_weights_up_leaves_the_output_nearly_unchanged(scale):
    change = {row["scale"]: row["output_change"] for row in scale}
    assert change[10.0] < 5e-3 and change[100.0] < 5e-3  # epsilon's small share only
    # Scaled down, the batch variance shrinks toward epsilon and invariance breaks.
    assert change[0.01] > 0.5


def test_scaling_the_weights_divides_the_gradient_and_squares_into_the_step(scale):
    for row in scale:
        c, grad, step = row["scale"], row["gradient_ratio"], row["relative_step_ratio"]
        if c >= 1.0:
            assert grad == pytest.approx(1.0 / c, rel=0.01)
            assert step == pytest.approx(1.0 / c**2, rel=0.01)


# (d) trainable=False ------------------------------------------------------------------


@pytest.fixture(scope="module")
def frozen():
    return bn.frozen_layer_demo(seed=0)


def test_frozen_layer_runs_in_inference_mode_and_stops_updating(frozen):
    calls, _ = frozen
    assert not calls["trainable=True"]["same_as_inference"]
    assert calls["trainable=True"]["moving_changed"]
    assert calls["trainable=False"]["same_as_inference"]
    assert not calls["trainable=False"]["moving_changed"]


def test_freezing_in_fit_needs_a_compile_after_the_change(frozen):
    _, fits = frozen
    assert fits["never"] == {"moving_mean": True, "gamma, beta": True, "Dense kernels": True}
    assert fits["then compile"] == {"moving_mean": False, "gamma, beta": False, "Dense kernels": True}
    assert fits["after fit"] == {"moving_mean": True, "gamma, beta": True, "Dense kernels": True}


# (e) MNIST input batch norm -----------------------------------------------------------


@pytest.fixture(scope="module")
def mnist():
    return pixels.input_batch_norm_on_mnist(seed=0)


def test_hundreds_of_mnist_pixels_are_nearly_constant(mnist):
    assert 200 <= mnist.low_variance_pixels <= 300
    assert 50 <= mnist.constant_pixels < mnist.low_variance_pixels
    # The near-constant pixels sit on the border, not in the middle of the image.
    assert mnist.low_variance[0].all() and mnist.low_variance[:, 0].all()
    assert not mnist.low_variance[8:20, 8:20].any()


def test_input_batch_norm_divides_those_pixels_by_about_sqrt_epsilon(mnist):
    assert pixels.EPSILON == bn.EPSILON
    assert mnist.gain.max() == pytest.approx(1.0 / np.sqrt(bn.EPSILON), rel=1e-3)
    assert mnist.epsilon_dominated >= 150
    assert np.median(mnist.gain[mnist.low_variance]) > 25
    assert np.median(mnist.gain[~mnist.low_variance]) < 10


def test_inference_mode_leaves_the_range_training_mode_can_reach(mnist):
    # In a batch of n, no standardized value can exceed sqrt(n - 1) (Samuelson's inequality).
    assert mnist.training_bound == pytest.approx(np.sqrt(31))
    assert mnist.training_max <= mnist.training_bound
    assert mnist.test_max > 5 * mnist.training_max
    assert mnist.test_images_beyond > 1000
    # The training images themselves, in inference mode, leave that range too.
    assert mnist.fit_images_beyond > 0.2 * mnist.fit_images


def test_pixel_figure_draws_the_spread_and_the_gain_of_every_pixel(mnist):
    fig = pixels.pixel_spread_figure(mnist)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2
    np.testing.assert_array_equal(panels[0].images[0].get_array(), mnist.pixel_std)
    np.testing.assert_array_equal(panels[1].images[0].get_array(), mnist.gain)
    assert str(mnist.low_variance_pixels) in fig.get_suptitle()


# Does it regularize? The MLP with and without batch norm, trained with fit --------------


@pytest.fixture(scope="module")
def runs():
    return mlp.cached_runs()


def accuracies(runs, name, key):
    return np.array([run[key] for run in runs[name]])


def test_every_seed_trains_both_models_for_every_epoch(runs):
    assert list(runs) == ["plain", "batch norm"]
    for model_runs in runs.values():
        assert len(model_runs) == len(mlp.SEEDS)
        for run in model_runs:
            assert len(run["history_train"]) == len(run["history_validation"]) == mlp.EPOCHS
    # Different seeds are different runs (the seed reaches the weights and the batch order).
    assert len(set(accuracies(runs, "plain", "validation"))) > 1


def test_batch_norm_fits_the_training_subset_much_faster(runs):
    early = {name: np.array([run["history_train"][2] for run in runs[name]]) for name in runs}
    assert np.all(early["batch norm"] > early["plain"] + 0.15)  # after 3 epochs, every seed
    assert np.all(accuracies(runs, "batch norm", "train") >= 0.99)  # every training image, or nearly
    # The plain MLP is still learning when training stops.
    assert np.all(accuracies(runs, "plain", "train") < 0.97)
    plain_curve = np.mean([run["history_train"] for run in runs["plain"]], axis=0)
    assert np.diff(plain_curve)[-5:].mean() > 0


def test_batch_norm_widens_the_gap_and_gains_little_on_validation(runs):
    gain = {key: accuracies(runs, "batch norm", key).mean() - accuracies(runs, "plain", key).mean()
            for key in ("train", "validation", "gap")}
    assert np.all(accuracies(runs, "batch norm", "gap") > accuracies(runs, "plain", "gap"))
    assert gain["gap"] > 0.03
    assert 0 < gain["validation"] < gain["train"] / 3  # higher, by much less than on training
    assert gain["validation"] < 0.03


def test_the_table_states_the_measured_differences(runs):
    table = mlp.summary(runs)
    gain = {key: 100 * (accuracies(runs, "batch norm", key).mean() - accuracies(runs, "plain", key).mean())
            for key in ("train", "validation", "gap")}
    assert table.splitlines()[-1] == ("batch norm minus plain, in points: "
                                      f"training {gain['train']:+.1f}, validation {gain['validation']:+.1f}, "
                                      f"gap {gain['gap']:+.1f}")
    assert f"{100 * accuracies(runs, 'batch norm', 'train').mean():.1f} ± " in table


def test_curves_figure_draws_the_mean_curves_of_both_models(runs):
    fig = mlp.curves_figure(runs)
    (ax,) = fig.axes
    assert len(ax.lines) == 4 and len(ax.collections) == 4  # a band around every mean curve
    means = [np.mean([run[key] for run in runs[name]], axis=0)
             for name in runs for key in ("history_train", "history_validation")]
    for line, mean in zip(ax.lines, means):
        np.testing.assert_allclose(line.get_ydata(), mean)
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, mlp.EPOCHS + 1))
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "accuracy"
