"""The command line: clear refusals, real runs, resumable studies."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from snippets.studies.results import REQUIRED_FIELDS, read_results
from tests.conftest import ROOT, SMOKE, run_cli


def test_help_documents_every_command():
    done = run_cli("--help")
    assert done.returncode == 0
    for command in ("data", "study", "merge", "report", "check-site"):
        assert command in done.stdout
    study_help = run_cli("study", "--help").stdout
    for option in ("--seeds", "--only", "--epochs", "--train-size", "--results", "--force",
                   "--executor", "--workers", "--scheduler", "--shard"):
        assert option in study_help
    assert "batchnorm_hidden" in study_help and "early_stopping" in study_help  # the valid configurations


@pytest.mark.parametrize(
    "args, expected",
    [
        (["study", "mnist"], "invalid choice: 'mnist' (choose from 'notebook', 'regularizers', 'sweeps', 'all')"),
        (["study", "notebook", "--epochs", "0"], "expected a positive whole number, got 0"),
        (["study", "notebook", "--seeds", "-2"], "expected a positive whole number, got -2"),
        (["study", "notebook", "--seeds", "three"], "expected a positive whole number, got 'three'"),
        (["study", "notebook", "--only", "dropout"], "choose from plain, batchnorm, batchnorm_hidden"),
        (["study", "all", "--only", "plain"], "--only needs a single study"),
        (["study", "notebook", "--fast"], "unrecognized arguments: --fast"),
        (["train"], "invalid choice: 'train'"),
        (["data", "download"], "invalid choice: 'download' (choose from 'fetch', 'verify')"),
    ],
)
def test_bad_arguments_exit_2_with_the_valid_choices(args, expected):
    done = run_cli(*args)
    assert done.returncode == 2
    assert expected in done.stderr, done.stderr


def test_data_verify():
    done = run_cli("data", "verify")
    assert done.returncode == 0 and "MNIST verified" in done.stdout


def test_data_verify_reports_a_missing_folder(tmp_path):
    done = run_cli("data", "verify", "--dir", str(tmp_path / "nowhere"))
    assert done.returncode == 1
    assert "MNIST file missing" in done.stderr and "python -m snippets data fetch" in done.stderr
    assert "Traceback" not in done.stderr


def test_one_epoch_run_writes_a_valid_results_file(tmp_path):
    # In this process: the executors have tests of their own (test_studies.py).
    args = ("study", "notebook", "--only", "plain", "--seeds", "1", "--executor", "in-process", "--epochs", "1",
            "--train-size", "300")
    done = run_cli(*args, "--results", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "[1/1] notebook/plain seed 0" in done.stdout
    run = read_results(tmp_path / "notebook" / "plain" / "seed-0.json")
    assert set(REQUIRED_FIELDS) <= set(run)
    assert run["config"]["epochs"] == 1 and run["config"]["train_size"] == 300 and run["seed"] == 0
    for metric in ("loss", "accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy", "seconds"):
        assert len(run["history"][metric]) == 1
    assert set(run["final"]) == {f"{s}_{m}" for s in ("train", "val", "test") for m in ("loss", "accuracy")}
    assert {"tensorflow", "keras", "numpy"} <= set(run["versions"]) and run["commit"] and run["wall_seconds"] > 0
    assert not list(tmp_path.rglob("*.tmp"))

    again = run_cli(*args, "--results", str(tmp_path))  # unchanged experiment: not rerun
    assert again.returncode == 0 and "already done" in again.stdout and "0 run(s) trained, 1 reused" in again.stdout
    changed = run_cli(*args[:-1], "301", "--results", str(tmp_path))  # changed experiment: rerun
    assert "1 run(s) trained, 0 reused" in changed.stdout


def test_interrupted_study_keeps_finished_runs_and_resumes(tmp_path):
    """SIGTERM in the middle of a real study: finished runs stay, nothing half-written, rerun completes."""
    seeds = 8  # more than the pool's workers run at once, so that the signal lands mid-study
    args = [sys.executable, "-m", "snippets", "study", "notebook", "--only", "plain", "--seeds", str(seeds),
            "--epochs", "1", "--train-size", "300", "--results", str(tmp_path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    folder = tmp_path / "notebook" / "plain"
    deadline = time.time() + 300
    while not (folder / "seed-0.json").exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    time.sleep(0.5)  # into the next run's training
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-4000:]
    assert "interrupted" in err and "Run the same command again to resume" in err
    kept = sorted(folder.glob("seed-*.json"))
    assert 0 < len(kept) < seeds
    for path in kept:
        read_results(path)  # every kept file is complete and valid
    assert not list(tmp_path.rglob("*.tmp"))

    resumed = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"{seeds - len(kept)} run(s) trained, {len(kept)} reused" in resumed.stdout
    assert len(list(folder.glob("seed-*.json"))) == seeds


def test_smoke_study_covers_every_configuration(smoke_results):
    from snippets.studies.configs import STUDIES
    from snippets.studies.selection import sweep_configs

    every = {study: list(configs) for study, configs in STUDIES.items()}
    every["sweeps"] = list(sweep_configs(smoke_results))
    assert len(every["sweeps"]) == 28
    for study, configs in every.items():
        for config in configs:
            for seed in (0, 1):
                run = read_results(smoke_results / study / config.name / f"seed-{seed}.json")
                assert run["epochs_run"] == 1
                # --train-size 400 applies everywhere but to the training-set size sweep, whose knob it is.
                size = run["config"]["train_size"]
                assert size == (config.train_size if config.name.startswith("train_size-") else 400), config.name


def test_a_run_on_noisy_labels_measures_how_many_wrong_labels_it_reproduces(tmp_path):
    from snippets.data import corrupt_labels, notebook_subsets

    args = ("study", "regularizers", "--only", "none", "--seeds", "1", "--executor", "in-process", "--epochs", "2",
            "--train-size", "300", "--results", str(tmp_path))
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    run = read_results(tmp_path / "regularizers" / "none" / "seed-0.json")
    share = run["final"]["wrong_labels_reproduced"]
    (_, clean), _, _ = notebook_subsets(300)
    wrong = int((corrupt_labels(clean, run["config"]["label_noise"], seed=0) != clean).sum())
    assert wrong == 60  # a fifth of 300
    assert 0 <= share <= 1 and abs(share * wrong - round(share * wrong)) < 1e-4  # a count of those 60 images
