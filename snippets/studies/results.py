"""Results files and their provenance: one JSON file per run, written atomically.

A results file holds the run's per-epoch history, final train/validation/test
metrics, wall time, the full configuration, library versions, the git commit, the
CPU and a *key*: a hash of the configuration, the seed, the training code (its syntax
tree: comments and docstrings do not count) and the library versions. A finished run
whose key still matches is never rerun; a run made by other code is rerun. Files are
written to a temporary name and then renamed, so an interrupted study never leaves
half a file behind. ``load_study`` reads a study's folder back for the report,
checking each file against the study's configurations.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from snippets.code_form import code_form
from snippets.studies.configs import STUDIES, RunConfig

RESULTS_FORMAT = 1
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RESULTS_DIR = PROJECT_ROOT / "results"
PACKAGE = PROJECT_ROOT / "snippets"
# The modules whose code decides a run's numbers: a change in any of them reruns the studies.
# (Which executor ran a run does not: it is not part of the key.)
CODE_MODULES = ("data.py", "models.py", "training.py", "training_targets.py", "studies/runs.py")
REQUIRED_FIELDS = ("format", "key", "config", "seed", "history", "final", "versions", "code", "wall_seconds")


# ---------------------------------------------------------------- provenance


def library_versions() -> dict[str, str]:
    import keras
    import pandas
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "pandas": pandas.__version__,
    }


def code_fingerprint(package: Path = PACKAGE) -> str:
    """A hash of the code (``code_form``) of the modules that decide a run's numbers."""
    digest = hashlib.sha256()
    for name in CODE_MODULES:
        digest.update(name.encode())
        digest.update(code_form((Path(package) / name).read_text(encoding="utf-8")).encode())
    return digest.hexdigest()[:16]


def git_commit(paths: tuple[str, ...] = ("snippets",)) -> str:
    """The checkout's commit, with "+modified" when ``paths`` (the code that made the numbers)
    have uncommitted changes."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10
        )
        commit = result.stdout.strip() if result.returncode == 0 else ""
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", *paths], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        return (commit + ("+modified" if dirty else "")) or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cpuinfo(field: str) -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":", 1)[0].strip() == field:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


#: x86 vector instruction sets from the widest down, as /proc/cpuinfo, oneDNN and XLA name them.
VECTOR_SETS = (("avx512f", "AVX512_CORE", "AVX-512"), ("avx2", "AVX2", "AVX2"), ("avx", "AVX", "AVX"))


def instruction_sets() -> str:
    """The widest x86 vector instruction set this process computes with: the CPU's, or the
    one ``ONEDNN_MAX_CPU_ISA`` and XLA's ``--xla_cpu_max_isa`` pin both libraries to.

    Kernels round differently on different sets, so the same seed can give other numbers;
    "" on a CPU that is not x86.
    """
    flags = set(_cpuinfo("flags").split())
    widest = next((i for i, (flag, _, _) in enumerate(VECTOR_SETS) if flag in flags), None)
    if widest is None:
        return ""
    onednn = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    xla = next((f.split("=", 1)[1].upper() for f in os.environ.get("XLA_FLAGS", "").split()
                if f.startswith("--xla_cpu_max_isa=")), "")
    if not onednn and not xla:
        return VECTOR_SETS[widest][2]
    pinned = next((i for i, (_, name, _) in enumerate(VECTOR_SETS) if name == onednn == xla), None)
    if pinned is not None and pinned >= widest:
        return f"{VECTOR_SETS[pinned][2]} (pinned; the CPU has {VECTOR_SETS[widest][2]})"
    return f"{VECTOR_SETS[widest][2]} (partly pinned: oneDNN {onednn or 'unpinned'}, XLA {xla or 'unpinned'})"


def cpu_model() -> str:
    """The CPU's model name and the vector instruction set this process uses, e.g.
    ``AMD EPYC 7763 64-Core Processor, AVX2``: results files and the benchmark record it, and
    the report warns when a study's runs come from more than one."""
    name = _cpuinfo("model name") or platform.processor() or platform.machine()
    isa = instruction_sets()
    return f"{name}, {isa}" if isa else name


def run_key(config: RunConfig, seed: int, versions: dict[str, str], fingerprint: str) -> str:
    """Identifies a run's inputs: configuration, seed, code and library versions."""
    payload = json.dumps(
        {"config": dataclasses.asdict(config), "seed": seed, "versions": versions, "code": fingerprint},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


# ---------------------------------------------------------------- files


def results_path(results_dir: Path, config: RunConfig, seed: int) -> Path:
    return Path(results_dir) / config.study / config.name / f"seed-{seed}.json"


def write_json_atomically(path: Path, payload: dict) -> None:
    """Write to a temporary file in the same folder, then rename: never half a file.

    The file is made readable by others (0644), like any file a user writes, not
    private as ``tempfile`` creates it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, 0o644)
        with os.fdopen(handle, "w") as stream:
            json.dump(payload, stream, indent=1)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class ResultsFileError(ValueError):
    """A results file that is unreadable, truncated, or not one of ours."""


def read_results(path: Path) -> dict:
    """Load and validate one results file; raise ResultsFileError saying what is wrong."""
    try:
        payload = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ResultsFileError(f"{path}: not readable JSON ({error})") from None
    if not isinstance(payload, dict):
        raise ResultsFileError(f"{path}: not a results object")
    missing = [name for name in REQUIRED_FIELDS if name not in payload]
    if missing:
        raise ResultsFileError(f"{path}: not a results file of this project (missing {', '.join(missing)})")
    if payload["format"] != RESULTS_FORMAT:
        raise ResultsFileError(f"{path}: results format {payload['format']}, expected {RESULTS_FORMAT}")
    return payload


def finished_run(path: Path, key: str) -> dict | None:
    """The stored run if it exists and was made from the same inputs, else None."""
    if not path.exists():
        return None
    try:
        payload = read_results(path)
    except ResultsFileError:
        return None
    return payload if payload["key"] == key else None


# ---------------------------------------------------------------- a study's results


@dataclasses.dataclass
class StudyResults:
    """Every usable run of a study, and what was left out."""

    study: str
    runs: dict[str, list[dict]]  # configuration name -> runs sorted by seed
    problems: list[str]  # files ignored, and why
    nonstandard: list[str]  # configurations run with settings other than the study's own
    configs: list[RunConfig] = dataclasses.field(default_factory=list)  # the study's configurations

    @property
    def all_runs(self) -> list[dict]:
        return [run for runs in self.runs.values() for run in runs]

    @property
    def complete(self) -> bool:
        return bool(self.runs) and all(self.runs.get(c.name) for c in self.configs)


def load_study(results_dir: Path, study: str, configs: list[RunConfig] | None = None) -> StudyResults:
    """Read every results file of a study; corrupt or foreign files are listed, not trusted.

    ``configs`` are the study's configurations, by default ``STUDIES[study]`` (the sweeps'
    depend on the regularizer study's results: ``selection.sweep_configs``).
    """
    configs = list(STUDIES[study] if configs is None else configs)
    canonical = {c.name: dataclasses.asdict(c) for c in configs}
    runs: dict[str, list[dict]] = {}
    problems, nonstandard = [], []
    folder = Path(results_dir) / study
    for path in sorted(folder.glob("*/seed-*.json")) if folder.is_dir() else []:
        try:
            run = read_results(path)
        except ResultsFileError as error:
            problems.append(str(error))
            continue
        name = run["config"].get("name")
        if run["config"].get("study") != study or name not in canonical or path.parent.name != name:
            problems.append(f"{path}: belongs to {run['config'].get('study')}/{name}, not to this study's folder")
            continue
        if run["config"] != canonical[name] and name not in nonstandard:
            nonstandard.append(name)
        runs.setdefault(name, []).append(run)
    order = [c.name for c in configs]
    runs = {name: sorted(runs[name], key=lambda r: r["seed"]) for name in order if name in runs}
    return StudyResults(study, runs, problems, nonstandard, configs)


# ---------------------------------------------------------------- merging shards


class MergeError(ValueError):
    """Results folders that cannot be joined: the same run made from different inputs."""


def results_files(folder: Path) -> dict[Path, dict]:
    """Every results file under ``folder`` (study/configuration/seed-N.json), validated."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MergeError(f"{folder}: no such results folder")
    return {path.relative_to(folder): read_results(path) for path in sorted(folder.glob("*/*/seed-*.json"))}


def merge_results(sources: list[Path], destination: Path) -> tuple[int, int]:
    """Copy the results files of ``sources`` (e.g. CI shards) into ``destination``.

    The same run (study, configuration, seed) may appear in several folders only with
    the same key; otherwise nothing is written and MergeError lists every conflict.
    Returns (files copied, files that were already there).
    """
    destination = Path(destination)
    chosen = results_files(destination) if destination.is_dir() else {}
    where = dict.fromkeys(chosen, destination)
    copies, already, conflicts = {}, 0, []
    for source in sources:
        for relative, payload in results_files(source).items():
            if relative not in chosen:
                chosen[relative], where[relative], copies[relative] = payload, source, payload
            elif chosen[relative]["key"] != payload["key"]:
                conflicts.append(
                    f"{relative}: key {payload['key']} in {source} but {chosen[relative]['key']} in {where[relative]} "
                    "(different code, library versions or configuration)"
                )
            else:
                already += 1
    if conflicts:
        raise MergeError("refusing to merge runs made from different inputs:\n  " + "\n  ".join(conflicts))
    for relative, payload in copies.items():
        write_json_atomically(destination / relative, payload)
    return len(copies), already


#: What a results file measures: the numbers that must not change when only the code's
#: form changes (per-epoch seconds, wall time, keys and provenance may).
MEASURED = ("history", "final", "epochs_run", "parameters")


def measured(payload: dict) -> dict:
    """A run's numbers: its history without the per-epoch seconds, final metrics, size."""
    numbers = {field: payload.get(field) for field in MEASURED}
    numbers["history"] = {k: v for k, v in (numbers["history"] or {}).items() if k != "seconds"}
    return numbers


def compare_results(before: Path, after: Path) -> dict[str, list[str]]:
    """Runs present in both folders, sorted by outcome: ``same key``, ``new key, same numbers``,
    ``new key, other numbers``; and the runs found in one folder only."""
    old, new = results_files(before), results_files(after)
    outcome = {"same key": [], "new key, same numbers": [], "new key, other numbers": [], "in one folder only": []}
    for relative in sorted(old.keys() | new.keys()):
        if relative not in old or relative not in new:
            outcome["in one folder only"].append(str(relative))
        elif old[relative]["key"] == new[relative]["key"]:
            outcome["same key"].append(str(relative))
        elif measured(old[relative]) == measured(new[relative]):
            outcome["new key, same numbers"].append(str(relative))
        else:
            outcome["new key, other numbers"].append(str(relative))
    return outcome
