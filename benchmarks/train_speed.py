#!/usr/bin/env python
"""Training speed: the source notebook's code against the project's training path.

Both ways train the notebook's two MLPs (784-300-100-10, plain and with batch
normalization) on MNIST with the same math: SGD with learning rate 0.01, batch
size 32, one pass over the training images per epoch in a fresh order, the first
5,000 training images held out for validation after every epoch.

* notebook: the notebook's code as written (float64 ``X / 255`` arrays,
  ``model.fit(Xtr, ytr, validation_data=..., batch_size=32)``), unseeded.
* project: ``snippets.training.train`` (seeded, deterministic, float32 images
  kept in memory, one graph call per epoch, the training steps compiled by XLA in
  loops of many steps).

Every training run is a fresh Python process (so that its peak memory is its own
and no TensorFlow setting leaks from one way to the other); the two ways alternate
(notebook first in even repeats, project first in odd ones) so that a change in
the machine's load hits both. Per-epoch wall-clock seconds include the validation
pass, as in ``model.fit``; a run's seconds are the sum of its epochs, the first
(tracing and compiling) included. The script also times the dense layers' matrix
products on this CPU and reports how close each way comes to that bound.

Usage::

    python benchmarks/train_speed.py                    # the notebook's 15 epochs, 2 repeats, both models
    python benchmarks/train_speed.py --epochs 3 --repeats 3 --variants
    python benchmarks/train_speed.py --train-size 2000 --epochs 2   # a smoke test
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from snippets.cli import positive_int
from snippets.studies.flops import FLOP_FORMULA, dense_shapes, epoch_flops, training_step_products
from snippets.studies.performance import BENCHMARK_FILE, BENCHMARK_FORMAT, terminal_summary
from snippets.studies.results import DEFAULT_RESULTS_DIR, PROJECT_ROOT, cpu_model, git_commit, write_json_atomically

DEFAULT_OUTPUT = DEFAULT_RESULTS_DIR / BENCHMARK_FILE
MODELS = ("plain", "batchnorm")
WAYS = ("notebook", "project")
NOTEBOOK_TRAIN_IMAGES = 55_000
NOTEBOOK_VALIDATION_IMAGES = 5_000
BATCH_SIZE = 32
NOTEBOOK_EPOCHS = 15
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


# ---------------------------------------------------------------- workers (each runs in its own process)


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
    import keras

    class EpochClock(keras.callbacks.Callback):
        """Wall-clock and process CPU seconds of every epoch (training + validation)."""

        def __init__(self):
            super().__init__()
            self.wall, self.cpu = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self._wall, self._cpu = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.wall.append(time.perf_counter() - self._wall)
            self.cpu.append(time.process_time() - self._cpu)

    return EpochClock()


def _load_split(train_size: int, validation_size: int):
    """The notebook's split of MNIST's training set, as uint8: (Xtr, ytr), (Xval, yval)."""
    from snippets.data import load_mnist

    (x, y), _ = load_mnist()
    x_val, y_val = x[:NOTEBOOK_VALIDATION_IMAGES][:validation_size], y[:NOTEBOOK_VALIDATION_IMAGES][:validation_size]
    x_train, y_train = x[NOTEBOOK_VALIDATION_IMAGES:][:train_size], y[NOTEBOOK_VALIDATION_IMAGES:][:train_size]
    return (x_train, y_train), (x_val, y_val)


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
#: "threads" ([intra, inter] op threads; 0 = TensorFlow's default), "constants" (module
#: constants of snippets.training), "env" (the worker's environment), "determinism": False
#: (op determinism left off), "fit": True (Keras' fit instead of train, fed by snippets.pipeline.shuffled_batches; one
#: thread per op is fit's best setting here).
VARIANTS = {
    "keras-fit": {"fit": True, "threads": [1, 1],
                  "label": "Keras fit: tf.data pipeline, steps_per_execution 256, one thread per op, no XLA"},
    "no-xla": {"constants": {"USE_XLA": False}, "label": "steps as a plain TensorFlow graph, no XLA"},
    "one-thread": {"threads": [1, 1], "label": "one thread per op"},
    "default-threads": {"threads": [0, 0], "label": "TensorFlow's default thread pools"},
    "steps-per-call-1": {"constants": {"STEPS_PER_CALL": 1}, "label": "one step per XLA program"},
    "steps-per-call-64": {"constants": {"STEPS_PER_CALL": 64}, "label": "64 steps per XLA program"},
    "no-determinism": {"determinism": False, "label": "op determinism off"},
    "onednn-off": {"env": {"TF_ENABLE_ONEDNN_OPTS": "0"}, "label": "oneDNN off (TF_ENABLE_ONEDNN_OPTS=0)"},
}
DEFAULT_VARIANTS = ("keras-fit", "no-xla", "one-thread", "steps-per-call-1", "steps-per-call-64")


def train_project_way(model_name: str, epochs: int, train_size: int, validation_size: int, seed: int,
                      variant: dict | None = None) -> dict:
    """snippets.training as the studies use it: seed, build, compile, train (optionally one setting changed)."""
    variant = variant or {}
    import tensorflow as tf

    from snippets import training  # sets its thread pools: no TensorFlow op has run in this process yet
    from snippets.data import as_float_images
    from snippets.models import notebook_model
    from snippets.pipeline import shuffled_batches

    if "threads" in variant:  # still possible: TensorFlow starts its pools at the first op
        tf.config.threading.set_intra_op_parallelism_threads(variant["threads"][0])
        tf.config.threading.set_inter_op_parallelism_threads(variant["threads"][1])
    for name, value in variant.get("constants", {}).items():
        if not hasattr(training, name):
            raise AttributeError(f"snippets.training has no constant {name}")
        setattr(training, name, value)

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
        history = training.train(model, train_data, validation_data, seed=seed, epochs=epochs, callbacks=[clock])
    return {
        "epoch_seconds": clock.wall,
        "epoch_cpu_seconds": clock.cpu,
        "total_seconds": time.perf_counter() - start_wall,
        "history": {k: [float(v) for v in history[k]] for k in HISTORY_KEYS},
        "rss_before_training_kib": rss_before,
        "peak_rss_kib": _peak_rss_kib(),
        "input_dtype": "float32",
        "training_loop": "keras fit" if variant.get("fit") else "snippets.training.train",
        "xla": not variant.get("fit") and training.compiles_with_xla(model),
        "steps_per_call": int(model.steps_per_execution) if variant.get("fit") else training.STEPS_PER_CALL,
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
        training.USE_XLA = xla
        training.seed_everything(seed)
        model = training.compile_like_notebook(notebook_model(batch_norm=model_name == "batchnorm"))
        run_epoch = training.EpochRunner(model, (x, y), BATCH_SIZE)
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
        return measure_breakdown(spec["model"], spec["train_size"], spec["validation_size"], spec["seed"])
    if kind == "settings":
        return project_settings()
    raise ValueError(f"unknown worker kind {kind!r}")


def run_worker(spec: dict, say=print) -> dict:
    """Run one worker in a fresh Python process and return its JSON answer."""
    with tempfile.TemporaryDirectory() as scratch:
        answer = Path(scratch) / "answer.json"
        variant = VARIANTS.get(spec.get("variant"), {}) if spec["kind"] == "variant" else {}
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
                   PYTHONWARNINGS="ignore", **variant.get("env", {}))
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec), "--answer", str(answer)]
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=PROJECT_ROOT)
        if result.returncode != 0 or not answer.exists():
            raise RuntimeError(f"worker {spec} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
        payload = json.loads(answer.read_text())
        payload["process_seconds"] = time.perf_counter() - start
        label = spec.get("variant") or spec["kind"]
        epochs = payload.get("epoch_seconds")
        detail = f" epochs {' '.join(f'{e:.2f}' for e in epochs)} s" if epochs else ""
        say(f"  {label:16s} {spec.get('model', ''):9s} process {payload['process_seconds']:5.1f} s{detail}  "
            f"(load {_load()[0] if _load() else '?'})")
        return payload


# ---------------------------------------------------------------- summary


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _timing(runs: list[dict]) -> dict:
    """Medians over repeats: epochs after the first, the first epoch, CPU time, memory."""
    return {
        "runs": len(runs),
        "epoch_seconds_median": _median([s for r in runs for s in r["epoch_seconds"][1:]]),
        # other work on the machine only ever adds time: the fastest epoch is the least disturbed one
        "epoch_seconds_min": min([s for r in runs for s in r["epoch_seconds"][1:]], default=None),
        "first_epoch_seconds_median": _median([r["epoch_seconds"][0] for r in runs]),
        "epoch_cpu_seconds_median": _median([s for r in runs for s in r["epoch_cpu_seconds"][1:]]),
        "epoch_seconds_all": [r["epoch_seconds"] for r in runs],
        "peak_rss_mib": max(r["peak_rss_kib"] for r in runs) / 1024,
        "rss_before_training_mib": max(r["rss_before_training_kib"] for r in runs) / 1024,
        "run_seconds_median": _median([sum(r["epoch_seconds"]) for r in runs]),
        "epochs": len(runs[0]["epoch_seconds"]),
        "op_threads": runs[0].get("op_threads"),
        "training_loop": runs[0]["training_loop"],
        "xla": runs[0]["xla"],
        "steps_per_call": runs[0]["steps_per_call"],
    }


def _ratio(a, b):
    return a / b if a and b else None


def summarize(runs: list[dict], bound: dict) -> dict:
    """Per model: both ways' medians, the ratio notebook/project, bound fractions, result checks, variants."""
    summary = {}
    for model in [m for m in MODELS if any(r["model"] == m for r in runs)]:
        entry = {}
        for way in WAYS:
            mine = [r for r in runs if r["model"] == model and r["way"] == way]
            if not mine:
                continue
            timing = _timing(mine)
            epoch = timing["epoch_seconds_median"]
            entry[way] = {
                **timing,
                "final_val_accuracy": [r["history"]["val_accuracy"][-1] for r in mine],
                "val_accuracy_by_epoch": [r["history"]["val_accuracy"] for r in mine],
                "bound_fraction": _ratio(bound["epoch_seconds"], epoch),
                "peak_bound_fraction": _ratio(bound["peak_seconds"], epoch),
                "input_dtype": mine[0]["input_dtype"],
            }
        if "notebook" in entry and "project" in entry:
            nb, pr = entry["notebook"], entry["project"]
            entry["speedup"] = _ratio(nb["epoch_seconds_median"], pr["epoch_seconds_median"])
            entry["run_speedup"] = _ratio(nb["run_seconds_median"], pr["run_seconds_median"])
            entry["fastest_epoch_speedup"] = _ratio(nb["epoch_seconds_min"], pr["epoch_seconds_min"])
            entry["first_epoch_speedup"] = _ratio(nb["first_epoch_seconds_median"], pr["first_epoch_seconds_median"])
            entry["cpu_speedup"] = _ratio(nb["epoch_cpu_seconds_median"], pr["epoch_cpu_seconds_median"])
        project_runs = [r for r in runs if r["model"] == model and r["way"] == "project"]
        reference = project_runs[0]["history"] if project_runs else None
        entry["project_deterministic"] = (all(r["history"] == reference for r in project_runs[1:])
                                          if len(project_runs) >= 2 else None)
        variants = {}
        for name in VARIANTS:
            mine = [r for r in runs if r["model"] == model and r["way"] == "variant" and r["variant"] == name]
            if not mine:
                continue
            timing = _timing(mine)
            variants[name] = {
                **timing,
                "label": VARIANTS[name]["label"],
                "relative_to_project": _ratio(timing["epoch_seconds_median"],
                                              entry.get("project", {}).get("epoch_seconds_median")),
                "first_epoch_relative_to_project": _ratio(timing["first_epoch_seconds_median"],
                                                          entry.get("project", {}).get("first_epoch_seconds_median")),
                "same_history_as_project": (all(r["history"] == reference for r in mine)
                                            if reference is not None else None),
                "final_val_accuracy": [r["history"]["val_accuracy"][-1] for r in mine],
                "deterministic": all(r["history"] == mine[0]["history"] for r in mine[1:]) if len(mine) > 1 else None,
            }
        if variants:
            entry["variants"] = variants
        summary[model] = entry
    return summary


# ---------------------------------------------------------------- provenance


def machine_info() -> dict:
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": memory,
        "system": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
    }


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# ---------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/train_speed.py",
        description="Time the notebook's training code against the project's training path (snippets.training) "
        "on the notebook's two MLPs, alternating the two ways; time variants of the project path that change one "
        "setting each; and compare everything with the time the dense layers' matrix products take on this CPU.",
        epilog="Each training run is a separate Python process. Per-epoch figures are medians over every epoch "
        "after the first (the first includes tracing and compilation and is reported on its own); a run's seconds "
        "are the sum of all its epochs. Variants: "
        + "; ".join(f"{name}: {v['label']}" for name, v in VARIANTS.items()) + ".",
    )
    parser.add_argument("--epochs", type=positive_int, default=NOTEBOOK_EPOCHS,
                        help="epochs per training run (default %(default)s, as in the notebook)")
    parser.add_argument("--repeats", type=positive_int, default=2,
                        help="training runs per model and way (default %(default)s; 2 or more also checks that "
                        "the project path repeats its history exactly)")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS),
                        help="which of the notebook's models to train (default: both)")
    parser.add_argument("--variants", nargs="*", choices=list(VARIANTS), default=list(DEFAULT_VARIANTS),
                        metavar="VARIANT", help="variants of the project path to time as well (default: "
                        f"{' '.join(DEFAULT_VARIANTS)}; none: --variants with no names)")
    parser.add_argument("--train-size", type=positive_int, default=NOTEBOOK_TRAIN_IMAGES,
                        help="training images, the first N of the notebook's 55,000 (default %(default)s)")
    parser.add_argument("--validation-size", type=positive_int, default=NOTEBOOK_VALIDATION_IMAGES,
                        help="validation images, the first N of the notebook's 5,000 (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the project path (default %(default)s)")
    parser.add_argument("--gemm-seconds", type=float, default=0.05,
                        help="seconds of each timed matrix-product loop (best of 5; default %(default)s)")
    parser.add_argument("--no-breakdown", action="store_true",
                        help="skip timing the project path's pieces (training epoch with and without XLA, validation)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help="JSON file for every figure (default: results/benchmark/train_speed.json)")
    parser.add_argument("--quiet", action="store_true", help="print only the final report")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--answer", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker:
        payload = worker(json.loads(args.worker))
        args.answer.write_text(json.dumps(payload))
        return 0

    train_size = min(args.train_size, NOTEBOOK_TRAIN_IMAGES)
    validation_size = min(args.validation_size, NOTEBOOK_VALIDATION_IMAGES)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    started = _dt.datetime.now(_dt.timezone.utc)
    load_start = _load()
    say(f"train_speed: {args.epochs} epochs x {args.repeats} repeats, models {' '.join(args.models)}, "
        f"{train_size} training images, variants: {' '.join(args.variants) or 'none'}")
    settings = run_worker({"kind": "settings"}, say)
    evaluation_batch = int(settings["training_constants"].get("EVALUATION_BATCH_SIZE", 1024))
    shapes = settings["dense_shapes"]
    common = {"train_size": train_size, "validation_size": validation_size}
    timing = {"evaluation_batch": evaluation_batch, "shapes": shapes, "target_seconds": args.gemm_seconds}

    def measure_both(when):
        say(f"sgemm throughput {when} (TensorFlow's default threads, then one thread per op)")
        return {"default threads": run_worker({"kind": "gemm", "threads": 0, **timing, **common}, say),
                "one thread": run_worker({"kind": "gemm", "threads": 1, **timing, **common}, say)}

    gemm_runs = [measure_both("before the training runs")]
    say("training runs (alternating)")
    runs = []
    for repeat in range(args.repeats):
        for model in args.models:
            jobs = [("notebook", None), ("project", None)] + [("variant", v) for v in args.variants]
            for way, variant in (jobs if repeat % 2 == 0 else jobs[::-1]):
                spec = {"kind": way, "model": model, "epochs": args.epochs, "seed": args.seed, **common}
                if variant:
                    spec["variant"] = variant
                run = run_worker(spec, say)
                runs.append({"way": way, "variant": variant, "model": model, "repeat": repeat, **run})
    breakdown = {}
    if not args.no_breakdown:
        say("the project path's pieces, each alone")
        for model in args.models:
            breakdown[model] = run_worker({"kind": "breakdown", "model": model, "seed": args.seed, **common}, say)
    gemm_runs.append(measure_both("after the training runs"))
    # Other work on the machine can only slow a measurement down: keep the faster of the two.
    gemm = {setting: min((run[setting] for run in gemm_runs), key=lambda g: g["epoch_gemm_seconds"])
            for setting in gemm_runs[0]}
    flops = epoch_flops(train_size, validation_size, shapes)
    bound = {
        "flop_formula": FLOP_FORMULA,
        "dense_shapes": shapes,
        "flops": flops,
        "gemm": gemm,
        "gemm_measurements": gemm_runs,
        "epoch_seconds": min(g["epoch_gemm_seconds"] for g in gemm.values()),
        "peak_seconds": flops["total"] / (max(g["large_matmul"]["gflops"] for g in gemm.values()) * 1e9),
    }
    result = {
        "format": BENCHMARK_FORMAT,
        "date": started.isoformat(timespec="seconds"),
        "duration_seconds": (_dt.datetime.now(_dt.timezone.utc) - started).total_seconds(),
        "git_commit": git_commit(paths=("snippets", "benchmarks")),
        "command": " ".join(["python benchmarks/train_speed.py", *(argv if argv is not None else sys.argv[1:])]).strip(),
        "machine": machine_info(),
        "load_average": {"start": load_start, "end": _load()},
        "versions": settings["versions"],
        "onednn": settings["onednn"],
        "project_training_constants": settings["training_constants"],
        "config": {
            "epochs": args.epochs, "repeats": args.repeats, "models": args.models, "variants": args.variants,
            "train_size": train_size, "validation_size": validation_size, "batch_size": BATCH_SIZE,
            "learning_rate": 0.01, "seed": args.seed, "steps_per_epoch": -(-train_size // BATCH_SIZE),
            "progress_display": "off (verbose=0) in both ways", "notebook_seeded": False,
        },
        "memory_measure": "peak resident set size of each run's own process (resource.getrusage ru_maxrss: "
        "Python, TensorFlow and the data included)",
        "bound": bound,
        "runs": runs,
        "breakdown": breakdown,
    }
    result["summary"] = summarize(runs, bound)
    write_json_atomically(args.output, result)
    print(terminal_summary(result))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
