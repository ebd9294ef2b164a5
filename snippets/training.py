"""The notebook's training recipe, seeded, deterministic and fast.

The math is the notebook's: SGD with Keras' default learning rate (0.01), batch
size 32, sparse categorical cross-entropy, a fresh shuffle of the training set in
every epoch. What changes is only how the work reaches the CPU. ``train`` keeps the
float32 images in memory, runs a whole epoch in one call into a TensorFlow graph
that gathers each batch by index, and compiles the training steps with XLA, a few
steps per program, which fuses a step's many small operations into a few kernels
(for models without random layers: ``compiles_with_xla``).
It reports what ``fit`` reports, and Keras callbacks work as with ``fit``.

Beyond the notebook, ``train`` supports the studies' regularizers that live in the
training loop rather than in the model: mixup (``mixup_alpha``, its draws made in NumPy
from the seed by ``mixup_draws``, so the steps stay free of random numbers and XLA-compiled)
and, as ``fit`` does, the final copy of an averaging optimizer's weights (``use_ema``) into
the model. Label smoothing is a loss (``SmoothedSparseCrossentropy``) that
``compile_like_notebook`` sets up. Both live in ``snippets.training_targets``.

Why not ``model.fit(x, y, shuffle=True)`` after ``keras.utils.set_random_seed``?
With Keras 3.15 on TensorFlow 2.21 that feeds the *same* permutation in every
epoch, which changes the results, not only their reproducibility. ``train`` draws
a new permutation every epoch (``epoch_orders``); for ``fit``,
``snippets.pipeline.shuffled_batches`` is a pipeline that reshuffles every epoch.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

from snippets.data import as_float_images
from snippets.training_targets import SmoothedSparseCrossentropy, mixup_draws

NOTEBOOK_LEARNING_RATE = 0.01  # keras.optimizers.SGD() default, which optimizer='SGD' uses
NOTEBOOK_BATCH_SIZE = 32
NOTEBOOK_EPOCHS = 15
#: Training steps per call from Python into the compiled graph (Keras' steps_per_execution),
#: for models trained with ``fit``.
STEPS_PER_EXECUTION = 256
#: ``train``'s default number of training steps per call into one XLA program (a loop inside
#: the program); ``train(..., steps_per_call=N)`` changes it.
STEPS_PER_CALL = 16
#: TensorFlow's thread pools: two threads inside an op, one op at a time. The XLA-compiled
#: steps split their matrix products across two threads (measured in
#: benchmarks/train_speed.py). The count is fixed rather than taken from the machine
#: because the way a product is split decides its rounding: the same seed gives the same
#: numbers on any number of cores.
INTRA_OP_THREADS = 2
INTER_OP_THREADS = 1
#: Batch size of validation and evaluation passes (inference mode: the results do not depend on it).
EVALUATION_BATCH_SIZE = 1024


def set_thread_pools(intra_op: int = INTRA_OP_THREADS, inter_op: int = INTER_OP_THREADS) -> bool:
    """Set TensorFlow's thread pools; False if TensorFlow already runs in this process.

    TensorFlow fixes its thread pools when it runs its first op, so this works only
    before any TensorFlow computation; afterwards the process keeps the pools it has.
    Where it bites: the thread count decides how a matrix product is split, hence its
    rounding, so a process that trains with ``train`` and wants the numbers of another
    machine calls this first, with the same counts. Nothing calls it on import: the
    studies set one thread per op for each run (``snippets.studies.runs.use_threads``),
    the speed benchmark sets the measured defaults above.
    """
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:
        return False
    return True


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's kernels deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def epoch_orders(n: int, seed: int, epochs: int) -> list[np.ndarray]:
    """The order of the examples in each epoch of ``train``: a new permutation of
    0..n-1 every epoch, the same sequence of permutations for the same seed."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(n) for _ in range(epochs)]


def compile_like_notebook(
    model: keras.Model,
    learning_rate: float = NOTEBOOK_LEARNING_RATE,
    optimizer: keras.optimizers.Optimizer | None = None,
    steps_per_execution: int = STEPS_PER_EXECUTION,
    label_smoothing: float = 0.0,
) -> keras.Model:
    """``model.compile(loss='sparse_categorical_crossentropy', optimizer='SGD', metrics=['accuracy'])``;
    with ``label_smoothing`` the loss is ``SmoothedSparseCrossentropy``, the labels stay integers."""
    model.compile(
        optimizer=optimizer or keras.optimizers.SGD(learning_rate=learning_rate),
        loss=SmoothedSparseCrossentropy(label_smoothing) if label_smoothing else "sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


class EpochTimer(keras.callbacks.Callback):
    """Times every epoch: adds its wall-clock seconds to the logs as ``seconds`` and keeps
    the wall-clock and process CPU seconds in ``wall`` and ``cpu`` (the speed benchmark)."""

    def __init__(self):
        super().__init__()
        self.wall, self.cpu = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.wall.append(time.perf_counter() - self._start[0])
        self.cpu.append(time.process_time() - self._start[1])
        logs["seconds"] = self.wall[-1]


class Evaluation:
    """A model's loss and accuracy on one dataset, in inference mode, in one graph call.

    It computes what ``model.evaluate`` computes (the compiled loss, weight penalties
    included, and the accuracy, over batches of ``EVALUATION_BATCH_SIZE``) without the
    cost Keras pays on every call to set up its input pipeline: the data stays in
    memory and the graph is traced once, however many epochs evaluate it.
    """

    def __init__(self, model: keras.Model, data: tuple[np.ndarray, np.ndarray]):
        x, y = _prepared(data)
        self.model, self.size = model, len(x)
        self.images, self.labels = tf.constant(x), tf.constant(y, dtype=tf.int32)
        _build_model_and_loss(model, x, y)
        self._evaluate = tf.function(self._sums)

    def _sums(self):
        def batch(start, loss_sum, hits):
            x = self.images[start:start + EVALUATION_BATCH_SIZE]
            y = self.labels[start:start + EVALUATION_BATCH_SIZE]
            probabilities = self.model(x, training=False)
            loss = self.model.compute_loss(x=x, y=y, y_pred=probabilities, training=False)
            predicted = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
            return (start + EVALUATION_BATCH_SIZE, loss_sum + loss * tf.cast(tf.shape(y)[0], tf.float32),
                    hits + tf.reduce_sum(tf.cast(tf.equal(predicted, y), tf.float32)))

        _, loss_sum, hits = tf.while_loop(lambda start, *_: start < self.size, batch,
                                          (tf.constant(0), tf.constant(0.0), tf.constant(0.0)))
        return loss_sum / self.size, hits / self.size

    def __call__(self) -> dict[str, float]:
        loss, accuracy = self._evaluate()
        return {"loss": float(loss), "accuracy": float(accuracy)}


class EvaluateEachEpoch(keras.callbacks.Callback):
    """Adds ``<prefix>_loss`` and ``<prefix>_accuracy`` on a held-out set to each epoch's logs."""

    def __init__(self, x, y, prefix: str = "test"):
        super().__init__()
        self.x, self.y, self.prefix = x, y, prefix
        self._evaluation = None

    def on_epoch_end(self, epoch, logs=None):
        if self._evaluation is None:  # the model is known only once training has begun
            self._evaluation = _program(Evaluation, self.model, (self.x, self.y))
        for name, value in self._evaluation().items():
            logs[f"{self.prefix}_{name}"] = value


def _program(kind: type, model: keras.Model, data: tuple[np.ndarray, np.ndarray], *settings):
    """``kind(model, data, *settings)``, made once per model, array objects and settings.

    Training the same model on the same arrays again (the studies do, one seed after
    another) reuses the traced and XLA-compiled program instead of compiling anew.
    The programs live on the model (past Keras' attribute tracking), so they go when it goes.
    """
    programs = vars(model).setdefault("_training_programs", [])
    for entry_kind, entry_data, entry_settings, program in programs:
        if entry_kind is kind and entry_settings == settings and all(a is b for a, b in zip(entry_data, data)):
            return program
    program = kind(model, data, *settings)
    programs.append((kind, tuple(data), settings, program))  # the arrays are kept: their ids stay theirs
    return program


def _build_model_and_loss(model: keras.Model, x: np.ndarray, y: np.ndarray) -> None:
    """Create the model's and its compiled loss's state now, outside any graph, as ``fit`` does."""
    model.compute_loss(x=x[:1], y=y[:1], y_pred=model(x[:1]), training=False)


def _layers(layer):
    yield layer
    for inner in getattr(layer, "layers", ()):
        yield from _layers(inner)


def supports_xla(model: keras.Model) -> bool:
    """Whether every layer can be compiled by XLA (Keras' random translation, for one, cannot)."""
    return all(layer.supports_jit for layer in _layers(model))


def draws_random_numbers(model: keras.Model) -> bool:
    """Whether a layer draws random numbers while training (dropout, noise, augmentation)."""
    return any(layer._seed_generators for layer in _layers(model))


def compiles_with_xla(model: keras.Model, xla: bool = True) -> bool:
    """Whether ``train(..., xla=xla)`` compiles the model's training steps with XLA.

    Only when every layer allows it and none draws random numbers: XLA's random-number
    generator on the CPU made an epoch of the regularizer study's dropout model (2,000
    images, one thread per op) take 0.25 s against 0.035 s for the same steps as a plain
    TensorFlow graph, while the model without dropout took 0.031 s with XLA.
    """
    return xla and supports_xla(model) and not draws_random_numbers(model)


class EpochRunner:
    """One epoch of training in a single call from Python: every batch, in the given order.

    The loop over batches is a TensorFlow graph. The training steps themselves (forward
    pass, the compiled loss with any weight penalties, gradients, the compiled
    optimizer's update) run ``steps_per_call`` at a time in one XLA program when
    ``compiles_with_xla(model, xla)``; the few steps left at the end of the epoch, the last batch maybe
    smaller, run in the graph without XLA. The images stay in memory and each batch is
    gathered by index. Returns the epoch's mean loss and accuracy, which ``fit``
    reports as ``loss`` and ``accuracy``.

    With ``mixup`` each call also takes every example's partner and each batch's λ
    (``mixup_draws``): the step trains on λ·x + (1-λ)·x_partner with the loss
    λ·L(y) + (1-λ)·L(y_partner), the cross-entropy against the mixed one-hot targets.
    """

    def __init__(self, model: keras.Model, data: tuple[np.ndarray, np.ndarray], batch_size: int,
                 xla: bool = True, steps_per_call: int = STEPS_PER_CALL, mixup: bool = False):
        x, y = data
        self.model, self.batch_size, self.size = model, batch_size, len(x)
        self.steps_per_call, self.mixup = steps_per_call, mixup
        self.images, self.labels = tf.constant(x), tf.constant(y, dtype=tf.int32)
        _build_model_and_loss(model, x, y)
        model.optimizer.build(model.trainable_variables)
        self._compiled_steps = tf.function(self._train_steps, jit_compile=compiles_with_xla(model, xla))
        self._epoch = tf.function(self._train_epoch)

    def _train_step(self, x, y, x_partner=None, y_partner=None, mix=None):
        """One update on one batch (mixed with its partners when ``mix``, the batch's λ, is given);
        returns the batch's summed loss and its number of hits."""
        with tf.GradientTape() as tape:
            if mix is None:
                probabilities = self.model(x, training=True)
                loss = self.model.compute_loss(x=x, y=y, y_pred=probabilities, training=True)
            else:
                x = mix * x + (1.0 - mix) * x_partner
                probabilities = self.model(x, training=True)
                # Each compute_loss adds the weight penalties once; weighted λ and 1-λ, they count once.
                loss = (mix * self.model.compute_loss(x=x, y=y, y_pred=probabilities, training=True)
                        + (1.0 - mix) * self.model.compute_loss(x=x, y=y_partner, y_pred=probabilities, training=True))
                y = tf.where(mix >= 0.5, y, y_partner)  # hits count against the dominant label
        gradients = tape.gradient(loss, self.model.trainable_variables)
        self.model.optimizer.apply(gradients, self.model.trainable_variables)
        predicted = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        hits = tf.reduce_sum(tf.cast(tf.equal(predicted, y), tf.float32))
        return loss * y.shape[0], hits

    def _train_steps(self, x, y, x_partner=None, y_partner=None, mixes=None):
        """Consecutive updates on the full batches that ``x``/``y`` hold, in a loop."""
        steps = x.shape[0] // self.batch_size

        def batched(tensor):
            return None if tensor is None else tf.reshape(tensor, [steps, self.batch_size, *tensor.shape[1:]])

        batches = [batched(tensor) for tensor in (x, y, x_partner, y_partner)]

        def step(index, loss_sum, hits):
            batch = [None if tensor is None else tensor[index] for tensor in batches]
            mix = None if mixes is None else mixes[index]
            batch_loss, batch_hits = self._train_step(*batch, mix=mix)
            return index + 1, loss_sum + batch_loss, hits + batch_hits

        _, loss_sum, hits = tf.while_loop(lambda index, *_: index < steps, step,
                                          (tf.constant(0), tf.constant(0.0), tf.constant(0.0)))
        return loss_sum, hits

    def _train_epoch(self, order, partners=None, mixes=None):
        block = self.batch_size * self.steps_per_call
        blocks_end = self.size // block * block
        batches_end = self.size // self.batch_size * self.batch_size
        loss_sum, hits = tf.constant(0.0), tf.constant(0.0)
        for start in tf.range(0, blocks_end, block):
            indices = tf.ensure_shape(order[start:start + block], [block])
            first = start // self.batch_size
            block_loss, block_hits = self._compiled_steps(
                *self._gathered(indices, partners, start, start + block),
                *self._mixes(mixes, first, first + self.steps_per_call))
            loss_sum, hits = loss_sum + block_loss, hits + block_hits
        full_batches = order[blocks_end:batches_end]  # the full batches after the last block
        if full_batches.shape[0]:
            rest_loss, rest_hits = self._train_steps(
                *self._gathered(full_batches, partners, blocks_end, batches_end),
                *self._mixes(mixes, blocks_end // self.batch_size, batches_end // self.batch_size))
            loss_sum, hits = loss_sum + rest_loss, hits + rest_hits
        last_batch = order[batches_end:]  # the last, smaller batch
        if last_batch.shape[0]:
            last_mix = None if mixes is None else mixes[batches_end // self.batch_size]
            rest_loss, rest_hits = self._train_step(
                *self._gathered(last_batch, partners, batches_end, self.size), mix=last_mix)
            loss_sum, hits = loss_sum + rest_loss, hits + rest_hits
        return loss_sum / self.size, hits / self.size

    def _gathered(self, indices, partners=None, start=None, end=None):
        """A batch's images and labels, then its partners' when mixing."""
        batch = [tf.gather(self.images, indices), tf.gather(self.labels, indices)]
        if partners is not None:
            partner_indices = tf.ensure_shape(partners[start:end], indices.shape)
            batch += [tf.gather(self.images, partner_indices), tf.gather(self.labels, partner_indices)]
        return batch

    @staticmethod
    def _mixes(mixes, first, end):
        """The λs of batches ``first`` to ``end``, as a tuple of zero or one argument."""
        return () if mixes is None else (tf.ensure_shape(mixes[first:end], [None]),)

    def __call__(self, order: np.ndarray, partners: np.ndarray | None = None,
                 mixes: np.ndarray | None = None) -> dict[str, float]:
        """``partners``: each position's partner example (indices like ``order``); ``mixes``: each batch's λ."""
        if self.mixup != (partners is not None and mixes is not None):
            raise ValueError("a mixup runner takes partners and λs, and only a mixup runner does")
        extra = () if partners is None else (tf.constant(partners), tf.constant(mixes, dtype=tf.float32))
        loss, accuracy = self._epoch(tf.constant(order), *extra)
        return {"loss": float(loss), "accuracy": float(accuracy)}


def train(
    model: keras.Model,
    train_data: tuple[np.ndarray, np.ndarray],
    validation_data: tuple[np.ndarray, np.ndarray],
    *,
    seed: int,
    epochs: int = NOTEBOOK_EPOCHS,
    batch_size: int = NOTEBOOK_BATCH_SIZE,
    test_data: tuple[np.ndarray, np.ndarray] | None = None,
    callbacks: list[keras.callbacks.Callback] = (),
    verbose: int = 0,
    xla: bool = True,
    steps_per_call: int = STEPS_PER_CALL,
    mixup_alpha: float = 0.0,
) -> dict[str, list[float]]:
    """Train a compiled classifier like ``fit``; return its per-epoch history.

    For classification: the labels are integer classes and the reported accuracy is the
    share of examples whose most probable class is the label. Images may be uint8
    (scaled here like the notebook) or already float. Each epoch visits the training set
    in a new order from ``epoch_orders(n, seed, epochs)``.

    The history holds ``loss`` and ``accuracy`` as ``fit`` reports them: each batch's loss
    (weight penalties included) and its hits are computed in training mode with the
    weights just before that batch's update; ``loss`` is the average of the batch losses
    weighted by batch size, ``accuracy`` the hits over the epoch divided by the number of
    examples. So both mix the weights of the whole epoch. Then
    ``val_loss``/``val_accuracy`` (inference mode, after the epoch), ``seconds``, and
    ``test_loss``/``test_accuracy`` when ``test_data`` is given.

    Keras callbacks receive the epoch-level events only (``on_train_begin``/``end``,
    ``on_epoch_begin``/``end``), so ``EarlyStopping`` and ``ModelCheckpoint`` work as in
    ``fit``; there are no batch-level events, so ``TerminateOnNaN`` and a per-batch
    progress bar do nothing. ``xla=False`` runs the steps as a plain TensorFlow graph;
    ``steps_per_call`` sets how many steps one XLA program runs.

    ``mixup_alpha=α`` (0: off) trains with mixup (``EpochRunner``, ``mixup_draws``). Its
    reported ``accuracy`` counts a hit when the most probable class is the mixed batch's
    dominant label (y when λ >= 0.5, else the partner's): what Keras' ``accuracy`` counts
    against mixed one-hot targets. When the optimizer keeps a moving average of the
    weights (``use_ema``), the model takes the average at the end, before
    ``on_train_end``, as ``fit`` does; the per-epoch validation sees the raw weights.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be positive, got {epochs} and {batch_size}")
    if mixup_alpha < 0:
        raise ValueError(f"mixup_alpha must be non-negative, got {mixup_alpha}")
    x_train, y_train = _prepared(train_data)
    extra: list[keras.callbacks.Callback] = [EpochTimer()]
    if test_data is not None:
        extra.append(EvaluateEachEpoch(*test_data, prefix="test"))
    mixup = mixup_alpha > 0
    run_epoch = _program(EpochRunner, model, (x_train, y_train), batch_size, xla, steps_per_call, mixup)
    validate = _program(Evaluation, model, validation_data)
    callback_list = keras.callbacks.CallbackList(
        [*extra, *callbacks], add_history=True, add_progbar=verbose != 0, model=model,
        verbose=verbose, epochs=epochs, steps=-(-len(x_train) // batch_size),
    )
    model.stop_training = False
    callback_list.on_train_begin()
    orders = epoch_orders(len(x_train), seed, epochs)
    draws = mixup_draws(len(x_train), seed, epochs, batch_size, mixup_alpha) if mixup else [()] * epochs
    for epoch, (order, draw) in enumerate(zip(orders, draws)):
        callback_list.on_epoch_begin(epoch)
        if draw:
            lambdas, partners = draw
            logs = run_epoch(order, order[partners], lambdas)
        else:
            logs = run_epoch(order)
        logs.update({f"val_{name}": value for name, value in validate().items()})
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    # keras/src/backend/tensorflow/trainer.py, fit: after the last epoch, before on_train_end
    # (so EarlyStopping's restore_best_weights comes after it). Without use_ema it does nothing.
    model.optimizer.finalize_variable_values(model.trainable_variables)
    callback_list.on_train_end()
    return {name: [float(v) for v in values] for name, values in model.history.history.items()}


def evaluate(model: keras.Model, data: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    """Loss and accuracy in inference mode (dropout off, batch norm's moving statistics)."""
    return _program(Evaluation, model, data)()


def _prepared(data):
    x, y = data
    if x.dtype == np.uint8:
        x = as_float_images(x)
    return x.astype(np.float32, copy=False), np.asarray(y)
