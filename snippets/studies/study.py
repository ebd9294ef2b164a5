"""Running a study: which runs are due, handing them to an executor, writing their results.

The study plans every (configuration, seed) pair, skips the runs whose results file
already holds the same inputs (so an interrupted study resumes), optionally keeps
one shard of the rest (``--shard I/N``, for CI matrix jobs), and hands the rest to
an executor, longest first. Each outcome is checked (same code and library versions
as here) and written to its results file as soon as it arrives; a failed run is
reported and the others go on. Ctrl-C or SIGTERM cancels what has not finished and
keeps everything that has; so does a results file that cannot be written (a full
disk: ``ResultsWriteError``).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from snippets.studies.configs import RunConfig, seeds_for
from snippets.studies.results import (
    DEFAULT_RESULTS_DIR,
    RESULTS_FORMAT,
    code_fingerprint,
    finished_run,
    git_commit,
    library_versions,
    results_path,
    run_key,
    write_json_atomically,
)
from snippets.studies.runs import perform


@dataclass(frozen=True)
class Shard:
    """Part ``index`` (1-based) of ``count`` equal parts of a study's runs."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise ValueError(f"a shard is I/N with whole numbers, like 1/3; got {text!r}") from None
        if not 1 <= index <= count:
            raise ValueError(f"shard {text}: I must be between 1 and N")
        return cls(index, count)

    def keeps(self, position: int) -> bool:
        return position % self.count == self.index - 1


@dataclass
class Run:
    config: RunConfig
    seed: int
    path: Path
    key: str

    @property
    def label(self) -> str:
        return f"{self.config.label} seed {self.seed}"


class ResultsWriteError(RuntimeError):
    """A results file that cannot be written (a full disk, say); the runs saved before it are kept."""


@dataclass
class StudyProgress:
    reused: int = 0
    trained: int = 0
    failed: list[str] = field(default_factory=list)


def plan_runs(configs: list[RunConfig], seeds: Iterable[int] | None, results_dir: Path, force: bool = False,
              shard: Shard | None = None) -> tuple[list[Run], list[Run]]:
    """(runs to do, runs already done), in the study's order; a shard keeps every N-th run.
    ``seeds=None``: each configuration's own number of seeds (``configs.seeds_for``)."""
    versions, fingerprint = library_versions(), code_fingerprint()
    seeds = None if seeds is None else list(seeds)
    everything = [
        Run(config, seed, results_path(results_dir, config, seed), run_key(config, seed, versions, fingerprint))
        for config in configs for seed in (seeds if seeds is not None else range(seeds_for(config)))
    ]
    if shard is not None:
        everything = [run for position, run in enumerate(everything) if shard.keeps(position)]
    done = [run for run in everything if not force and finished_run(run.path, run.key)]
    return [run for run in everything if run not in done], done


class Progress:
    """One progress bar over the study's runs (on a terminal) and a line per finished run."""

    def __init__(self, total: int, log: Callable[[str], None] | None):
        from tqdm import tqdm

        self.total, self.finished, self.started = total, 0, time.monotonic()
        self.bar = tqdm(total=total, unit="run", file=sys.stderr, dynamic_ncols=True, disable=None,
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} runs [{elapsed}<{remaining}]")
        self._log = log or self.bar.write

    def log(self, line: str) -> None:
        self._log(line)

    def finish_one(self, line: str) -> None:
        self.finished += 1
        self.bar.update(1)
        elapsed = time.monotonic() - self.started
        left = elapsed / self.finished * (self.total - self.finished)
        self.log(f"[{self.finished}/{self.total}] {line}" + (f"; about {_duration(left)} left" if self.total > self.finished else ""))

    def close(self) -> None:
        self.bar.close()


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def run_study(
    configs: list[RunConfig],
    seeds: Iterable[int] | None,
    executor,
    results_dir: Path = DEFAULT_RESULTS_DIR,
    force: bool = False,
    shard: Shard | None = None,
    log: Callable[[str], None] | None = None,
    progress: StudyProgress | None = None,
) -> StudyProgress:
    """Run every configuration with every seed (``None``: its study's own) on ``executor``,
    skipping runs already finished."""
    progress = progress if progress is not None else StudyProgress()
    todo, done = plan_runs(configs, seeds, results_dir, force, shard)
    progress.reused += len(done)
    bar = Progress(len(todo), log)
    for run in done:
        bar.log(f"{run.label}: already done ({run.path.relative_to(results_dir)})")
    if not todo:
        bar.close()
        return progress
    bar.log(f"{len(todo)} run(s) to train {executor.description}")
    versions, fingerprint, commit = library_versions(), code_fingerprint(), git_commit()
    # Longest first: the pool's last runs are then short ones, and its workers finish together.
    order = sorted(todo, key=lambda run: -run.config.cost())
    try:
        for index, outcome in executor.map_unordered(perform, [(run.config, run.seed) for run in order]):
            run = order[index]
            problem = _problem(outcome, versions, fingerprint)
            if problem:
                progress.failed.append(f"{run.label}: {problem}")
                bar.finish_one(f"{run.label}: FAILED, {problem}")
                continue
            try:
                write_json_atomically(run.path, {
                    "format": RESULTS_FORMAT,
                    "key": run.key,
                    "config": dataclasses.asdict(run.config),
                    "seed": run.seed,
                    **outcome,
                    "commit": commit,
                    "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "command": " ".join(sys.argv),
                })
            except OSError as error:
                # Nothing half-written is left (write_json_atomically), so the same command resumes.
                raise ResultsWriteError(
                    f"cannot write {run.path}: {error.strerror or error}. {progress.trained} run(s) of this "
                    f"invocation are saved in {results_dir}; free some space and run the same command again "
                    "to resume."
                ) from error
            progress.trained += 1
            final = outcome["final"]
            bar.finish_one(
                f"{run.label}: {outcome['epochs_run']} epochs in {outcome['wall_seconds']:.0f} s, "
                f"train {final['train_accuracy']:.4f}, val {final['val_accuracy']:.4f}, test {final['test_accuracy']:.4f}"
            )
    finally:
        bar.close()
    return progress


def _problem(outcome, versions: dict, fingerprint: str) -> str | None:
    """Why an outcome cannot be stored under this study's keys, or None."""
    if isinstance(outcome, BaseException):
        return f"{type(outcome).__name__}: {outcome}"
    if outcome["versions"] != versions or outcome["code"] != fingerprint:
        return (f"the worker runs other code or libraries (code {outcome['code']}, {outcome['versions']}) than this "
                f"machine (code {fingerprint}, {versions}); install the same checkout and versions on every worker")
    return None
