"""The averaging page's claims, asserted with fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest

from snippets import averaging as a
from snippets.calibration import reliability_bins


def test_ece_of_calibrated_and_overconfident_predictions():
    rng = np.random.default_rng(0)
    n = 20_000
    confidence = rng.uniform(0.5, 1.0, n)
    labels = np.zeros(n, dtype=int)
    correct = rng.random(n) < confidence  # right exactly as often as it claims
    predicted = np.where(correct, 0, 1)
    probabilities = np.zeros((n, 2))
    probabilities[np.arange(n), predicted] = confidence
    probabilities[np.arange(n), 1 - predicted] = 1 - confidence
    assert a.expected_calibration_error(probabilities, labels) < 0.02
    # Always 90% sure, right half the time: the error is the gap, 0.4.
    sure = np.tile([0.9, 0.1], (n, 1))
    half = np.where(np.arange(n) % 2 == 0, 0, 1)
    assert a.expected_calibration_error(sure, half) == pytest.approx(0.4)


def test_swa_callback_averages_the_last_epochs():
    weights = a.train_mlp(0)
    assert set(weights) == {"last", "EMA", "SWA"}
    for name in ("EMA", "SWA"):
        assert not all(np.array_equal(x, y) for x, y in zip(weights["last"], weights[name]))
    assert a.SWA_START == 10 and a.EPOCHS == 20 and a.EMA_MOMENTUM == 0.99


def test_ensemble_beats_its_members_on_loss_and_calibration():
    table = a.ensemble_against_members()
    members = table.loc[[f"seed {s}" for s in a.SEEDS]]
    ensemble = table.loc[f"ensemble of {len(a.SEEDS)}"]
    assert len(members) == 5
    assert ensemble["test loss"] < members["test loss"].min()
    assert ensemble["test loss"] < members["test loss"].mean() - 0.01
    assert (ensemble["ECE"] < members["ECE"]).all()
    assert ensemble["ECE"] < 0.85 * members["ECE"].mean()
    assert ensemble["test accuracy"] > members["test accuracy"].mean()


def test_averaged_weights_test_better_than_the_last_weights():
    table = a.weight_averaging()
    assert list(table.index) == ["last", "EMA", "SWA"]
    last = table.loc["last"]
    for name in ("EMA", "SWA"):
        assert table.loc[name, "test loss"] < last["test loss"] - 0.005
        assert table.loc[name, "ECE"] < last["ECE"]
        assert table.loc[name, "test accuracy"] > last["test accuracy"] - 0.003  # about the same or higher
    # The members' mean of the ensemble table is the mean of the same last weights.
    assert last["test accuracy"] == pytest.approx(
        a.ensemble_against_members().loc["members' mean", "test accuracy"])


def test_with_noisy_labels_averaging_raises_accuracy_but_not_calibration():
    ensemble_table = a.ensemble_against_members(a.LABEL_NOISE)
    members = ensemble_table.loc["members' mean"]
    ensemble = ensemble_table.loc[f"ensemble of {len(a.SEEDS)}"]
    # The members are underconfident: less sure than they are right.
    assert members["confidence"] < members["test accuracy"] - 0.05
    assert ensemble["test accuracy"] > members["test accuracy"] + 0.02
    assert ensemble["test loss"] < members["test loss"] - 0.02
    # Averaging does not make them surer, so the gap and the ECE grow.
    assert ensemble["confidence"] <= members["confidence"]
    assert ensemble["ECE"] > members["ECE"] + 0.02
    table = a.weight_averaging(a.LABEL_NOISE)
    for name in ("EMA", "SWA"):
        assert table.loc[name, "test accuracy"] > table.loc["last", "test accuracy"] + 0.02
        assert table.loc[name, "test loss"] < table.loc["last", "test loss"] - 0.02
        assert table.loc[name, "ECE"] > table.loc["last", "ECE"]
        assert table.loc[name, "confidence"] < table.loc["last", "confidence"] + 0.01
    # Many times the gain in accuracy that averaging gives on clean labels.
    clean = a.ensemble_against_members()
    clean_gain = clean.loc[f"ensemble of {len(a.SEEDS)}", "test accuracy"] - clean.loc["members' mean", "test accuracy"]
    assert ensemble["test accuracy"] - members["test accuracy"] > 5 * clean_gain


def test_clean_members_are_overconfident_and_averaging_lowers_confidence():
    table = a.ensemble_against_members()
    members = table.loc["members' mean"]
    assert members["confidence"] > members["test accuracy"] + 0.01
    assert table.loc[f"ensemble of {len(a.SEEDS)}", "confidence"] < members["confidence"]
    assert a.weight_averaging().loc["SWA", "confidence"] < members["confidence"]


def test_averaging_the_weights_of_separate_seeds_breaks_the_model():
    for noise in (0.0, a.LABEL_NOISE):
        members = a.ensemble_against_members(noise).loc["members' mean", "test accuracy"]
        assert a.average_weights_of_seeds(noise)["test accuracy"] < members - 0.15


def test_reliability_diagram_shows_over_and_underconfidence():
    _, _, (x_test, y_test) = a.notebook_subsets()
    fig = a.plot_reliability()
    clean, noisy = fig.axes
    for ax in (clean, noisy):
        lines = ax.get_lines()
        assert len(lines) == 4  # the diagonal, one member, the ensemble, SWA
        assert list(lines[0].get_xdata()) == [0, 1] == list(lines[0].get_ydata())
    assert [t.get_text() for t in noisy.get_legend().get_texts()] == [
        "calibrated", "one member (seed 0)", "ensemble of 5", "SWA (seed 0)"]
    assert clean.get_ylabel() == "accuracy in the bin"
    # The member's points are its reliability table's filled bins on its test predictions.
    member = a.predict(a.train_mlp(0, a.LABEL_NOISE)["last"], x_test)
    table = reliability_bins(member, y_test, bins=10).dropna()
    assert table["images"].sum() == len(y_test)
    assert np.allclose(noisy.get_lines()[1].get_xdata(), table["confidence"])
    assert np.allclose(noisy.get_lines()[1].get_ydata(), table["accuracy"])

    def gap(line, counts=None):  # accuracy - confidence, averaged over the bins
        return float(np.mean(np.asarray(line.get_ydata()) - np.asarray(line.get_xdata())))

    # With noisy labels every curve lies above the diagonal (underconfident) ...
    assert all(gap(line) > 0.05 for line in noisy.get_lines()[1:])
    assert gap(noisy.get_lines()[2]) > gap(noisy.get_lines()[1])  # the ensemble more so
    # ... with clean labels the member lies below it (overconfident) and the ensemble closer.
    assert gap(clean.get_lines()[1]) < 0
    assert abs(gap(clean.get_lines()[2])) < abs(gap(clean.get_lines()[1]))


def test_swa_callback_holds_the_mean_of_the_epochs_from_its_start():
    import keras

    class Record(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seen = []

        def on_epoch_end(self, epoch, logs=None):
            self.seen.append(self.model.get_weights())

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = np.random.default_rng(1).normal(size=(16, 2)).astype("float32")
    swa, record = a.StochasticWeightAveraging(start_epoch=2), Record()
    model.fit(x, y, batch_size=4, epochs=5, callbacks=[record, swa], verbose=0)
    assert swa.count == 3  # epochs 3, 4 and 5 (Keras counts from 0)
    expected = [np.mean(layer, axis=0) for layer in zip(*record.seen[2:])]
    assert all(np.allclose(s, e, atol=1e-6) for s, e in zip(swa.average, expected))
    assert all(np.array_equal(l, w) for l, w in zip(swa.last, record.seen[-1]))


def test_use_ema_leaves_the_steps_alone_and_swaps_the_average_in_at_the_end():
    import keras

    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = np.random.default_rng(1).normal(size=(16, 2)).astype("float32")
    results = {}
    for use_ema in (False, True):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
        model.compile(optimizer=keras.optimizers.SGD(0.1, use_ema=use_ema, ema_momentum=0.9), loss="mse")
        swa = a.StochasticWeightAveraging(start_epoch=0)  # here only to record the last epoch's weights
        model.fit(x, y, batch_size=4, epochs=3, shuffle=False, callbacks=[swa], verbose=0)
        results[use_ema] = (swa.last, model.get_weights())
    (plain_last, plain_final), (ema_last, ema_final) = results[False], results[True]
    assert all(np.allclose(p, e) for p, e in zip(plain_last, ema_last))  # the same steps
    assert all(np.array_equal(p, f) for p, f in zip(plain_last, plain_final))
    assert not all(np.allclose(e, f) for e, f in zip(ema_last, ema_final))  # the average, written in by fit
