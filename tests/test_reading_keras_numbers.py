"""The reading-Keras'-numbers page's claims, asserted with fixed seeds."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from snippets import reading_keras_numbers as r


def test_l2_penalty_is_l2_times_sum_of_squares_and_enters_evaluate():
    keras.utils.set_random_seed(0)
    model = r.mlp(l2=0.01)
    kernels = [w for w in model.weights if "kernel" in w.path]
    expected = sum(0.01 * float(np.sum(np.square(k.numpy()))) for k in kernels)
    assert len(model.losses) == 2
    assert sum(float(p) for p in model.losses) == pytest.approx(expected, rel=1e-5)
    model.compile(loss="sparse_categorical_crossentropy",
                  metrics=[keras.metrics.SparseCategoricalCrossentropy(name="data_loss")])
    x = np.random.default_rng(0).random((50, 28, 28), dtype=np.float32)
    y = np.arange(50) % 10
    loss, data_loss = model.evaluate(x, y, batch_size=50, verbose=0)
    assert loss == pytest.approx(data_loss + expected, rel=1e-5)  # evaluate includes the penalty


@pytest.fixture(scope="module")
def side_by_side():
    return r.penalty_side_by_side()


def test_evaluate_loss_is_data_loss_plus_penalty(side_by_side):
    assert side_by_side["loss - data loss - penalty"].abs().max() < 1e-4
    assert side_by_side.loc["plain", "penalty sum(model.losses)"] == 0.0
    assert side_by_side.iloc[1]["penalty sum(model.losses)"] > 0.2


def test_l2_model_reports_a_higher_loss_but_is_as_good_or_better(side_by_side):
    plain, penalized = side_by_side.loc["plain"], side_by_side.iloc[1]
    assert penalized["evaluate: loss"] > plain["evaluate: loss"] + 0.2  # "clearly worse"
    assert penalized["data loss (by hand)"] < plain["data loss (by hand)"] + 0.02  # "about equal"
    assert penalized["accuracy"] > plain["accuracy"] + 0.01  # better by accuracy


def test_history_holds_data_loss_and_loss_with_penalty():
    plain = r.train()[1]
    penalized = r.train(l2=r.L2_STRENGTH)[1]
    assert plain["loss"] == pytest.approx(plain["data_loss"], rel=1e-4)  # no penalty: the same
    assert all(l > d + 0.1 for l, d in zip(penalized["val_loss"], penalized["val_data_loss"]))
    assert penalized["loss"][-1] > 4 * plain["loss"][-1]  # "several times lower"
    assert plain["accuracy"][-1] > penalized["accuracy"][-1]  # memorized the wrong labels
    assert penalized["val_accuracy"][-1] > plain["val_accuracy"][-1]


def test_fit_loss_averages_over_changing_weights():
    table = r.fit_versus_evaluate(rate=0.0)
    assert list(table.index) == list(r.SHOWN_EPOCHS)
    # No dropout: training mode and inference mode agree after the epoch.
    assert np.allclose(table["training mode after"], table["evaluate after"], atol=1e-4)
    gaps = table["fit: loss"] - table["evaluate after"]
    assert (gaps > 0).all()
    assert gaps.iloc[0] > 0.3 and gaps.iloc[-1] < 0.05  # far above at first, close later
    assert table["fit: accuracy"].iloc[0] < table["evaluate: accuracy"].iloc[0] - 0.1


def test_dropout_keeps_a_gap_to_the_end():
    table = r.fit_versus_evaluate(rate=r.DROPOUT_RATE)
    last = table.iloc[-1]
    assert last["fit: loss"] > last["training mode after"] > last["evaluate after"] + 0.05
    assert last["evaluate: accuracy"] > last["fit: accuracy"] + 0.03
    val_accuracy = r.train(rate=r.DROPOUT_RATE)[1]["val_accuracy"][-1]
    # The gap read from fit's accuracy is smaller than the gap read from evaluate.
    assert last["evaluate: accuracy"] - val_accuracy > last["fit: accuracy"] - val_accuracy + 0.03


def test_figure_plots_reported_and_data_loss():
    fig = r.plot_penalty_curves()
    left, right = fig.axes
    assert left.get_title().startswith("val_loss") and right.get_title().startswith("val_data_loss")
    assert [line.get_label() for line in left.get_lines()] == ["plain", f"L2({r.L2_STRENGTH:g})"]
    penalized = r.train(l2=r.L2_STRENGTH)[1]
    assert np.allclose(left.get_lines()[1].get_ydata(), penalized["val_loss"])
    assert np.allclose(right.get_lines()[1].get_ydata(), penalized["val_data_loss"])
    assert len(left.get_lines()[0].get_xdata()) == r.EPOCHS
