"""Replications on the SimPy engine alone (`--engine simpy`): the oracle the compiled loop
is checked against, for a user to run beside it.

Replication r draws from the same streams as on any engine (`replication_streams`), so
where the compiled loop covers the fleet the two give the same results bit for bit.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

from distributions.traffic import generate_requests
from sim.montecarlo.replication import replication_streams, simulate
from sim.montecarlo.results import ReplicationResult
from sim.scenario.schema import Scenario


def simpy_replication(scenario: Scenario, replication: int) -> ReplicationResult:
    """Replication `replication` of the scenario, simulated by the SimPy engine."""
    streams = replication_streams(scenario.seed, replication)
    requests = generate_requests(scenario, streams["traffic"])
    return simulate(scenario, requests, streams, replication, use_simpy=True)


def run_on_simpy(scenario: Scenario, workers: int = 1) -> list[ReplicationResult]:
    """Replications 0..n-1 on the SimPy engine, on up to `workers` local processes."""
    count = scenario.replications
    if workers <= 1 or count == 1:
        return [simpy_replication(scenario, r) for r in range(count)]
    with ProcessPoolExecutor(max_workers=min(workers, count)) as pool:
        return list(pool.map(simpy_replication, [scenario] * count, range(count)))
