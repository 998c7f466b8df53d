"""Run a scenario's replications on the fleet-scale engine; refuse what it cannot honour."""

from __future__ import annotations

import math

import numpy as np

from sim.engine.service_time import build_service_model
from sim.errors import CapsimError
from sim.fleet.capacity import replica_capacity_per_s
from sim.fleetscale.arrival_counts import step_counts
from sim.fleetscale.fleet_loop import run_fleet
from sim.fleetscale.latency_model import REQUESTS_PER_PROBE, latency_model
from sim.fleetscale.summary import build_results
from sim.montecarlo.replication import drain_limit_s
from sim.montecarlo.results import ReplicationResult
from sim.scenario.schema import Scenario

STEP_S = 5.0  # the fleet's time step
MAX_STEPS = 50_000  # per horizon; longer horizons take longer steps


def unsupported_settings(scenario: Scenario) -> list[str]:
    """Keys of the scenario the fast engine cannot honour (it refuses them by name)."""
    found = []
    if scenario.requests.classes:
        found.append("requests.classes (per-class latency needs the exact engine)")
    if scenario.levers.splits:
        found.append(
            "levers.cache, levers.batch and levers.routing (the split request stream needs "
            "the exact engine; capsim levers thins the traffic for the fast one)"
        )
    return found


def check_fast(scenario: Scenario) -> None:
    """Raise one clear error if the fast engine cannot run the scenario as written."""
    found = unsupported_settings(scenario)
    if found:
        raise CapsimError(
            f"{scenario.name}: --engine fast cannot honour {'; '.join(found)}; use --engine exact"
        )


def step_s(scenario: Scenario) -> float:
    """The fleet's time step: STEP_S, no longer than the autoscaler's period, and at
    least horizon / MAX_STEPS."""
    config = scenario.autoscaling
    dt = STEP_S
    if config.policy == "queue-depth":
        dt = min(dt, config.polling_interval)
    elif config.policy in ("target-tracking", "predictive"):
        dt = min(dt, config.sync_period)
    dt = min(dt, scenario.horizon / 20)
    return max(dt, scenario.horizon / MAX_STEPS)


def describe_fast(scenario: Scenario) -> str:
    """The one line `run` prints before a fast run."""
    from distributions.traffic import expected_request_count

    requests = expected_request_count(scenario) * scenario.replications
    return (
        f"about {requests:,.0f} requests over {scenario.replications} replications on the "
        f"fast engine (fleet steps of {step_s(scenario):g} s; memory does not grow with requests)"
    )


def run_fast(
    scenario: Scenario,
    replications: int | None = None,
    requests_per_probe: int = REQUESTS_PER_PROBE,
) -> list[ReplicationResult]:
    """Replications 0..n-1 of the scenario on the fleet-scale engine.

    Traffic counts of replication r depend only on (seed, r); the fleet's own draws
    (cold starts, spot notices) come from one stream for the batch of n.
    """
    check_fast(scenario)
    count = replications or scenario.replications
    model = latency_model(scenario, requests_per_probe)
    dt = step_s(scenario)
    steps = math.ceil(scenario.horizon / dt - 1e-9)
    edges = np.minimum(np.arange(steps + 1) * dt, scenario.horizon)
    counts = np.stack([step_counts(scenario, r, edges) for r in range(count)])
    rng = np.random.default_rng(np.random.SeedSequence([scenario.seed, count, 0xFA57]))
    capacity = replica_capacity_per_s(scenario, build_service_model(scenario))
    run = run_fleet(scenario, model, counts, dt, drain_limit_s(scenario), rng, capacity)
    return build_results(scenario, model, run)
