"""The training path: seeded, deterministic, a new order of the examples every epoch, and
the same computation as Keras' ``fit``."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from snippets.data import as_float_images, load_mnist, notebook_split
from snippets.pipeline import shuffled_batches
from snippets.models import build_mlp, notebook_model
from snippets.training import (
    STEPS_PER_CALL,
    compile_like_notebook,
    compiles_with_xla,
    epoch_orders,
    evaluate,
    seed_everything,
    supports_xla,
    train,
)
from snippets.training_targets import SmoothedSparseCrossentropy, mixup_draws


@pytest.fixture(scope="module")
def small_mnist():
    (x, y), _ = load_mnist()
    (x_train, y_train), (x_val, y_val) = notebook_split(x, y)
    return (x_train[:1000], y_train[:1000]), (x_val[:500], y_val[:500])


def fit_small(small_mnist, seed, batch_norm=False, epochs=2):
    train_data, val_data = small_mnist
    seed_everything(seed)
    model = compile_like_notebook(notebook_model(batch_norm=batch_norm))
    return train(model, train_data, val_data, seed=seed, epochs=epochs)


def test_every_epoch_has_a_new_order_and_seeds_repeat_them():
    orders = epoch_orders(n=200, seed=3, epochs=3)
    assert all(sorted(order) == list(range(200)) for order in orders)  # permutations
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    again = epoch_orders(n=200, seed=3, epochs=3)
    assert all(np.array_equal(a, b) for a, b in zip(orders, again))
    other = epoch_orders(n=200, seed=4, epochs=1)
    assert not np.array_equal(orders[0], other[0])


class OrderRecorder(keras.Model):
    """Records the example indices its training steps receive, inside the compiled graph."""

    def __init__(self, capacity):
        super().__init__()
        self.dense = keras.layers.Dense(1)
        self.seen = tf.Variable(tf.fill([capacity], tf.constant(-1, tf.int64)), trainable=False)
        self.count = tf.Variable(0, dtype=tf.int64, trainable=False)

    def call(self, x):
        return self.dense(x)

    def train_step(self, data):
        x, _ = data
        indices = tf.cast(x[:, 0], tf.int64)
        positions = self.count + tf.range(tf.shape(indices, out_type=tf.int64)[0])
        self.seen.scatter_nd_update(positions[:, None], indices)
        self.count.assign_add(tf.shape(indices, out_type=tf.int64)[0])
        return {"seen": self.count}


def orders_seen_by_fit(n, epochs, seed, batch_size=10):
    seed_everything(seed)
    model = OrderRecorder(capacity=n * epochs)
    model.compile(optimizer="sgd", loss="mse", steps_per_execution=4)  # 7 steps an epoch: 4 + 3
    x = np.arange(n, dtype=np.float32)[:, None]
    model.fit(shuffled_batches(x, np.zeros(n, np.float32), seed, batch_size), epochs=epochs, shuffle=False, verbose=0)
    assert int(model.count.numpy()) == n * epochs  # exactly one pass per epoch, no extra steps
    return model.seen.numpy().reshape(epochs, n)


def test_keras_fit_sees_a_new_order_every_epoch():
    """The trap: seeded fit on arrays repeats one order. shuffled_batches through fit does not."""
    seen = orders_seen_by_fit(n=64, epochs=3, seed=0)
    assert all(sorted(row) == list(range(64)) for row in seen)  # every example once per epoch
    assert not np.array_equal(seen[0], seen[1]) and not np.array_equal(seen[1], seen[2])
    assert np.array_equal(seen, orders_seen_by_fit(n=64, epochs=3, seed=0))  # same seed, same orders
    assert not np.array_equal(seen, orders_seen_by_fit(n=64, epochs=3, seed=1))


class IndexRecorder(keras.layers.Layer):
    """Records, inside the compiled training steps, the example indices it is fed (feature 0)."""

    def __init__(self, capacity):
        super().__init__()
        self.seen = self.add_weight(shape=(capacity,), initializer="zeros", dtype="int32", trainable=False)
        self.count = self.add_weight(shape=(), initializer="zeros", dtype="int32", trainable=False)

    def call(self, x, training=False):
        if training:
            indices = tf.cast(x[:, 0], tf.int32)
            positions = self.count + tf.range(tf.shape(indices)[0])
            self.seen.assign(tf.tensor_scatter_nd_update(self.seen, positions[:, None], indices))
            self.count.assign_add(tf.shape(indices)[0])
        return x


def orders_seen_by_train(n, epochs, seed, batch_size=10):
    seed_everything(seed)
    recorder = IndexRecorder(capacity=n * epochs)
    model = compile_like_notebook(keras.Sequential([keras.Input(shape=(1,)), recorder, keras.layers.Dense(2)]))
    x = np.arange(n, dtype=np.float32)[:, None]
    train(model, (x, np.zeros(n, np.int64)), (x, np.zeros(n, np.int64)), seed=seed, epochs=epochs,
          batch_size=batch_size)
    assert supports_xla(model)  # the recorder ran inside the XLA programs
    assert int(recorder.count.numpy()) == n * epochs  # exactly one pass per epoch
    return recorder.seen.numpy().reshape(epochs, n)


def test_train_feeds_each_epoch_in_the_order_of_epoch_orders():
    # 407 examples in batches of 10: two XLA programs of 16 steps, 8 steps in the graph, a batch of 7
    assert STEPS_PER_CALL == 16
    seen = orders_seen_by_train(n=407, epochs=3, seed=5)
    assert np.array_equal(seen, np.stack(epoch_orders(407, seed=5, epochs=3)))
    assert not np.array_equal(seen[0], seen[1])


def test_train_computes_what_fit_computes(small_mnist):
    """One epoch of ``train`` against ``fit`` fed the same batches in the same order: the
    same reported loss and accuracy and the same weights, up to XLA's rounding."""
    train_data, val_data = small_mnist
    x, y = as_float_images(train_data[0]), train_data[1]
    order = epoch_orders(len(x), seed=11, epochs=1)[0]

    def trained(fit_with_keras):
        seed_everything(0)
        model = compile_like_notebook(notebook_model(batch_norm=True))
        if fit_with_keras:
            batches = tf.data.Dataset.from_tensor_slices((x[order], y[order])).batch(32)
            history = model.fit(batches, validation_data=(as_float_images(val_data[0]), val_data[1]), shuffle=False,
                                verbose=0)
            history = history.history
        else:
            history = train(model, train_data, val_data, seed=11, epochs=1)
        return history, model.get_weights()

    (ours, our_weights), (keras_history, keras_weights) = trained(False), trained(True)
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert ours[name][0] == pytest.approx(keras_history[name][0], rel=1e-4, abs=1e-4), name
    for mine, theirs in zip(our_weights, keras_weights, strict=True):  # includes batch norm's moving statistics
        np.testing.assert_allclose(mine, theirs, rtol=1e-3, atol=1e-5)


def test_early_stopping_works_through_train(small_mnist):
    seed_everything(0)
    model = compile_like_notebook(build_mlp())
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=0, min_delta=10.0)  # stops after 1 epoch
    history = train(model, *small_mnist, seed=0, epochs=5, callbacks=[stopper])
    assert len(history["loss"]) == 2 and stopper.stopped_epoch == 1


def test_models_xla_cannot_compile_train_without_it(small_mnist):
    augmentation = keras.Sequential([keras.layers.RandomTranslation(0.1, 0.1), keras.layers.RandomRotation(0.03)])
    model = compile_like_notebook(build_mlp(augmentation=augmentation))
    assert not supports_xla(model) and supports_xla(compile_like_notebook(build_mlp(dropout=0.5)))
    seed_everything(0)
    history = train(model, *small_mnist, seed=0, epochs=3)
    assert history["loss"][2] < history["loss"][0]  # it learns, in a graph without XLA


@pytest.mark.parametrize("batch_norm", [False, True])
def test_same_seed_same_history(small_mnist, batch_norm):
    first = fit_small(small_mnist, seed=7, batch_norm=batch_norm)
    second = fit_small(small_mnist, seed=7, batch_norm=batch_norm)
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert first[name] == second[name], name


def test_different_seeds_differ(small_mnist):
    assert fit_small(small_mnist, seed=1)["loss"] != fit_small(small_mnist, seed=2)["loss"]


def test_history_has_every_metric_per_epoch(small_mnist):
    train_data, val_data = small_mnist
    seed_everything(0)
    model = compile_like_notebook(build_mlp())
    history = train(model, train_data, val_data, seed=0, epochs=2, test_data=val_data)
    expected = {"loss", "accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy", "seconds"}
    assert expected <= set(history) and all(len(history[name]) == 2 for name in expected)
    # evaluating on the validation data as "test" must give the validation metrics
    assert history["test_accuracy"] == pytest.approx(history["val_accuracy"])
    assert history["loss"][1] < history["loss"][0] and history["val_accuracy"][1] > 0.3  # it learns (chance: 0.1)


def test_scaling_matches_the_notebook():
    images = np.arange(256, dtype=np.uint8).reshape(16, 16)
    scaled = as_float_images(images)
    assert scaled.dtype == np.float32 and scaled.shape == images.shape
    assert scaled[0, 0] == 0.0 and scaled[-1, -1] == 1.0
    assert np.all(np.diff(scaled.ravel()) > 0)  # 256 grey levels stay 256 distinct, ordered values
    # The notebook's float64 X / 255, to the nearest float32: within half a float32 step of it.
    notebook = np.arange(256) / 255
    assert np.all(np.abs(scaled.ravel().astype(np.float64) - notebook) <= np.spacing(scaled.ravel()) / 2)


def test_compile_uses_the_notebook_recipe():
    model = compile_like_notebook(build_mlp())
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)
    assert model.optimizer.momentum == 0


def test_bad_epochs_are_refused(small_mnist):
    model = compile_like_notebook(build_mlp())
    with pytest.raises(ValueError, match="epochs and batch_size must be positive"):
        train(model, *small_mnist, seed=0, epochs=0)


def test_xla_and_steps_per_call_are_arguments_that_change_speed_not_math(small_mnist):
    """The knobs the speed benchmark turns: the same math, up to XLA's rounding."""
    runs = {}
    for name, settings in (("default", {}), ("no XLA", {"xla": False}), ("4 steps per call", {"steps_per_call": 4})):
        seed_everything(0)
        model = compile_like_notebook(build_mlp(seed=0))
        runs[name] = train(model, *small_mnist, seed=0, epochs=1, **settings)
        assert compiles_with_xla(model, settings.get("xla", True)) is settings.get("xla", True)
    for name in ("no XLA", "4 steps per call"):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert runs[name][key] == pytest.approx(runs["default"][key], rel=1e-3), (name, key)


# The regularizers that the studies' configurations turn on.


def column_norms(model):
    """Each Dense layer's per-unit norms of incoming weights (MaxNorm's axis 0)."""
    return [np.linalg.norm(layer.kernel.numpy(), axis=0) for layer in model.layers
            if isinstance(layer, keras.layers.Dense)]


def test_max_norm_holds_after_training_and_binds(small_mnist):
    """MaxNorm is a projection after each update: ``optimizer.apply`` makes it, in the XLA steps too."""
    radius = 1.2  # Glorot's initial columns have norms near 1.2-1.35 here
    norms = {}
    for max_norm in (None, radius):
        seed_everything(0)
        model = compile_like_notebook(build_mlp(max_norm=max_norm, seed=0), learning_rate=0.05)
        assert compiles_with_xla(model)
        train(model, *small_mnist, seed=0, epochs=2)
        norms[max_norm] = column_norms(model)
    assert all(np.all(hidden <= radius + 1e-5) for hidden in norms[radius][:2])
    assert all(np.any(hidden > radius + 1e-3) for hidden in norms[None][:2])  # without it, some exceed
    assert max(hidden.max() for hidden in norms[radius][:2]) > radius - 1e-3  # it binds


@pytest.mark.parametrize("smoothing", [0.1, 0.3])
def test_smoothed_sparse_crossentropy_is_keras_smoothed_categorical(smoothing):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, size=64)
    probabilities = rng.dirichlet(np.ones(10), size=64).astype(np.float32)
    ours = float(SmoothedSparseCrossentropy(smoothing)(labels, probabilities))
    keras_loss = float(keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)(
        keras.utils.to_categorical(labels, 10), probabilities))
    targets = (1 - smoothing) * keras.utils.to_categorical(labels, 10) + smoothing / 10
    by_hand = float(np.mean(-np.sum(targets * np.log(probabilities), axis=1)))
    assert ours == pytest.approx(keras_loss, abs=1e-6) and ours == pytest.approx(by_hand, rel=1e-5)
    unsmoothed = float(SmoothedSparseCrossentropy(0.0)(labels, probabilities))
    assert unsmoothed == pytest.approx(float(keras.losses.SparseCategoricalCrossentropy()(labels, probabilities)), abs=1e-6)
    assert ours > unsmoothed  # confident wrong-ish predictions pay for the mass on other classes


def test_label_smoothing_is_the_compiled_loss_and_keeps_accuracy(small_mnist):
    seed_everything(0)
    model = compile_like_notebook(build_mlp(seed=0), label_smoothing=0.1)
    history = train(model, *small_mnist, seed=0, epochs=1)
    x, y = as_float_images(small_mnist[1][0]), small_mnist[1][1]
    probabilities = model.predict(x, verbose=0)
    expected = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(keras.utils.to_categorical(y, 10), probabilities)
    assert history["val_loss"][0] == pytest.approx(float(expected), rel=1e-5)
    assert history["val_accuracy"][0] == pytest.approx(np.mean(probabilities.argmax(axis=1) == y))
    assert evaluate(model, (x, y)) == pytest.approx({"loss": history["val_loss"][0], "accuracy": history["val_accuracy"][0]})


def test_mixup_draws_are_seeded_within_batch_partners():
    draws = mixup_draws(n=70, seed=2, epochs=2, batch_size=32, alpha=0.4)
    for lambdas, partners in draws:
        assert lambdas.shape == (3,) and lambdas.dtype == np.float32 and np.all((lambdas >= 0) & (lambdas <= 1))
        assert sorted(partners) == list(range(70))
        assert np.array_equal(partners // 32, np.arange(70) // 32)  # each partner from its own batch
    assert not np.array_equal(draws[0][1], draws[1][1])
    again = mixup_draws(n=70, seed=2, epochs=2, batch_size=32, alpha=0.4)
    assert all(np.array_equal(a, b) for first, second in zip(draws, again) for a, b in zip(first, second))
    lambdas = np.concatenate([l for l, _ in mixup_draws(n=32_000, seed=0, epochs=1, batch_size=32, alpha=0.2)])
    assert np.mean(lambdas) == pytest.approx(0.5, abs=0.03)  # Beta(0.2, 0.2): symmetric, U-shaped
    assert np.mean((lambdas < 0.1) | (lambdas > 0.9)) > 0.5
    with pytest.raises(ValueError, match="alpha must be positive"):
        mixup_draws(n=10, seed=0, epochs=1, batch_size=5, alpha=0.0)


def mixup_run(small_mnist, alpha, **settings):
    seed_everything(0)
    model = compile_like_notebook(build_mlp(seed=0))
    return train(model, *small_mnist, seed=0, epochs=2, mixup_alpha=alpha, **settings), model


def test_mixup_is_seeded_and_off_at_zero(small_mnist):
    default, _ = mixup_run(small_mnist, 0.0)
    seed_everything(0)
    reference = train(compile_like_notebook(build_mlp(seed=0)), *small_mnist, seed=0, epochs=2)
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert default[name] == reference[name], name  # alpha=0: exactly the default's numbers
    first, model = mixup_run(small_mnist, 0.2)
    assert compiles_with_xla(model)  # the draws come from NumPy: no random numbers in the steps
    second, _ = mixup_run(small_mnist, 0.2)
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert first[name] == second[name], name
    assert first["loss"] != default["loss"]
    without_xla, _ = mixup_run(small_mnist, 0.2, xla=False)
    assert without_xla["loss"] == pytest.approx(first["loss"], rel=1e-3)  # the same math in every path


def test_one_mixed_step_by_hand():
    """One batch, one XLA step: the reported loss is λ·L(y) + (1-λ)·L(y_partner) plus the penalty
    once, on the mixed inputs, and the update follows that loss's gradient."""
    n, alpha, seed, rate, l2 = 24, 0.4, 3, 0.1, 0.01
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(n, 5)).astype(np.float32), rng.integers(0, 3, size=n)
    seed_everything(0)
    model = compile_like_notebook(keras.Sequential([
        keras.Input(shape=(5,)), keras.layers.Dense(3, activation="softmax", kernel_regularizer=keras.regularizers.L2(l2))
    ]), learning_rate=rate)
    kernel, bias = (w.copy() for w in model.get_weights())
    history = train(model, (x, y), (x, y), seed=seed, epochs=1, batch_size=n, steps_per_call=1, mixup_alpha=alpha)

    order = epoch_orders(n, seed, 1)[0]
    (lam,), partners = mixup_draws(n, seed, 1, n, alpha)[0]
    partner = order[partners]
    mixed = lam * x[order] + (1 - lam) * x[partner]
    w, b = tf.Variable(kernel), tf.Variable(bias)
    with tf.GradientTape() as tape:
        p = tf.nn.softmax(mixed @ w + b)
        cross = [tf.reduce_mean(-tf.math.log(tf.gather(p, labels, batch_dims=1))) for labels in (y[order], y[partner])]
        loss = lam * cross[0] + (1 - lam) * cross[1] + l2 * tf.reduce_sum(w ** 2)
    assert 0.05 < lam < 0.95  # a real mixture
    assert history["loss"][0] == pytest.approx(float(loss), rel=1e-5)
    targets = lam * keras.utils.to_categorical(y[order], 3) + (1 - lam) * keras.utils.to_categorical(y[partner], 3)
    soft = keras.losses.CategoricalCrossentropy()(targets, p) + l2 * tf.reduce_sum(w ** 2)
    assert float(soft) == pytest.approx(float(loss), rel=1e-5)  # the same as mixed one-hot targets
    dominant = y[order] if lam >= 0.5 else y[partner]
    assert history["accuracy"][0] == pytest.approx(np.mean(p.numpy().argmax(axis=1) == dominant))
    grad_w, grad_b = tape.gradient(loss, [w, b])
    np.testing.assert_allclose(model.get_weights()[0], kernel - rate * grad_w.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.get_weights()[1], bias - rate * grad_b.numpy(), rtol=1e-5, atol=1e-6)


class LastRawWeights(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.weights = self.model.get_weights()


def test_weight_averaging_ends_with_the_average_as_fit_does(small_mnist):
    """With ``use_ema`` the model ends with the optimizer's averages (``finalize_variable_values``),
    as after ``fit`` fed the same batches; the last raw weights differ from them."""
    train_data, val_data = small_mnist
    x, y = as_float_images(train_data[0]), train_data[1]
    order = epoch_orders(len(x), seed=11, epochs=1)[0]

    def trained(fit_with_keras):
        seed_everything(0)
        optimizer = keras.optimizers.SGD(0.05, use_ema=True, ema_momentum=0.9)
        model = compile_like_notebook(build_mlp(seed=0), optimizer=optimizer)
        raw = LastRawWeights()
        if fit_with_keras:
            batches = tf.data.Dataset.from_tensor_slices((x[order], y[order])).batch(32)
            model.fit(batches, shuffle=False, verbose=0, callbacks=[raw])
        else:
            train(model, train_data, val_data, seed=11, epochs=1, callbacks=[raw])
        return model, raw.weights

    (ours, our_raw), (theirs, _) = trained(False), trained(True)
    averages = [v.numpy() for v in ours.optimizer._model_variables_moving_average]
    for final, average, raw in zip(ours.get_weights(), averages, our_raw, strict=True):
        np.testing.assert_array_equal(final, average)
        assert np.max(np.abs(final - raw)) > 1e-3
    for mine, keras_weights in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, keras_weights, rtol=1e-3, atol=1e-5)
