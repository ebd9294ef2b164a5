"""The noise page's claims, asserted with fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest

from snippets import noise as nz


def test_noisy_inputs_approach_ridge_in_a_linear_model():
    rows = nz.noisy_inputs_vs_ridge(sigma=0.5)
    to_ridge = [row["distance to ridge"] for row in rows.values()]
    to_plain = [row["distance to least squares"] for row in rows.values()]
    assert list(rows) == [1, 10, 100, 1000]
    assert (np.diff(to_ridge) < 0).all() and to_ridge[-1] < 0.01  # more copies: closer to ridge
    assert to_plain[-1] > 10 * to_ridge[-1]  # ... and not to plain least squares (23 to 63 times on seeds 100-104)


def test_small_input_noise_matches_the_second_order_expansion():
    rows = nz.noise_expansion_check()
    sigmas = list(rows)
    assert sigmas == sorted(sigmas, reverse=True)
    errors = [abs(r["measured / sigma^2"] - r["|grad f|^2 + (f - t) laplacian"]) for r in rows.values()]
    predicted = rows[sigmas[-1]]["|grad f|^2 + (f - t) laplacian"]
    assert errors[-1] < 0.01 * predicted  # within 1% at the smallest noise
    assert errors[0] > 3 * errors[-1]  # and the larger the noise, the larger the higher-order terms
    # Away from a fit the second-derivative term is not negligible.
    gradient_only = rows[sigmas[-1]]["|grad f|^2 alone"]
    assert abs(rows[sigmas[-1]]["measured / sigma^2"] - gradient_only) > 0.05 * predicted


def test_noise_layers_moments_and_inference():
    rows = nz.noise_layer_moments(rate=0.5, stddev=0.5)
    additive, gaussian_dropout, dropout = rows.values()
    assert additive["mean"] == pytest.approx(1.0, abs=0.01)
    assert additive["variance"] == pytest.approx(0.25, rel=0.02)  # stddev**2
    for multiplicative in (gaussian_dropout, dropout):
        assert multiplicative["mean"] == pytest.approx(1.0, abs=0.01)
        assert multiplicative["variance"] == pytest.approx(0.5 / (1 - 0.5), rel=0.02)  # rate / (1 - rate)
    assert all(row["identity at inference"] for row in rows.values())
    assert nz.noise_layer_moments(rate=0.2)["GaussianDropout(0.2)"]["variance"] == pytest.approx(0.25, rel=0.02)


def test_noise_layers_add_no_weights():
    shapes = {kind: [w.shape for w in nz.noisy_mlp(kind).get_weights()] for kind in nz.KINDS}
    assert all(s == shapes["no noise"] for s in shapes.values())
    assert len(nz.noisy_mlp("input noise").layers) == 5 and len(nz.noisy_mlp("dropout").layers) == 6


def test_jacobian_norm_of_a_linear_softmax_free_model():
    import keras

    model = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(10, use_bias=False)])
    x = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)
    expected = np.linalg.norm(model.layers[-1].kernel.numpy())  # a linear map's Jacobian is its kernel
    assert nz.input_jacobian_norm(model, x) == pytest.approx(expected, rel=1e-5)


def test_noise_shrinks_the_derivatives_and_the_gap():
    table = nz.noise_table()
    plain = table.loc["no noise"]
    for kind in ("input noise", "hidden noise", "Gaussian dropout", "dropout"):
        # Smaller derivatives of the outputs with respect to the inputs (Bishop's penalty) ...
        assert table.loc[kind, "Jacobian norm"] < 0.85 * plain["Jacobian norm"]
        # ... a lower training accuracy and a smaller gap to the held-out accuracy.
        assert table.loc[kind, "training accuracy"] < plain["training accuracy"]
        assert table.loc[kind, "gap"] < plain["gap"] - 0.005  # 1.6 to 2.6 points narrower on seeds 100-104
    # Gaussian dropout and dropout, with the same mean and variance, end up alike.
    assert table.loc["Gaussian dropout", "held-out accuracy"] == pytest.approx(
        table.loc["dropout", "held-out accuracy"], abs=0.01)
    # Strength matters: the strong hidden noise costs held-out accuracy here.
    assert table.loc["hidden noise", "held-out accuracy"] < plain["held-out accuracy"] - 0.01
