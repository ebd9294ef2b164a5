"""Where a study's runs execute: in this process, in a local pool, or on a Dask cluster.

Every executor takes a function and a list of argument tuples and yields each
task's outcome (its return value, or the exception it raised) as it finishes, in
any order. The study decides what to run and writes the results files; executors
only run things.

* ``InProcess``: one task after another in this process (simple to debug).
* ``DaskExecutor.local(workers)``: a pool of fresh worker processes on this machine,
  a ``distributed.LocalCluster`` that lives as long as the executor. Workers are
  spawned interpreters (TensorFlow is not fork-safe) running one task at a time.
* ``DaskExecutor.connect(address)``: a running Dask scheduler (``dask scheduler``)
  with workers on any number of machines (``dask worker ADDRESS``).

A worker killed in the middle of a task loses only that task: Dask's scheduler
gives it to another worker, once (a local pool allows one retry; a cluster of your
own follows its scheduler's ``distributed.scheduler.allowed-failures``), and then
reports it as failed.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Iterator, Sequence

SCHEDULER_ENVIRONMENT = "DASK_SCHEDULER_ADDRESS"
CONNECT_TIMEOUT_SECONDS = 10


class ExecutorError(RuntimeError):
    """An executor that cannot start: a scheduler out of reach, a bad setting."""


def default_workers(threads_per_run: int = 1) -> int:
    """As many runs side by side as the cores allow, each with its own threads."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // threads_per_run)


class InProcess:
    """Runs each task in this process, one after another."""

    description = "in this process, one after another"

    def map_unordered(self, function: Callable, tasks: Sequence[tuple]) -> Iterator[tuple[int, object]]:
        for index, arguments in enumerate(tasks):
            try:
                outcome = function(*arguments)
            except Exception as error:  # reported by the study with the task's name
                outcome = error
            yield index, outcome

    def close(self) -> None:
        pass


class DaskExecutor:
    """Runs tasks on a Dask distributed cluster: a local one it starts, or a running one."""

    def __init__(self, client, cluster=None, description: str = ""):
        self.client, self.cluster, self.description = client, cluster, description
        self._pending: list = []

    @classmethod
    def local(cls, workers: int) -> "DaskExecutor":
        """A pool of ``workers`` spawned processes on this machine, one task at a time each."""
        import dask
        from distributed import Client, LocalCluster

        if workers < 1:
            raise ExecutorError(f"a pool needs at least one worker, got {workers}")
        with dask.config.set({
            "distributed.scheduler.allowed-failures": 1,  # a task whose worker died is retried once
            # One task per worker at a time, none queued behind it: a worker's death then counts
            # against the run it was training only, and the longest runs start first.
            "distributed.scheduler.worker-saturation": 1.0,
            "distributed.worker.multiprocessing-method": "spawn",
            "distributed.worker.daemon": False,
        }):
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                silence_logs=logging.ERROR, env={"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")},
            )
            client = Client(cluster)
        return cls(client, cluster, f"on a local pool of {workers} worker process(es)")

    @classmethod
    def connect(cls, address: str) -> "DaskExecutor":
        """The Dask scheduler at ``address`` (e.g. tcp://10.0.0.5:8786) and its workers."""
        from distributed import Client

        try:
            client = Client(address, timeout=f"{CONNECT_TIMEOUT_SECONDS}s")
        except (OSError, TimeoutError) as error:
            raise ExecutorError(
                f"cannot reach the Dask scheduler at {address} within {CONNECT_TIMEOUT_SECONDS} s ({error}). "
                f"Is `dask scheduler` running there and its port open? Or run without --scheduler "
                f"(and unset ${SCHEDULER_ENVIRONMENT}) to use this machine alone."
            ) from None
        workers = len(client.scheduler_info().get("workers", {}))
        return cls(client, None, f"on the Dask scheduler at {address} ({workers} worker(s) now)")

    def map_unordered(self, function: Callable, tasks: Sequence[tuple]) -> Iterator[tuple[int, object]]:
        from distributed import as_completed

        # pure=False: a task is a training run, never to be merged with an equal-looking one.
        futures = {self.client.submit(function, *arguments, pure=False): index for index, arguments in enumerate(tasks)}
        self._pending = list(futures)
        for future in as_completed(futures):
            self._pending.remove(future)
            try:
                outcome = future.result()
            except Exception as error:  # the task's own error, or KilledWorker
                outcome = error
            yield futures[future], outcome

    def close(self) -> None:
        """Cancel what has not finished and release the workers (and the pool this executor started)."""
        try:
            if self._pending:
                self.client.cancel(self._pending, force=True)
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()


def make_executor(kind: str, workers: int | None = None, scheduler: str | None = None):
    """The executor the command line asks for: 'in-process', 'pool' or 'dask'."""
    if kind == "in-process":
        return InProcess()
    if kind == "pool":
        return DaskExecutor.local(workers or default_workers())
    if kind == "dask":
        address = scheduler or os.environ.get(SCHEDULER_ENVIRONMENT)
        if not address:
            raise ExecutorError(f"the dask executor needs --scheduler ADDRESS or ${SCHEDULER_ENVIRONMENT}")
        return DaskExecutor.connect(address)
    raise ExecutorError(f"unknown executor {kind!r}; choose in-process, pool or dask")
