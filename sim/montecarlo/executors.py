"""Where replications run: in this process, on local processes, or on a Dask cluster.

Every executor maps one function over tasks and yields (task, result) pairs in
whatever order they finish. A task names its point and its block of
replications, and replication r draws only from SeedSequence(seed) for r, so
the results do not depend on the executor, the worker count or the order.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Protocol

from distributions.traffic import generate_requests
from sim.errors import CapsimError
from sim.montecarlo.replication import replication_streams, simulate
from sim.montecarlo.results import ReplicationResult
from sim.scenario.schema import Scenario

EXECUTORS = ("local", "dask")


@dataclass(frozen=True)
class ReplicationBlock:
    """Replications start..stop-1 of one scenario (one sweep point, one policy or one run)."""

    point: int
    start: int
    stop: int
    scenario: Scenario

    @property
    def key(self) -> str:
        """A name for the task that sorts by point, then by replication."""
        return f"point-{self.point:04d}_rep-{self.start:05d}-{self.stop - 1:05d}"


def run_block(block: ReplicationBlock) -> list[ReplicationResult]:
    """Simulate a block's replications, each from its own seeded streams."""
    results = []
    for replication in range(block.start, block.stop):
        streams = replication_streams(block.scenario.seed, replication)
        requests = generate_requests(block.scenario, streams["traffic"])
        results.append(simulate(block.scenario, requests, streams, replication))
    return results


def replication_blocks(
    scenario: Scenario, replications: int, block_size: int, point: int = 0
) -> list[ReplicationBlock]:
    """Replications 0..n-1 cut into blocks of `block_size` (the last may be shorter)."""
    return [
        ReplicationBlock(point, start, min(start + block_size, replications), scenario)
        for start in range(0, replications, block_size)
    ]


class Executor(Protocol):
    """Runs a function over tasks; yields (task, result) as each finishes."""

    workers: int

    def map_unordered(self, function: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator:
        """(task, function(task)) pairs in the order they finish."""
        ...

    def close(self) -> None:
        """Release processes and connections."""
        ...


class LocalExecutor:
    """This process for one worker; a pool of local processes for more."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None

    def map_unordered(self, function: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator:
        tasks = list(tasks)
        if self.workers == 1 or len(tasks) <= 1:
            for task in tasks:
                yield task, function(task)
            return
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.workers)
        futures = {self._pool.submit(function, task): task for task in tasks}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskExecutor:
    """A Dask cluster: the one at `scheduler` (tcp://HOST:PORT), or a new LocalCluster."""

    def __init__(self, scheduler: str | None = None, workers: int = 1) -> None:
        from distributed import Client, LocalCluster

        self._cluster = None
        try:
            if scheduler:
                _probe(scheduler)
                self._client = Client(scheduler, timeout="10s")
            else:
                self._cluster = LocalCluster(
                    n_workers=max(1, workers),
                    threads_per_worker=1,  # the engine holds the GIL; one replication per process
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                self._client = Client(self._cluster)
        except (OSError, TimeoutError) as exc:
            where = scheduler or "a LocalCluster"
            message = f"--scheduler {where}: cannot reach the Dask scheduler ({exc})"
            raise CapsimError(message) from None
        self.workers = max(1, len(self._client.scheduler_info().get("workers", {})))

    def map_unordered(self, function: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator:
        from distributed import as_completed as dask_completed

        tasks = list(tasks)
        if not tasks:
            return
        futures = self._client.map(function, tasks, pure=False)
        by_key = {future.key: task for future, task in zip(futures, tasks, strict=True)}
        try:
            for future in dask_completed(futures):
                yield by_key[future.key], future.result()
        finally:
            self._client.cancel(futures)

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def _probe(address: str) -> None:
    """Fail at once when nothing listens at tcp://HOST:PORT (instead of after the timeout)."""
    host, _, port = address.removeprefix("tcp://").rpartition(":")
    if not host or not port.isdigit():
        raise CapsimError(f"--scheduler {address!r}: expected tcp://HOST:PORT")
    with socket.create_connection((host.strip("[]"), int(port)), timeout=5):
        pass


def open_executor(kind: str, workers: int = 1, scheduler: str | None = None) -> Executor:
    """The executor `--executor KIND [--scheduler tcp://HOST:PORT]` asks for."""
    if kind not in EXECUTORS:
        raise CapsimError(f"--executor {kind!r}: allowed: {', '.join(EXECUTORS)}")
    if scheduler and kind != "dask":
        raise CapsimError("--scheduler: only with --executor dask")
    if kind == "dask":
        return DaskExecutor(scheduler, workers)
    return LocalExecutor(workers)
