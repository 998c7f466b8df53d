"""Shared helpers for engine tests: run one replication of a scenario with its log."""

from __future__ import annotations

import numpy as np

from distributions.traffic import generate_requests
from sim.montecarlo.replication import replication_streams, simulate
from sim.montecarlo.results import ReplicationResult
from sim.scenario.file import load_scenario


def run_once(
    sets: list[str],
    base: str = "mmc",
    seed: int = 2024,
    replication: int = 0,
    use_simpy: bool = False,
) -> ReplicationResult:
    """One replication of a bundled scenario with overrides, keeping the per-request log.

    `use_simpy` runs a fixed fleet on the SimPy engine instead of the compiled kernel.
    """
    scenario = load_scenario(base, sets)
    streams = replication_streams(seed, replication)
    requests = generate_requests(scenario, streams["traffic"])
    return simulate(scenario, requests, streams, keep_log=True, use_simpy=use_simpy)


def steady_state(result: ReplicationResult, warmup_share: float = 0.1) -> np.ndarray:
    """Mask of completed requests that arrived after the warm-up share of the horizon."""
    log = result.log
    return (log.status == 1) & (log.arrival_s >= warmup_share * result.horizon_s)


def replicated_mean(
    sets: list[str], statistic, replications: int = 10, base: str = "mmc"
) -> tuple[float, float]:
    """Mean of a per-replication steady-state statistic over independent replications,
    and its standard error (replications are independent, so this error is honest even
    where consecutive requests' waits are strongly correlated)."""
    values = []
    for replication in range(replications):
        result = run_once(sets, base=base, replication=replication)
        values.append(statistic(result.log, steady_state(result)))
    values = np.asarray(values)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(replications))
