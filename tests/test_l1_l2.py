"""The L1/L2 chapter's claims, asserted with fixed seeds."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from snippets import l1_l2 as p

WEIGHTS = [-2.0, -0.5, 0.0, 0.5, 2.0]


def test_keras_l1_is_l1_times_sum_abs_with_sign_gradient():
    value, gradient = p.penalty_and_gradient(keras.regularizers.L1(0.1), WEIGHTS)
    assert value == pytest.approx(0.1 * np.sum(np.abs(WEIGHTS)))
    assert np.allclose(gradient, 0.1 * np.sign(WEIGHTS))  # 0 at w = 0 (TensorFlow's sign(0))


def test_keras_l2_has_no_one_half_factor():
    value, gradient = p.penalty_and_gradient(keras.regularizers.L2(0.1), WEIGHTS)
    assert value == pytest.approx(0.1 * np.sum(np.square(WEIGHTS)))  # not 0.05 * sum(w^2)
    assert np.allclose(gradient, 2 * 0.1 * np.asarray(WEIGHTS))


def test_soft_threshold_sets_small_values_to_exactly_zero():
    out = p.soft_threshold(np.array([-1.0, -0.2, 0.0, 0.1, 0.7]), 0.3)
    assert np.allclose(out, [-0.7, 0.0, 0.0, 0.0, 0.4])
    assert np.sum(out == 0.0) == 3


def test_l1_path_reaches_an_axis_l2_path_does_not():
    strengths = np.linspace(0.0, 5.0, 51)
    l1_path, l2_path = p.geometry_paths(strengths)
    # L1: w2 is exactly 0 from a finite strength on, while w1 is still away from 0.
    on_axis = (l1_path[:, 1] == 0.0) & (l1_path[:, 0] > 0.1)
    assert on_axis.sum() >= 5
    assert l1_path[0] == pytest.approx([2.0, 0.5])  # no penalty: the unpenalized minimum
    assert np.all(l1_path[-1] == 0.0)  # strong enough (>= |2 H w*|): everything is zero
    # L2: never exactly 0; the length falls all along the path ...
    assert np.all(l2_path[1:] != 0.0)
    assert np.all(np.diff(np.linalg.norm(l2_path, axis=1)) < 0)
    assert np.all(np.diff(l2_path[:, 0]) < 0)
    # ... but w2 first grows (correlated coordinates), as the page shows, then falls.
    peak = int(np.argmax(l2_path[:, 1]))
    assert 0 < peak < len(strengths) - 1
    assert l2_path[peak, 1] > l2_path[0, 1] + 0.03
    assert l2_path[-1, 1] < l2_path[0, 1]
    # Why: the part of w* along H's low-curvature eigenvector, shrunk faster, has a negative w2.
    curvatures, directions = np.linalg.eigh([[1.0, 0.4], [0.4, 0.8]])
    low_part = (directions[:, 0] @ [2.0, 0.5]) * directions[:, 0]
    assert curvatures[0] < curvatures[1] and low_part[1] < 0 < low_part[0]


def test_sparse_problem_has_5_informative_and_45_noise_features():
    a = p.sparse_problem(seed=0)
    assert a.x.shape == (500, 50) and a.n_informative == 5
    assert np.count_nonzero(a.true_weights) == 5 and np.all(a.true_weights[5:] == 0)
    assert np.all((np.abs(a.true_weights[:5]) >= 1) & (np.abs(a.true_weights[:5]) <= 3))
    # Targets: the informative part plus noise of standard deviation about 1.
    assert np.std(a.y - a.x @ a.true_weights) == pytest.approx(1.0, abs=0.1)


def test_only_the_proximal_solver_gives_exact_zeros():
    table = p.sparsity_table(strength=0.3, seed=0)
    l1_sgd, l2_sgd, ista = table.index
    assert l1_sgd.startswith("L1") and l2_sgd.startswith("L2") and "ISTA" in ista
    # Keras' L1 under plain SGD: no noise weight is exactly zero ...
    assert table.loc[l1_sgd, "exactly 0"] == 0
    # ... but they are small: far more below 1e-2 than with L2, and all far below L2's largest.
    assert table.loc[l1_sgd, "|w| < 1e-2"] >= 35
    assert table.loc[l1_sgd, "|w| < 1e-2"] > table.loc[l2_sgd, "|w| < 1e-2"] + 20
    assert table.loc[l1_sgd, "largest |w|"] < 0.05 < table.loc[l2_sgd, "largest |w|"]
    # L2: no exact zeros either.
    assert table.loc[l2_sgd, "exactly 0"] == 0
    # The proximal solver of the same objective: exact zeros on (nearly) all 45 noise features.
    assert table.loc[ista, "exactly 0"] >= 40
    # Same objective: SGD's informative weights agree with the exact solution.
    assert np.allclose(table.loc[l1_sgd, "informative weights"], table.loc[ista, "informative weights"], atol=0.05)


def test_ista_keeps_the_informative_features():
    problem = p.sparse_problem(seed=0)
    w = p.fit_lasso_ista(problem, 0.3)
    assert np.all(w[:5] != 0.0)
    assert np.all(np.sign(w[:5]) == np.sign(problem.true_weights[:5]))


def test_sgd_weight_decay_equals_half_strength_l2_but_adam_does_not():
    runs = p.weight_decay_runs(weight_decay=0.1, learning_rate=0.01, seed=0)
    first = {name: t[0] for name, t in runs.items()}
    start = next(iter(first.values()))
    assert all(np.array_equal(w, start) for w in first.values())  # same initial weights
    table = p.weight_decay_table(weight_decay=0.1, learning_rate=0.01, seed=0).set_index(["run A", "run B"])
    diff = table["max |w_A - w_B|"]
    same = diff[("SGD(weight_decay=0.1)", "SGD + L2(0.05)")]
    factor_two_off = diff[("SGD(weight_decay=0.1)", "SGD + L2(0.1)")]
    adamw_alias = diff[("Adam(weight_decay=0.1)", "AdamW(weight_decay=0.1)")]
    adam_l2 = diff[("Adam(weight_decay=0.1)", "Adam + L2(0.05)")]
    assert same < 1e-5  # float32 round-off only
    assert factor_two_off > 1e-2 and factor_two_off > 1000 * same
    assert adamw_alias == 0.0  # Keras 3: Adam(weight_decay=...) is AdamW
    assert adam_l2 > 0.1 and adam_l2 > 10_000 * same


def test_keras_weight_decay_is_multiplied_by_the_current_learning_rate():
    AdamW, Adam = keras.optimizers.AdamW, keras.optimizers.Adam
    assert p.decay_in_one_step(AdamW(1e-3, weight_decay=0.01)) == pytest.approx(1e-5, rel=1e-6)
    assert p.decay_in_one_step(AdamW(1e-4, weight_decay=0.01)) == pytest.approx(1e-6, rel=1e-6)
    assert p.decay_in_one_step(Adam(1e-4, weight_decay=0.01)) == pytest.approx(1e-6, rel=1e-6)
    assert p.decay_in_one_step(keras.optimizers.SGD(0.1, weight_decay=0.01)) == pytest.approx(1e-3, rel=1e-6)
    # A schedule lowers the decay with the learning rate: cosine from 1e-3 over 10,000 steps.
    cosine = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=10_000)
    for step in (0, 5000, 9000):
        expected = 0.01 * 1e-3 * 0.5 * (1 + np.cos(np.pi * step / 10_000))
        assert p.decay_in_one_step(AdamW(cosine, weight_decay=0.01), step) == pytest.approx(expected, rel=1e-5)


def test_weights_actually_move():
    runs = p.weight_decay_runs(weight_decay=0.1, learning_rate=0.01, seed=0)
    for trajectory in runs.values():
        assert trajectory.shape[0] == 11  # initial + 10 epochs
        assert np.abs(trajectory[-1] - trajectory[0]).max() > 0.1


def test_geometry_figure_shows_each_solution_path_and_the_corner_of_the_diamond():
    fig = p.plot_geometry(strength=2.0)
    assert fig.canvas.manager is None  # made with the Figure API: no pyplot window or state
    assert [ax.get_title() for ax in fig.axes] == ["L1 penalty", "L2 penalty"]
    l1_path, l2_path = p.geometry_paths(np.linspace(0.0, 5.0, 201))
    for ax, path in zip(fig.axes, (l1_path, l2_path)):
        lines = {line.get_label(): line for line in ax.get_lines()}
        drawn = np.column_stack([lines["solution path"].get_xdata(), lines["solution path"].get_ydata()])
        assert np.allclose(drawn, path)
        assert (lines["w* (no penalty)"].get_xdata()[0], lines["w* (no penalty)"].get_ydata()[0]) == (2.0, 0.5)
    # The marked solutions at strength 2: L1's sits on the w1 axis (w2 exactly 0), L2's does not.
    l1_point, l2_point = (
        [line for line in ax.get_lines() if line.get_marker() == "o"][0] for ax in fig.axes
    )
    assert l1_point.get_ydata()[0] == 0.0 and l1_point.get_xdata()[0] > 0.1
    assert l2_point.get_ydata()[0] != 0.0
    # The constraint regions: a diamond (4 corners) for L1, a round ball for L2, each through its point.
    diamond, ball = (ax.patches[0].get_xy() for ax in fig.axes)
    assert len(np.unique(diamond.round(12), axis=0)) == 4
    assert np.abs(diamond).sum(axis=1).max() == pytest.approx(l1_point.get_xdata()[0])
    radius = np.hypot(l2_point.get_xdata()[0], l2_point.get_ydata()[0])
    assert np.allclose(np.hypot(ball[:, 0], ball[:, 1]), radius)


def test_noise_weight_figure_counts_every_noise_weight_and_its_exact_zeros():
    problem = p.sparse_problem(seed=0)
    noise_features = problem.x.shape[1] - problem.n_informative
    fits = p.sparse_fits(p.SPARSITY_STRENGTH, 0)
    fig = p.plot_noise_weights()
    assert fig.canvas.manager is None  # made with the Figure API: no pyplot window or state
    assert len(fig.axes) == len(fits) == 3
    for ax, (method, weights) in zip(fig.axes, fits.items()):
        zeros = int(np.sum(weights[problem.n_informative:] == 0.0))
        histogram, zero_bar = ax.containers
        assert zero_bar.patches[0].get_height() == zeros
        assert sum(bar.get_height() for bar in histogram.patches) + zeros == noise_features
        assert ax.get_title() == f"{method}: {zeros} of {noise_features} noise weights exactly 0"
    # What the figure shows: no exact zeros under SGD, (nearly) all of them with the proximal solver.
    assert [int(ax.containers[1].patches[0].get_height()) for ax in fig.axes][:2] == [0, 0]
    assert fig.axes[2].containers[1].patches[0].get_height() >= 40
