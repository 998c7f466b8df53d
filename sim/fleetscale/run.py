"""Run a scenario's replications on the fleet-scale engine; refuse what it cannot honour."""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from sim.engine.service_time import RooflineModel, build_service_model
from sim.errors import CapsimError
from sim.fleet.capacity import replica_capacity_per_s
from sim.fleetscale.arrival_counts import step_counts, trace_step_work
from sim.fleetscale.fleet_draws import FleetDraws
from sim.fleetscale.fleet_loop import run_fleet
from sim.fleetscale.latency_model import REQUESTS_PER_PROBE, latency_model, token_pool
from sim.fleetscale.request_work import alone_times_s, prefill_s, saturated_cost_s
from sim.fleetscale.summary import build_results
from sim.montecarlo.engine_choice import choose_engine
from sim.montecarlo.executors import Executor, ReplicationBlock
from sim.montecarlo.replication import drain_limit_s
from sim.montecarlo.results import ReplicationResult
from sim.scenario.plugins import AUTOSCALING, BATCHING, MARKETS
from sim.scenario.schema import Scenario

STEP_S = 5.0  # the fleet's time step
MAX_STEPS = 50_000  # per horizon; longer horizons take longer steps


def unsupported_settings(scenario: Scenario) -> list[str]:
    """Keys of the scenario the fast engine cannot honour (it refuses them by name)."""
    found = []
    if scenario.traffic.closed_loop:
        found.append(
            "traffic.arrival = 'closed' (closed-loop clients send as replies come back; "
            "its per-step arrival counts cannot be drawn ahead)"
        )
    if scenario.requests.classes:
        found.append("requests.classes (per-class latency needs the exact engine)")
    policy = scenario.autoscaling.policy
    if not AUTOSCALING[policy].fleet_scale:
        found.append(
            f"autoscaling.policy = {policy!r} (a registered policy the fast engine has no "
            "model of: it steps only the policies registered with fleet_scale=True)"
        )
    market = scenario.fleet.market
    if not MARKETS[market].fleet_scale:
        found.append(
            f"fleet.market = {market!r} (a registered market the fast engine has no model of: "
            "it bills only the markets registered with fleet_scale=True)"
        )
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


def choose_grid_engine(scenarios: list[Scenario], requested: str, workers: int = 1) -> str:
    """One engine for every scenario of a sweep or size: "fast" if requested, or under
    "auto" if any of them would go fast; each must then be one the fast engine honours.
    The SimPy oracle runs single scenarios (`run`, `compare`, `levers`), not grids."""
    if requested == "simpy":
        raise CapsimError(
            "--engine simpy: sweep and size run on exact, fast or auto; the SimPy engine, "
            "which exact reproduces bit for bit, runs from run, compare and levers"
        )
    chosen = [choose_engine(s, requested, workers) for s in scenarios]
    engine = "fast" if "fast" in chosen else "exact"
    if engine == "fast":
        for scenario in scenarios:
            check_fast(scenario)
    return engine


def step_s(scenario: Scenario) -> float:
    """The fleet's time step: STEP_S, no longer than the autoscaler's period, and at
    least horizon / MAX_STEPS."""
    config = scenario.autoscaling
    policy = AUTOSCALING[config.policy]
    dt = STEP_S
    if policy.metered or policy.forecasts:
        dt = min(dt, config.polling_interval if policy.polled else config.sync_period)
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
    first_replication: int = 0,
    executor: Executor | None = None,
) -> list[ReplicationResult]:
    """Replications first..first+n-1 of the scenario on the fleet-scale engine, in order.

    Replication r's numbers depend only on (seed, r): its traffic counts and its fleet's
    draws (cold starts, spot notices) come from its own streams, and replications do not
    interact, so any batching and any executor (blocks of replications on `executor`)
    give the same numbers.
    """
    check_fast(scenario)
    count = replications or scenario.replications
    model = latency_model(scenario, requests_per_probe)
    if executor is not None and count > 1:
        size = max(1, math.ceil(count / (2 * executor.workers)))
        blocks = [
            ReplicationBlock(0, start, min(start + size, count), scenario)
            for start in range(first_replication, first_replication + count, size)
        ]
        task = partial(run_fast_block, requests_per_probe=requests_per_probe)
        results = [r for _, rs in executor.map_unordered(task, blocks) for r in rs]
        return sorted(results, key=lambda result: result.replication)
    dt = step_s(scenario)
    steps = math.ceil(scenario.horizon / dt - 1e-9)
    edges = np.minimum(np.arange(steps + 1) * dt, scenario.horizon)
    indices = range(first_replication, first_replication + count)
    service = build_service_model(scenario)
    mix = None
    if scenario.traffic.profile == "trace" and isinstance(service, RooflineModel):
        counts, mix = _trace_counts_and_mix(scenario, service, indices, edges)
    else:
        counts = np.stack([step_counts(scenario, r, edges) for r in indices])
    draws = FleetDraws(scenario.seed, first_replication, count)
    capacity = replica_capacity_per_s(scenario, service)
    cost = mix["saturated"] if mix else None
    run = run_fleet(
        scenario,
        model,
        counts,
        dt,
        drain_limit_s(scenario),
        draws,
        capacity,
        cost,
        _prefill_mean_s(scenario, service, requests_per_probe),
    )
    if mix:
        run.service_scale = _padded(mix, run.arrivals.shape[1])
    return build_results(scenario, model, run, first_replication)


def _prefill_mean_s(scenario: Scenario, service, requests_per_probe: int) -> float:
    """A continuous batch's mean prefill time per request over the probes' requests
    (0 unless the batch admits at decode steps, on the roofline)."""
    batching = scenario.batching
    if not BATCHING[batching.policy].per_token_steps or not isinstance(service, RooflineModel):
        return 0.0
    pool = token_pool(scenario, min(requests_per_probe, 65_536))
    found = prefill_s(service, pool.prompt_tokens, pool.output_tokens, batching.max_batch)
    return float(found.mean())


def _padded(mix: dict[str, np.ndarray], steps: int) -> dict[str, np.ndarray]:
    """The horizon's per-step ratios over the run's steps (drain steps: 1)."""
    out = {}
    for name, ratio in mix.items():
        full = np.ones((ratio.shape[0], steps))
        kept = min(steps, ratio.shape[1])
        full[:, :kept] = ratio[:, :kept]
        out[name] = full
    return out


def _trace_counts_and_mix(scenario: Scenario, service, indices, edges):
    """A replay's counts per step and, per step, its requests' mean figures over the
    replay's average request (the probes' pool, whom the latency model is for): their
    cost to a saturated replica ("saturated"), and their time to first token and
    end-to-end time served alone ("ttft", "e2e"). Each is (replications, steps); a
    step without arrivals has ratios of 1."""
    batching = scenario.batching
    batch = batching.max_batch if BATCHING[batching.policy].batches else 1

    def figures(prompt, output):
        alone = alone_times_s(service, prompt, output)
        return np.vstack([saturated_cost_s(service, prompt, output, batch), alone])

    pool = token_pool(scenario, 0)
    average = figures(pool.prompt_tokens, pool.output_tokens).mean(axis=1)
    counts, ratios = [], []
    for r in indices:
        found, sums = trace_step_work(scenario, r, edges, figures, len(average))
        counts.append(found)
        mean = sums / np.maximum(found, 1) / average[:, None]
        ratios.append(np.where(found > 0, mean, 1.0))
    ratios = np.stack(ratios, axis=1)  # (figures, replications, steps)
    return np.stack(counts), dict(zip(("saturated", "ttft", "e2e"), ratios, strict=True))


def run_fast_block(
    block: ReplicationBlock, requests_per_probe: int = REQUESTS_PER_PROBE
) -> list[ReplicationResult]:
    """One executor task (a sweep's or size's block): its replications on the fast engine."""
    count = block.stop - block.start
    return run_fast(block.scenario, count, requests_per_probe, first_replication=block.start)
