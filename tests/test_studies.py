"""Studies at scale: the same numbers on every executor, faults, shards and merging.

The executors are real: a pool of spawned worker processes and a Dask
``LocalCluster`` started here, reached through its scheduler's address as a remote
cluster would be.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from snippets.studies.configs import study_configs
from snippets.studies.executors import DaskExecutor, InProcess
from snippets.studies.results import MergeError, compare_results, merge_results, read_results, write_json_atomically
from snippets.studies.study import Shard, plan_runs
from tests.conftest import run_cli

TINY = ["--seeds", "2", "--epochs", "2", "--train-size", "400"]
TINY_CONFIGS = ["none", "dropout-0.4", "early_stopping", "augmentation"]  # XLA, graph with random numbers, callbacks, augmentation
# What legitimately differs between two runs of the same inputs: the clock and the command line.
TIMING_FIELDS = {"wall_seconds", "finished", "command"}


def comparable(path: Path) -> dict:
    """A results file without its timings."""
    run = read_results(path)
    run = {name: value for name, value in run.items() if name not in TIMING_FIELDS}
    run["history"] = {name: values for name, values in run["history"].items() if name != "seconds"}
    return run


def results_of(folder: Path) -> dict[str, dict]:
    return {str(path.relative_to(folder)): comparable(path) for path in sorted(folder.rglob("seed-*.json"))}


@pytest.fixture(scope="module")
def local_cluster():
    """A real Dask cluster of two worker processes on this machine, as `dask scheduler` + `dask worker` make one."""
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    yield cluster
    cluster.close()


def test_every_executor_writes_the_same_results(tmp_path, local_cluster):
    """In this process, a pool of two workers and a Dask cluster: identical files, timings aside."""
    ways = {
        "in-process": ["--executor", "in-process"],
        "pool": ["--workers", "2"],
        "dask": ["--scheduler", local_cluster.scheduler_address],
    }
    outputs = {}
    for way, options in ways.items():
        done = run_cli("study", "regularizers", "--only", *TINY_CONFIGS, *TINY, *options,
                       "--results", str(tmp_path / way))
        assert done.returncode == 0, f"{way}: {done.stderr[-3000:]}"
        assert f"done: {2 * len(TINY_CONFIGS)} run(s) trained" in done.stdout, done.stdout
        outputs[way] = results_of(tmp_path / way)
    assert len(outputs["in-process"]) == 2 * len(TINY_CONFIGS)
    assert outputs["pool"] == outputs["in-process"]
    assert outputs["dask"] == outputs["in-process"]
    cpus = {run["cpu"] for runs in outputs.values() for run in runs.values()}
    assert len(cpus) == 1 and cpus != {""}


def test_a_later_run_of_a_configuration_equals_a_fresh_one(tmp_path):
    """A worker reuses a configuration's compiled program for its next seeds: same numbers as a fresh process."""
    script = (
        "import dataclasses, json, sys\n"
        "from snippets.studies.configs import study_configs\n"
        "from snippets.studies.runs import perform\n"
        "configs = study_configs('regularizers', ['none', 'batch_norm'])\n"
        "none = configs[0]\n"
        # Optimizer state beyond the step count (moving averages), a constraint, the mixup draws.
        "configs += [dataclasses.replace(none, name='averaging', weight_averaging=0.9),\n"
        "            dataclasses.replace(none, name='max_norm', model={'max_norm': 1.2}),\n"
        "            dataclasses.replace(none, name='mixup_smoothing', mixup_alpha=0.2, label_smoothing=0.1)]\n"
        "out = {}\n"
        "for config in configs:\n"
        "    config = config.with_overrides(epochs=2, train_size=400)\n"
        "    for seed in map(int, sys.argv[1:]):\n"
        "        run = perform(config, seed)\n"
        "        out[f'{config.name}-{seed}'] = [run['history']['loss'], run['final'], run['kernel_histogram']]\n"
        "print(json.dumps(out))\n"
    )
    def runs(*seeds):
        done = subprocess.run([sys.executable, "-c", script, *map(str, seeds)], capture_output=True, text=True,
                              timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    together, alone = runs(0, 1), runs(1)
    for name in ("none", "batch_norm", "averaging", "max_norm", "mixup_smoothing"):
        assert together[f"{name}-1"] == alone[f"{name}-1"], name
    assert together["none-0"] != together["none-1"]  # the second seed really started afresh
    # Each knob changes the run (averaging only the final weights: its training loss is the raw weights').
    assert len({json.dumps(together[f"{name}-1"]) for name in ("none", "averaging", "max_norm", "mixup_smoothing")}) == 4
    assert together["averaging-1"][1] != together["none-1"][1]


def test_kernel_histogram_counts_every_kernel_value_in_fixed_bins():
    import numpy as np

    from snippets.models import build_mlp
    from snippets.studies.runs import kernel_histogram

    model = build_mlp(seed=0)
    columns = np.where(np.arange(300) < 2, 5.0, 0.01).astype(np.float32)
    model.layers[1].kernel.assign(np.tile(columns, (784, 1)))  # two columns of 5.0, the rest 0.01
    histogram = kernel_histogram(model)
    assert histogram["edges"] == pytest.approx(list(np.linspace(-0.3, 0.3, 61)))
    assert len(histogram["counts"]) == 60 and all(type(c) is int for c in histogram["counts"])
    assert sum(histogram["counts"]) == 784 * 300 + 300 * 100 + 100 * 10  # kernels only, no biases
    assert histogram["counts"][-1] == 2 * 784  # values beyond 0.3 counted in the last bin
    assert histogram["counts"][30] >= 298 * 784  # float32 0.01 lies in the bin [0, 0.01)
    json.dumps(histogram)  # plain numbers, ready for the results file


def _times_ten(value: int, marker: str | None = None) -> int:
    """With a marker file name: a task whose worker is killed (SIGKILL) on its first attempt."""
    if marker and not os.path.exists(marker):
        Path(marker).write_text("killed once")
        os.kill(os.getpid(), signal.SIGKILL)
    return value * 10


def _always_dies(value: int) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return value


def _square(value: int) -> int:
    return value * value


def test_a_killed_worker_loses_only_its_task_which_is_retried_once(tmp_path):
    executor = DaskExecutor.local(2)
    try:
        tasks = [(1,), (2, str(tmp_path / "marker")), (3,), (4,)]
        outcomes = dict(executor.map_unordered(_times_ten, tasks))
        assert outcomes == {0: 10, 1: 20, 2: 30, 3: 40}  # the killed task was retried; the others never noticed
        assert (tmp_path / "marker").exists()  # it really was killed once
        again = dict(executor.map_unordered(_square, [(3,), (4,)]))
        assert again == {0: 9, 1: 16}  # the pool works on after its worker was replaced
        outcomes = dict(executor.map_unordered(_always_dies, [(5,)]))
        assert type(outcomes[0]).__name__ == "KilledWorker"  # killed twice: reported, not retried forever
    finally:
        executor.close()


def test_in_process_reports_a_failing_task_and_goes_on():
    outcomes = dict(InProcess().map_unordered(lambda x: 1 / x, [(0,), (2,)]))
    assert isinstance(outcomes[0], ZeroDivisionError) and outcomes[1] == 0.5


def test_an_unreachable_scheduler_is_a_clear_error_not_a_hang():
    done = run_cli("study", "notebook", "--seeds", "1", "--scheduler", "tcp://127.0.0.1:9", "--results", "/nonexistent")
    assert done.returncode == 1 and "cannot reach the Dask scheduler" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("args, expected", [
    (["--shard", "3/2"], "shard 3/2: I must be between 1 and N"),
    (["--shard", "half"], "a shard is I/N with whole numbers"),
    (["--workers", "2", "--executor", "in-process"], "--workers sets the size of the local pool"),
    (["--scheduler", "tcp://127.0.0.1:9", "--executor", "pool"], "--scheduler needs the dask executor"),
    (["--executor", "dask"], "needs --scheduler ADDRESS or $DASK_SCHEDULER_ADDRESS"),
])
def test_bad_executor_settings_are_refused(args, expected, tmp_path):
    env_free = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}

    done = subprocess.run([sys.executable, "-m", "snippets", "study", "notebook", *args, "--results", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, env=env_free)
    assert done.returncode in (1, 2) and expected in done.stderr, done.stderr


def test_shards_split_a_study_into_disjoint_parts_that_cover_it(tmp_path):
    configs = study_configs("regularizers")
    whole, _ = plan_runs(configs, range(5), tmp_path)
    parts = [plan_runs(configs, range(5), tmp_path, shard=Shard(i, 3))[0] for i in (1, 2, 3)]
    keys = [run.key for part in parts for run in part]
    assert sorted(keys) == sorted(run.key for run in whole) and len(set(keys)) == len(whole) == 5 * len(configs)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_each_study_runs_its_own_seeds_unless_told(tmp_path):
    from snippets.studies.configs import SEEDS

    configs = study_configs("notebook")[:1] + study_configs("regularizers")[:1]
    todo, _ = plan_runs(configs, None, tmp_path)
    assert [run.seed for run in todo] == [*range(SEEDS["notebook"]), *range(SEEDS["regularizers"])]
    todo, _ = plan_runs(configs, range(2), tmp_path)
    assert [run.seed for run in todo] == [0, 1, 0, 1]
    # The learning-rate sweep's points run more seeds than their study (configs.MORE_SEEDS).
    from snippets.studies.configs import REGULARIZER_STUDY, sweep_study

    swept = {c.name: c for c in sweep_study(REGULARIZER_STUDY[0])}
    todo, _ = plan_runs([swept["learning_rate-1-plain"], swept["width-16"]], None, tmp_path)
    assert [run.seed for run in todo] == [*range(10), *range(SEEDS["sweeps"])]


def _fake_run(folder: Path, name: str, seed: int, key: str, accuracy: float = 0.9, seconds: float = 1.0) -> Path:
    path = folder / "regularizers" / name / f"seed-{seed}.json"
    write_json_atomically(path, {"format": 1, "key": key, "config": {"name": name}, "seed": seed,
                                 "history": {"accuracy": [accuracy], "seconds": [seconds]},
                                 "final": {"test_accuracy": accuracy}, "versions": {}, "code": "c",
                                 "wall_seconds": seconds})
    return path


def test_merge_joins_shards_and_refuses_runs_made_from_different_inputs(tmp_path):
    one, two, into = tmp_path / "shard-1", tmp_path / "shard-2", tmp_path / "results"
    _fake_run(one, "none", 0, "k0")
    _fake_run(two, "none", 1, "k1")
    _fake_run(two, "none", 0, "k0")  # the same run in both shards: fine
    assert merge_results([one, two], into) == (2, 1)
    assert read_results(into / "regularizers" / "none" / "seed-1.json")["key"] == "k1"
    assert stat.S_IMODE((into / "regularizers" / "none" / "seed-1.json").stat().st_mode) == 0o644

    _fake_run(two, "dropout", 0, "new")
    _fake_run(one, "dropout", 0, "old")
    with pytest.raises(MergeError, match="dropout/seed-0.json: key new in .*shard-2 but old in .*shard-1"):
        merge_results([one, two], into)
    assert not (into / "regularizers" / "dropout").exists()  # nothing written when a key differs

    done = run_cli("merge", str(one), str(two), "--into", str(into))
    assert done.returncode == 1 and "refusing to merge" in done.stderr and "Traceback" not in done.stderr


def test_compare_tells_a_change_of_form_from_a_change_of_numbers(tmp_path):
    before, after = tmp_path / "before", tmp_path / "after"
    _fake_run(before, "none", 0, "k0")
    _fake_run(after, "none", 0, "k0", seconds=2.0)  # same inputs: the same key
    _fake_run(before, "dropout", 0, "old")
    _fake_run(after, "dropout", 0, "new", seconds=3.0)  # other code, same numbers, other timings
    assert compare_results(before, after) == {"same key": ["regularizers/none/seed-0.json"],
                                              "new key, same numbers": ["regularizers/dropout/seed-0.json"],
                                              "new key, other numbers": [], "in one folder only": []}
    assert run_cli("compare", str(before), str(after)).returncode == 0

    _fake_run(after, "dropout", 1, "new")
    _fake_run(before, "l2", 0, "old", accuracy=0.9)
    _fake_run(after, "l2", 0, "new", accuracy=0.9 + 1e-7)
    outcome = compare_results(before, after)
    assert outcome["new key, other numbers"] == ["regularizers/l2/seed-0.json"]
    assert outcome["in one folder only"] == ["regularizers/dropout/seed-1.json"]
    done = run_cli("compare", str(before), str(after))
    assert done.returncode == 1 and "regularizers/l2/seed-0.json" in done.stdout
    missing = run_cli("compare", str(tmp_path / "nowhere"), str(after))
    assert missing.returncode == 1 and "no such results folder" in missing.stderr and "Traceback" not in missing.stderr


def test_results_files_are_readable_by_others(tmp_path):
    path = tmp_path / "a" / "run.json"
    write_json_atomically(path, {"x": 1})
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_the_command_line_prints_no_tensorflow_start_up_lines(tmp_path):
    """Neither the command's process nor its pool's workers print TensorFlow's start-up lines."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it
    done = subprocess.run([sys.executable, "-m", "snippets", "study", "regularizers", "--only", "none", "--seeds", "1",
                           "--epochs", "1", "--train-size", "200", "--workers", "1", "--results", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    for noise in ("cuInit", "cuda drivers", "absl::InitializeLog", "oneDNN custom operations"):
        assert noise not in done.stderr + done.stdout


CODE_SOURCE = '''"""A module."""

import math


class Model:
    """A model."""

    def fit(self, epochs=3):
        """Fit."""
        return math.floor(epochs * 0.5)


async def fetch():
    """Fetch."""
    return 1
'''


def test_the_code_form_ignores_comments_docstrings_and_layout():
    from snippets.code_form import code_form

    original = code_form(CODE_SOURCE)
    commented = CODE_SOURCE.replace("import math\n", "import math  # for floor\n# a note\n\n")
    documented = (CODE_SOURCE.replace('"""A module."""', '"""Another text."""')
                  .replace('"""A model."""', '"""A model,\n    on two lines."""')
                  .replace('"""Fit."""', "'Fit it.'").replace('"""Fetch."""', '"""Fetch it."""'))
    reformatted = CODE_SOURCE.replace("math.floor(epochs * 0.5)", "math.floor(\n            epochs * 0.5\n        )")
    for edited in (commented, documented, reformatted):
        assert code_form(edited) == original
    # A changed number or an added statement is other code.
    assert code_form(CODE_SOURCE.replace("0.5", "0.25")) != original
    assert code_form(CODE_SOURCE.replace("    return 1\n", "    print(1)\n    return 1\n")) != original


def test_the_code_fingerprint_keeps_when_only_a_comment_changes(tmp_path):
    from snippets.studies.results import CODE_MODULES, PACKAGE, code_fingerprint

    def copy_with(folder: Path, addition: str) -> Path:
        """The code modules copied into ``folder``, training.py with ``addition`` at its end."""
        for name in CODE_MODULES:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text((PACKAGE / name).read_text() + (addition if name == "training.py" else ""))
        return folder

    assert code_fingerprint(copy_with(tmp_path / "commented", "\n# a new comment\n")) == code_fingerprint()
    assert code_fingerprint(copy_with(tmp_path / "changed", "\nEXTRA = 1\n")) != code_fingerprint()


def test_a_full_disk_stops_the_study_saying_what_is_saved_and_how_to_resume(monkeypatch, tmp_path):
    from snippets.studies import study
    from snippets.studies.results import code_fingerprint, library_versions

    def fake_perform(config, seed):  # an outcome without training
        return {"history": {"accuracy": [0.5]}, "final": {"train_accuracy": 0.5, "val_accuracy": 0.5,
                                                          "test_accuracy": 0.5},
                "epochs_run": 1, "wall_seconds": 1.0, "versions": library_versions(), "code": code_fingerprint()}

    writes, real_write = [], study.write_json_atomically

    def write_until_the_disk_is_full(path, payload):
        writes.append(path)
        if len(writes) == 2:
            raise OSError(28, "No space left on device")
        real_write(path, payload)

    monkeypatch.setattr(study, "perform", fake_perform)
    monkeypatch.setattr(study, "write_json_atomically", write_until_the_disk_is_full)
    with pytest.raises(study.ResultsWriteError) as raised:
        study.run_study(study_configs("regularizers")[:1], range(3), InProcess(), results_dir=tmp_path,
                        log=lambda line: None)
    message = str(raised.value)
    assert str(writes[1]) in message and "No space left on device" in message
    assert "1 run(s) of this invocation are saved" in message and "run the same command again to resume" in message
    assert len(list(tmp_path.rglob("seed-*.json"))) == 1


def test_the_cpu_is_recorded_with_its_instruction_set_and_any_pin(monkeypatch):
    from snippets.studies import results

    cpuinfo = {"model name": "Test CPU", "flags": "fpu sse2 avx avx2 fma avx512f avx512bw"}
    monkeypatch.setattr(results, "_cpuinfo", lambda field: cpuinfo.get(field, ""))
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert results.cpu_model() == "Test CPU, AVX-512"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # oneDNN alone: XLA still uses AVX-512
    assert results.cpu_model() == "Test CPU, AVX-512 (partly pinned: oneDNN AVX2, XLA unpinned)"
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=AVX2")
    assert results.cpu_model() == "Test CPU, AVX2 (pinned; the CPU has AVX-512)"
    cpuinfo["flags"] = "fpu sse2 avx avx2 fma"
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.delenv("XLA_FLAGS")
    assert results.cpu_model() == "Test CPU, AVX2"
