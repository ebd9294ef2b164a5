#!/usr/bin/env python
"""Study throughput: runs per minute in this process, on a pool of one and of two workers.

The same study subset runs three ways, one after another, each into a fresh
results folder through the command line a user types (``python -m snippets study``),
so every figure includes what a user waits for: start-up, data loading, compiling,
training and writing the results files. The ways differ only in the executor;
the script checks that they wrote the same numbers, and reports

* runs per minute for each way, and the ratio of each to in-process;
* the first epoch's seconds of a configuration's first run against its later runs
  in this process: what compiling the training program once per configuration
  (not once per run) saves on every later run.

Usage::

    python benchmarks/study_throughput.py                       # the default subset, 3 ways
    python benchmarks/study_throughput.py --seeds 2 --epochs 5  # quicker
    python benchmarks/study_throughput.py --ways in-process pool-2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from snippets.cli import positive_int
from snippets.studies.results import DEFAULT_RESULTS_DIR, cpu_model, read_results, write_json_atomically

WAYS = {"in-process": ["--executor", "in-process"], "pool-1": ["--workers", "1"], "pool-2": ["--workers", "2"]}
#: What a run computed (its key names its inputs); the timings and provenance may differ.
NUMBERS = ("key", "epochs_run", "parameters", "final")


def run_way(options: list[str], study: list[str], folder: Path) -> float:
    """Wall-clock seconds of one ``python -m snippets study`` into ``folder``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "snippets", "study", *study, *options, "--results", str(folder)],
                          capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the study failed ({' '.join(options)}):\n{done.stderr[-3000:]}")
    return seconds


def numbers(folder: Path) -> dict[str, dict]:
    """Each run's numbers: what must be equal across executors."""
    out = {}
    for path in sorted(folder.rglob("seed-*.json")):
        run = read_results(path)
        out[str(path.relative_to(folder))] = {
            **{name: run[name] for name in NUMBERS},
            "history": {name: values for name, values in run["history"].items() if name != "seconds"},
        }
    return out


def compile_saving(folder: Path) -> dict:
    """First-epoch seconds of each configuration's first run (compiles) and of its later runs (reuse)."""
    first, later = [], []
    for config in sorted({p.parent for p in folder.rglob("seed-*.json")}):
        runs = sorted((read_results(p) for p in config.glob("seed-*.json")), key=lambda r: r["seed"])
        first.append(runs[0]["history"]["seconds"][0])
        later += [r["history"]["seconds"][0] for r in runs[1:]]
    return {"first_run_first_epoch_seconds": statistics.median(first),
            "later_runs_first_epoch_seconds": statistics.median(later) if later else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/study_throughput.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", default="regularizers", help="study (default %(default)s)")
    parser.add_argument("--only", nargs="+", default=["none", "dropout", "batch_norm"], help="configurations")
    parser.add_argument("--seeds", type=positive_int, default=4, help="seeds per configuration (default %(default)s)")
    parser.add_argument("--epochs", type=positive_int, help="override the configurations' epochs")
    parser.add_argument("--ways", nargs="+", choices=list(WAYS), default=list(WAYS), help="executors to time")
    parser.add_argument("--output", type=Path, default=DEFAULT_RESULTS_DIR / "benchmark" / "study_throughput.json")
    args = parser.parse_args(argv)
    study = [args.study, "--only", *args.only, "--seeds", str(args.seeds)]
    if args.epochs:
        study += ["--epochs", str(args.epochs)]
    runs = len(args.only) * args.seeds

    seconds, results = {}, {}
    with tempfile.TemporaryDirectory(prefix="throughput-") as scratch:
        for way in args.ways:
            folder = Path(scratch) / way
            seconds[way] = run_way(WAYS[way], study, folder)
            results[way] = numbers(folder)
            print(f"{way:10s} {runs} runs in {seconds[way]:6.1f} s: {60 * runs / seconds[way]:5.2f} runs/min", flush=True)
        saving = compile_saving(Path(scratch) / "in-process") if "in-process" in args.ways else None
    reference = results[args.ways[0]]
    same = all(results[way] == reference for way in args.ways)

    baseline = args.ways[0]
    summary = {
        "format": "study-throughput/1",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpu": cpu_model(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "command": " ".join(["python benchmarks/study_throughput.py", *(argv if argv is not None else sys.argv[1:])]),
        "study": study,
        "runs": runs,
        "seconds": seconds,
        "runs_per_minute": {way: 60 * runs / s for way, s in seconds.items()},
        "ratio_to_" + baseline: {way: seconds[baseline] / s for way, s in seconds.items()},
        "same_numbers": same,
        "compile_once_per_configuration": saving,
    }
    write_json_atomically(args.output, summary)
    print()
    for way in args.ways:
        print(f"{way:10s} {summary['runs_per_minute'][way]:5.2f} runs/min, {seconds[baseline] / seconds[way]:4.2f}x {baseline}")
    if saving and saving["later_runs_first_epoch_seconds"] is not None:
        print(f"first epoch, in-process: {saving['first_run_first_epoch_seconds']:.2f} s for a configuration's first run "
              f"(compiles), {saving['later_runs_first_epoch_seconds']:.2f} s for its later runs (reuse the program)")
    print(f"same numbers on every way: {same}; written to {args.output}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
