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
from snippets.data import NOTEBOOK_VALIDATION_SIZE
from snippets.studies.flops import FLOP_FORMULA, epoch_flops
from snippets.studies.performance import BENCHMARK_FILE, BENCHMARK_FORMAT, terminal_summary
from snippets.studies.results import DEFAULT_RESULTS_DIR, PROJECT_ROOT, cpu_model, git_commit, write_json_atomically
from speed_workers import BATCH_SIZE, DEFAULT_VARIANTS, VARIANTS  # benchmarks/, this script's folder

WORKER_SCRIPT = Path(__file__).resolve().with_name("speed_workers.py")

DEFAULT_OUTPUT = DEFAULT_RESULTS_DIR / BENCHMARK_FILE
MODELS = ("plain", "batchnorm")
WAYS = ("notebook", "project")
NOTEBOOK_TRAIN_IMAGES = 55_000
NOTEBOOK_EPOCHS = 15


def run_worker(spec: dict, say=print) -> dict:
    """Run one worker in a fresh Python process and return its JSON answer."""
    with tempfile.TemporaryDirectory() as scratch:
        answer = Path(scratch) / "answer.json"
        variant = VARIANTS.get(spec.get("variant"), {}) if spec["kind"] == "variant" else {}
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
                   PYTHONWARNINGS="ignore", **variant.get("env", {}))
        command = [sys.executable, str(WORKER_SCRIPT), json.dumps(spec), str(answer)]
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
    parser.add_argument("--validation-size", type=positive_int, default=NOTEBOOK_VALIDATION_SIZE,
                        help="validation images, the first N of the notebook's 5,000 (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the project path (default %(default)s)")
    parser.add_argument("--gemm-seconds", type=float, default=0.05,
                        help="seconds of each timed matrix-product loop (best of 5; default %(default)s)")
    parser.add_argument("--no-breakdown", action="store_true",
                        help="skip timing the project path's pieces (training epoch with and without XLA, validation)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help="JSON file for every figure (default: results/benchmark/train_speed.json)")
    parser.add_argument("--quiet", action="store_true", help="print only the final report")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    train_size = min(args.train_size, NOTEBOOK_TRAIN_IMAGES)
    validation_size = min(args.validation_size, NOTEBOOK_VALIDATION_SIZE)
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
