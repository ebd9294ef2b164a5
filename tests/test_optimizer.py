"""The optimizer page's claims, asserted with fixed seeds."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from snippets import optimizer as o
from snippets.data import notebook_subsets


def test_settings_are_those_the_page_states():
    assert o.SETTINGS == ((32, 0.05), (256, 0.05), (256, 0.4))
    assert o.SETTINGS[0][1] / o.SETTINGS[0][0] == pytest.approx(o.SETTINGS[2][1] / o.SETTINGS[2][0])
    assert o.RHOS == (0.05, 0.2)
    assert [w.shape for w in o.mlp().get_weights()] == [(784, 128), (128,), (128, 10), (10,)]


def test_same_noise_scale_same_test_accuracy_not_same_batch_size():
    table = o.batch_size_and_learning_rate()
    small, large, scaled = (table.loc[setting] for setting in o.SETTINGS)
    assert small["steps"] == o.EPOCHS * 63 and large["steps"] == scaled["steps"] == o.EPOCHS * 8
    # The large batch at the same learning rate falls behind, on training and test data.
    assert large["train accuracy"] < small["train accuracy"] - 0.03
    assert large["test accuracy"] < small["test accuracy"] - 0.015
    assert large["test loss"] > small["test loss"] + 0.05
    # Scaling the learning rate with the batch size (the same lr / B) recovers it.
    assert scaled["test accuracy"] == pytest.approx(small["test accuracy"], abs=0.01)
    assert scaled["test accuracy"] > large["test accuracy"] + 0.015
    # The scaled large batch ends flattest; large vs small flips with the seed (make robustness).
    assert scaled["sharpness"] < min(small["sharpness"], large["sharpness"])


def test_sam_finds_flatter_solutions_that_test_better():
    table = o.sam_against_sgd()
    assert list(table.index) == [0.0, *o.RHOS]
    sgd, small_rho, large_rho = (table.loc[rho] for rho in table.index)
    # Flatter with a larger neighbourhood radius...
    assert sgd["sharpness"] > small_rho["sharpness"] > large_rho["sharpness"]
    assert large_rho["sharpness"] < 0.8 * sgd["sharpness"]
    # ... and better on test data, while training accuracy hardly moves.
    assert large_rho["test loss"] < sgd["test loss"] - 0.02
    assert large_rho["test accuracy"] > sgd["test accuracy"] + 0.005
    assert abs(large_rho["train accuracy"] - sgd["train accuracy"]) < 0.01


def test_sharpness_grows_with_the_perturbation_and_restores_the_weights():
    (x, y), _, _ = notebook_subsets(o.N_TRAIN)
    model = o.mlp()
    model.set_weights(o.train_mlp(32, 0.05)[0])
    before = [w.copy() for w in model.get_weights()]
    small, large = o.sharpness(model, x, y, sigma=0.05), o.sharpness(model, x, y, sigma=0.2)
    assert 0 < small < large
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_sam_step_uses_the_gradient_at_the_perturbed_point():
    # One SAM step with plain SGD (lr 1) moves w by minus the gradient at w + rho g / ||g||.
    keras.utils.set_random_seed(0)
    inner = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1)])
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = np.random.default_rng(1).normal(size=(8, 1)).astype("float32")
    w0 = [w.copy() for w in inner.get_weights()]
    model = o.SAM(inner, rho=0.5)
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)

    def gradient(weights):  # the mse gradient of the linear layer, by hand
        kernel, bias = weights
        residual = x @ kernel + bias - y
        return [2 * x.T @ residual / len(x), 2 * residual.mean(axis=0)]

    g = gradient(w0)
    norm = np.sqrt(sum((gi**2).sum() for gi in g))
    g_sharp = gradient([w + 0.5 * gi / norm for w, gi in zip(w0, g)])
    expected = [w - gs for w, gs in zip(w0, g_sharp)]
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(inner.get_weights(), expected))


def test_loss_profiles_rise_least_around_the_sam_solution():
    (x, y), _, _ = notebook_subsets(o.N_TRAIN)
    fig = o.plot_loss_profiles()
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(o.PROFILED)
    middle = len(o.STEPS) // 2
    assert o.STEPS[middle] == 0
    rises = {}
    for line, (label, setting) in zip(lines, o.PROFILED.items()):
        profile = o.loss_profile(o.train_mlp(*setting)[0], x, y)
        assert np.allclose(line.get_ydata(), profile - profile[middle])
        assert list(line.get_xdata()) == list(o.STEPS)
        assert profile.argmin() in (middle - 1, middle, middle + 1)  # a minimum along the line
        rises[label] = (profile[0] + profile[-1]) / 2 - profile[middle]
    sam, sgd, large = rises["SAM (rho 0.2), batch 32"], rises["SGD, batch 32"], rises["SGD, batch 256"]
    assert sam < 0.75 * sgd and sam < 0.75 * large
