#!/usr/bin/env python
"""What one worker process of the speed benchmark measures (benchmarks/train_speed.py runs it).

Each measurement runs in a fresh Python process, so that its peak memory is its own
and no TensorFlow setting leaks from one to the next:

* ``notebook``: the source notebook's code as written, unseeded;
* ``project`` and ``variant``: ``snippets.training.train`` as the studies use it, or with
  one setting changed (``VARIANTS``);
* ``gemm`` and ``breakdown``: the dense layers' matrix products alone, and the project
  path's pieces (training epoch with and without XLA, validation) alone;
* ``settings``: library versions and the training path's constants.

Usage: ``python benchmarks/speed_workers.py SPEC_JSON ANSWER_FILE``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

from snippets.studies.flops import dense_shapes, training_step_products

BATCH_SIZE = 32
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


def _rss_kib() -> int:
    """Current resident set size of this process, KiB (Linux /proc; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _peak_rss_kib() -> int:
    """High-water mark of this process's resident set size, KiB (getrusage ru_maxrss)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # macOS reports bytes


def _epoch_clock():
    from snippets.training import EpochTimer  # wall-clock and CPU seconds of every epoch

    return EpochTimer()


def _load_split(train_size: int, validation_size: int):
    """The notebook's split of MNIST's training set, as uint8: (Xtr, ytr), (Xval, yval)."""
    from snippets.data import load_mnist, notebook_split

    (x, y), _ = load_mnist()
    (x_train, y_train), (x_val, y_val) = notebook_split(x, y)
    return (x_train[:train_size], y_train[:train_size]), (x_val[:validation_size], y_val[:validation_size])


def train_notebook_way(model_name: str, epochs: int, train_size: int, validation_size: int) -> dict:
    """The notebook's cells 3-21, as written (MNIST read from the verified local copy)."""
    import warnings

    from keras.layers import BatchNormalization as bn
    from keras.layers import Dense as dense
    from keras.layers import Flatten as flat
    from keras.models import Sequential as seq

    (Xtr, ytr), (Xval, yval) = _load_split(train_size, validation_size)
    Xtr = Xtr / 255  # float64, as in the notebook
    Xval = Xval / 255
    rss_before = _rss_kib()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras 3 deprecates Flatten(input_shape=...) but honours it
        if model_name == "plain":
            model = seq()
            model.add(flat(input_shape=[28, 28]))
            model.add(dense(300, activation="relu"))
            model.add(dense(100, activation="relu"))
            model.add(dense(10, activation="softmax"))
        else:
            model = seq()
            model.add(flat(input_shape=[28, 28]))
            model.add(bn())
            model.add(dense(300, activation="relu"))
            model.add(bn())
            model.add(dense(100, activation="relu"))
            model.add(bn())
            model.add(dense(10, activation="softmax"))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="SGD", metrics=["accuracy"])
    clock = _epoch_clock()
    hist = model.fit(Xtr, ytr, validation_data=(Xval, yval), batch_size=32, epochs=epochs, callbacks=[clock], verbose=0)
    import tensorflow as tf

    return {
        "epoch_seconds": clock.wall,
        "epoch_cpu_seconds": clock.cpu,
        "op_threads": [tf.config.threading.get_intra_op_parallelism_threads(),
                       tf.config.threading.get_inter_op_parallelism_threads()],
        "history": {k: [float(v) for v in hist.history[k]] for k in HISTORY_KEYS},
        "rss_before_training_kib": rss_before,
        "peak_rss_kib": _peak_rss_kib(),
        "input_dtype": str(Xtr.dtype),
        "training_loop": "keras fit",
        "xla": bool(model.jit_compile),
        "steps_per_call": int(model.steps_per_execution),
    }


#: Variants of the project path, each differing from snippets/training.py in one setting:
#: "threads" ([intra, inter] op threads; 0 = TensorFlow's default), "train" (keyword
#: arguments of snippets.training.train), "env" (the worker's environment), "determinism": False
#: (op determinism left off), "fit": True (Keras' fit instead of train, fed by snippets.pipeline.shuffled_batches; one
#: thread per op is fit's best setting here).
VARIANTS = {
    "keras-fit": {"fit": True, "threads": [1, 1],
                  "label": "Keras fit: tf.data pipeline, steps_per_execution 256, one thread per op, no XLA"},
    "no-xla": {"train": {"xla": False}, "label": "steps as a plain TensorFlow graph, no XLA"},
    "one-thread": {"threads": [1, 1], "label": "one thread per op"},
    "default-threads": {"threads": [0, 0], "label": "TensorFlow's default thread pools"},
    "steps-per-call-1": {"train": {"steps_per_call": 1}, "label": "one step per XLA program"},
    "steps-per-call-64": {"train": {"steps_per_call": 64}, "label": "64 steps per XLA program"},
    "no-determinism": {"determinism": False, "label": "op determinism off"},
    "onednn-off": {"env": {"TF_ENABLE_ONEDNN_OPTS": "0"}, "label": "oneDNN off (TF_ENABLE_ONEDNN_OPTS=0)"},
}
DEFAULT_VARIANTS = ("keras-fit", "no-xla", "one-thread", "steps-per-call-1", "steps-per-call-64")


def train_project_way(model_name: str, epochs: int, train_size: int, validation_size: int, seed: int,
                      variant: dict | None = None) -> dict:
    """snippets.training as the studies use it: seed, build, compile, train (optionally one setting changed)."""
    variant = variant or {}
    import tensorflow as tf

    from snippets import training
    from snippets.data import as_float_images
    from snippets.models import notebook_model
    from snippets.pipeline import shuffled_batches

    # Before the first TensorFlow op of this process: the pools are fixed from then on.
    threads = variant.get("threads", [training.INTRA_OP_THREADS, training.INTER_OP_THREADS])
    if not training.set_thread_pools(*threads):
        raise RuntimeError("TensorFlow ran before the benchmark set its thread pools")
    train_settings = variant.get("train", {})

    train_data, validation_data = _load_split(train_size, validation_size)
    rss_before = _rss_kib()
    start_wall = time.perf_counter()
    training.seed_everything(seed)
    if variant.get("determinism") is False:
        from tensorflow.python.framework import config as tf_config  # op determinism has no public off switch

        tf_config.disable_op_determinism()
    model = training.compile_like_notebook(notebook_model(batch_norm=model_name == "batchnorm"))
    clock = _epoch_clock()
    if variant.get("fit"):
        x, y = train_data
        history = model.fit(
            shuffled_batches(as_float_images(x), y, seed, BATCH_SIZE),
            validation_data=(as_float_images(validation_data[0]), validation_data[1]),
            validation_batch_size=training.EVALUATION_BATCH_SIZE, epochs=epochs, callbacks=[clock], verbose=0,
        ).history
    else:
        history = training.train(model, train_data, validation_data, seed=seed, epochs=epochs, callbacks=[clock],
                                 **train_settings)
    return {
        "epoch_seconds": clock.wall,
        "epoch_cpu_seconds": clock.cpu,
        "total_seconds": time.perf_counter() - start_wall,
        "history": {k: [float(v) for v in history[k]] for k in HISTORY_KEYS},
        "rss_before_training_kib": rss_before,
        "peak_rss_kib": _peak_rss_kib(),
        "input_dtype": "float32",
        "training_loop": "keras fit" if variant.get("fit") else "snippets.training.train",
        "xla": not variant.get("fit") and training.compiles_with_xla(model, train_settings.get("xla", True)),
        "steps_per_call": (int(model.steps_per_execution) if variant.get("fit")
                           else train_settings.get("steps_per_call", training.STEPS_PER_CALL)),
        "op_threads": [tf.config.threading.get_intra_op_parallelism_threads(),
                       tf.config.threading.get_inter_op_parallelism_threads()],
    }


def _best_seconds(function, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def _matmul_seconds(m: int, k: int, n: int, target_seconds: float = 0.05) -> float:
    """Seconds per float32 (m x k) @ (k x n) product in a graph loop (best of 5), loop cost included.

    Each product feeds one element into a running scalar, so none can be pruned and no
    large addition is timed along with it.
    """
    import tensorflow as tf

    a = tf.random.stateless_normal((m, k), seed=(1, 2))
    b = tf.random.stateless_normal((k, n), seed=(3, 4))

    @tf.function
    def loop(count):
        total = tf.constant(0.0)
        for _ in tf.range(count):
            total += tf.matmul(a, b)[0, 0]
        return total

    loop(tf.constant(2)).numpy()
    count = max(2, int(target_seconds / max(_best_seconds(lambda: loop(tf.constant(4)).numpy(), 2) / 4, 1e-7)))
    return _best_seconds(lambda: loop(tf.constant(count)).numpy()) / count


def measure_gemm(train_size: int, validation_size: int, evaluation_batch: int, shapes: list[list[int]],
                 target_seconds: float = 0.05) -> dict:
    """sgemm throughput on this CPU: a large product, and the exact products of one epoch.

    The loop around each product costs the same as around a 1x1x1 product, which is
    timed too and subtracted: what remains is the product's arithmetic. The 1x1x1 time
    itself is a measure of TensorFlow's fixed cost per operation.
    """
    large = 2048
    overhead = _matmul_seconds(1, 1, 1, target_seconds)

    def net(m, k, n):
        return max(_matmul_seconds(m, k, n, target_seconds) - overhead, 1e-9)

    large_seconds = net(large, large, large)
    step = training_step_products(shapes, BATCH_SIZE)
    products = [{"role": r, "shape": [m, k, n], "seconds": net(m, k, n)} for r, m, k, n in step]
    step_seconds = sum(p["seconds"] for p in products)
    step_flops = sum(2 * m * k * n for _, m, k, n in step)
    val_batch = max(1, min(evaluation_batch, validation_size))
    val_seconds = sum(net(val_batch, i, o) for i, o in shapes)
    steps = -(-train_size // BATCH_SIZE)
    full_batches, rest = divmod(validation_size, val_batch)
    epoch_gemm_seconds = steps * step_seconds + (full_batches + rest / val_batch) * val_seconds
    return {
        "loop_overhead_seconds": overhead,
        "large_matmul": {"shape": [large, large, large], "gflops": 2 * large**3 / large_seconds / 1e9},
        "batch32_step": {"products": products, "seconds": step_seconds, "gflops": step_flops / step_seconds / 1e9},
        "validation_batch": {"batch": val_batch, "seconds": val_seconds},
        "epoch_gemm_seconds": epoch_gemm_seconds,
    }


def measure_breakdown(model_name: str, train_size: int, validation_size: int, seed: int) -> dict:
    """Where one epoch of the project path goes: the training epoch and the validation pass, each alone.

    Each is timed twice: the training epoch as train runs it and with XLA left out (the
    same steps as a plain TensorFlow graph); the validation pass as train runs it
    (snippets.training.Evaluation) and with Keras' model.evaluate.
    """
    from snippets import training
    from snippets.data import as_float_images
    from snippets.models import notebook_model

    (x_u8, y), (xv_u8, yv) = _load_split(train_size, validation_size)
    x, xv = as_float_images(x_u8), as_float_images(xv_u8)
    order = training.epoch_orders(len(x), seed, 1)[0]
    seconds = {}
    for name, xla in (("training_epoch_seconds", True), ("training_epoch_no_xla_seconds", False)):
        training.seed_everything(seed)
        model = training.compile_like_notebook(notebook_model(batch_norm=model_name == "batchnorm"))
        run_epoch = training.EpochRunner(model, (x, y), BATCH_SIZE, xla=xla)
        run_epoch(order)  # traces and compiles
        seconds[name] = _best_seconds(lambda: run_epoch(order))
    evaluation_batch = training.EVALUATION_BATCH_SIZE
    validate = training.Evaluation(model, (xv, yv))
    validate()  # traces
    seconds["validation_seconds"] = _best_seconds(validate)
    model.evaluate(xv, yv, batch_size=evaluation_batch, verbose=0)
    seconds["validation_keras_evaluate_seconds"] = _best_seconds(
        lambda: model.evaluate(xv, yv, batch_size=evaluation_batch, verbose=0))
    return {**seconds, "evaluation_batch_size": evaluation_batch, "steps_per_epoch": -(-len(x) // BATCH_SIZE)}


def project_settings() -> dict:
    """Library versions, snippets.training's constants and the dense layers' shapes."""
    import keras
    import numpy as np
    import tensorflow as tf

    from snippets import training

    constants = {name: getattr(training, name) for name in dir(training)
                 if name.isupper() and isinstance(getattr(training, name), (int, float, bool, str))}
    return {
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__,
                     "keras": keras.__version__, "numpy": np.__version__},
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on in x86 Linux builds)"),
        "training_constants": constants,
        "dense_shapes": dense_shapes(),
    }


def worker(spec: dict) -> dict:
    kind = spec["kind"]
    if kind == "notebook":
        return train_notebook_way(spec["model"], spec["epochs"], spec["train_size"], spec["validation_size"])
    if kind in ("project", "variant"):
        variant = VARIANTS[spec["variant"]] if kind == "variant" else None
        return train_project_way(spec["model"], spec["epochs"], spec["train_size"], spec["validation_size"],
                                 spec["seed"], variant)
    if kind == "gemm":
        import tensorflow as tf

        if spec.get("threads"):
            tf.config.threading.set_intra_op_parallelism_threads(spec["threads"])
            tf.config.threading.set_inter_op_parallelism_threads(spec["threads"])
        return measure_gemm(spec["train_size"], spec["validation_size"], spec["evaluation_batch"], spec["shapes"],
                            spec["target_seconds"])
    if kind == "breakdown":
        from snippets.training import set_thread_pools

        set_thread_pools()  # the project path's measured settings, as train_project_way uses them
        return measure_breakdown(spec["model"], spec["train_size"], spec["validation_size"], spec["seed"])
    if kind == "settings":
        return project_settings()
    raise ValueError(f"unknown worker kind {kind!r}")


if __name__ == "__main__":
    spec, answer = sys.argv[1:]
    Path(answer).write_text(json.dumps(worker(json.loads(spec))))
