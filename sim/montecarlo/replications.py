"""Many seeded replications of one scenario, sequentially or on local processes.

Replication r draws every random number from streams spawned from
SeedSequence(scenario.seed) for r alone, so results do not depend on the
executor, the number of workers or the order in which replications finish.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed

from distributions.traffic import generate_requests
from sim.montecarlo.executors import Executor, replication_blocks, run_block
from sim.montecarlo.replication import replication_streams, simulate
from sim.montecarlo.results import ReplicationResult
from sim.scenario.schema import Scenario

ProgressCallback = Callable[[ReplicationResult], None]


def run_replication(scenario: Scenario, replication: int) -> ReplicationResult:
    """Generate replication `replication`'s traffic and simulate it."""
    streams = replication_streams(scenario.seed, replication)
    return simulate(scenario, generate_requests(scenario, streams["traffic"]), streams, replication)


def run_replications(
    scenario: Scenario,
    replications: int | None = None,
    workers: int = 1,
    on_result: ProgressCallback | None = None,
    executor: Executor | None = None,
) -> list[ReplicationResult]:
    """Results of replications 0..n-1, in replication order (on `executor` if given)."""
    count = replications or scenario.replications
    results: list[ReplicationResult] = []
    if executor is not None:
        block_size = max(1, math.ceil(count / (2 * executor.workers)))
        for _, block_results in executor.map_unordered(
            run_block, replication_blocks(scenario, count, block_size)
        ):
            results.extend(block_results)
            if on_result:
                for result in block_results:
                    on_result(result)
        return sorted(results, key=lambda result: result.replication)
    if workers <= 1 or count == 1:
        for replication in range(count):
            result = run_replication(scenario, replication)
            results.append(result)
            if on_result:
                on_result(result)
        return results
    with ProcessPoolExecutor(max_workers=min(workers, count)) as pool:
        futures = [pool.submit(run_replication, scenario, r) for r in range(count)]
        for future in as_completed(futures):
            result = future.result()
            results.append(result)
            if on_result:
                on_result(result)
    return sorted(results, key=lambda result: result.replication)


def default_workers() -> int:
    """Local processes to use when the user does not say: one per core."""
    return max(1, os.cpu_count() or 1)
