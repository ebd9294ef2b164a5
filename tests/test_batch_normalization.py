"""The batch-normalization chapter's claims, each checked with a fixed seed."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from snippets import batch_normalization as bn


def test_keras_defaults_are_the_ones_the_page_states():
    layer = keras.layers.BatchNormalization()
    assert layer.momentum == bn.MOMENTUM == 0.99
    assert layer.epsilon == bn.EPSILON == 1e-3


def test_keras_computes_the_formulas():
    check = bn.keras_matches_formula(seed=0)
    assert check.training_output < 1e-5
    assert check.moving_mean < 1e-6
    assert check.moving_variance < 1e-6
    assert check.inference_output < 1e-5


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
    assert np.abs(mates.training_a - mates.training_b).max() > 0.05
    np.testing.assert_array_equal(mates.inference_a, mates.inference_b)


def test_batch_norm_noise_shrinks_with_batch_size():
    noise = bn.batch_size_noise(seed=0)
    spread = np.array(noise.spread)
    assert np.all(np.diff(spread) < 0)
    assert spread[0] / spread[-1] > 5  # from 4 to 256 examples per batch
    # Beyond tiny batches it falls like 1/sqrt(batch size).
    scaled = spread * np.sqrt(noise.batch_sizes)
    large = np.array(noise.batch_sizes) >= 16
    assert scaled[large].max() / scaled[large].min() < 1.1


def test_batch_norm_noise_is_about_sqrt_1_5_over_n_whatever_the_seed():
    # The mean of n-1 standard normal batch-mates moves the output with variance about 1/n, and
    # their sample variance adds about 1/(2n) more: spread ~ sqrt(1.5 / n) for all but tiny batches.
    first, second = bn.batch_size_noise(seed=3), bn.batch_size_noise(seed=4)
    assert first.spread != second.spread  # the seed draws the batch-mates ...
    for noise in (first, second):  # ... and the spread is a property of the batch size, not of the draw
        for size, spread in zip(noise.batch_sizes, noise.spread):
            if size >= 16:
                assert spread == pytest.approx(np.sqrt(1.5 / size), rel=0.08), size


# (c) scale invariance -----------------------------------------------------------------


@pytest.fixture(scope="module")
def scale():
    return bn.scale_invariance_demo(seed=0)


def test_scaling_the_weights_up_leaves_the_output_nearly_unchanged(scale):
    change = dict(zip(scale.scales, scale.output_change))
    assert change[10.0] < 5e-3 and change[100.0] < 5e-3  # epsilon's small share only
    # Scaled down, the batch variance shrinks toward epsilon and invariance breaks.
    assert change[0.01] > 0.5


def test_scaling_the_weights_divides_the_gradient_and_squares_into_the_step(scale):
    for c, grad, step in zip(scale.scales, scale.gradient_ratio, scale.relative_step_ratio):
        if c >= 1.0:
            assert grad == pytest.approx(1.0 / c, rel=0.01)
            assert step == pytest.approx(1.0 / c**2, rel=0.01)


# (d) trainable=False ------------------------------------------------------------------


@pytest.fixture(scope="module")
def frozen():
    return bn.frozen_layer_demo(seed=0)


def test_frozen_layer_runs_in_inference_mode_and_stops_updating(frozen):
    assert not frozen.call_trainable["same_as_inference"]
    assert frozen.call_trainable["moving_changed"]
    assert frozen.call_frozen["same_as_inference"]
    assert not frozen.call_frozen["moving_changed"]


def test_freezing_in_fit_needs_a_compile_after_the_change(frozen):
    assert frozen.fit["never"] == {"moving_mean": True, "gamma, beta": True, "Dense kernels": True}
    assert frozen.fit["then compile"] == {"moving_mean": False, "gamma, beta": False, "Dense kernels": True}
    assert frozen.fit["after fit"] == {"moving_mean": True, "gamma, beta": True, "Dense kernels": True}


# (e) MNIST input batch norm -----------------------------------------------------------


@pytest.fixture(scope="module")
def mnist():
    return bn.input_batch_norm_on_mnist(seed=0)


def test_hundreds_of_mnist_pixels_are_nearly_constant(mnist):
    assert 200 <= mnist.low_variance_pixels <= 300
    assert 50 <= mnist.constant_pixels < mnist.low_variance_pixels
    # The near-constant pixels sit on the border, not in the middle of the image.
    assert mnist.low_variance[0].all() and mnist.low_variance[:, 0].all()
    assert not mnist.low_variance[8:20, 8:20].any()


def test_input_batch_norm_divides_those_pixels_by_about_sqrt_epsilon(mnist):
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


def test_pixel_figure_has_two_panels(mnist):
    fig = bn.pixel_spread_figure(mnist)
    assert len([ax for ax in fig.axes if ax.images]) == 2
