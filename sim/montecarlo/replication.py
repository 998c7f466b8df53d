"""One replication: traffic in, a SimPy run of the fleet, a ReplicationResult out."""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass

import numpy as np

from distributions.request_classes import class_names
from distributions.tokens import sample
from distributions.traffic import RequestChunk
from sim.engine.outcome import EngineOutcome
from sim.engine.request_log import COMPLETED, DROPPED, RequestLog
from sim.engine.service_time import LatencyModel, ServiceModel, build_service_model
from sim.engine.state import Workload
from sim.fleet.compiled_fleet import run_compiled, runs_compiled
from sim.fleet.series import fleet_series, replica_counts
from sim.fleet.start import simpy_fleet
from sim.money.billing import (
    cost_summary,
    replica_cost_usd,
    replica_hours,
    request_cost_usd,
)
from sim.montecarlo.closed_loop_run import patience_table, run_closed_loop
from sim.montecarlo.results import (
    ReplicationResult,
    latency_over_time,
    request_latencies,
    summarize_latencies,
)
from sim.scenario.prices import resolve_rates
from sim.scenario.schema import Scenario

STREAMS = ("traffic", "service", "routing", "fleet", "spot", "levers")


def replication_streams(seed: int, replication: int) -> dict[str, np.random.Generator]:
    """Independent generators for each random part of replication `replication`.

    Replication r's streams come from SeedSequence(seed).spawn(r + 1)[r], so they
    depend only on (seed, r): the same on any executor and in any order.
    """
    child = np.random.SeedSequence(seed).spawn(replication + 1)[replication]
    return {
        name: np.random.default_rng(s)
        for name, s in zip(STREAMS, child.spawn(len(STREAMS)), strict=True)
    }


def request_patience_s(scenario: Scenario, class_index: np.ndarray) -> np.ndarray | None:
    """How long each request waits for admission before its client leaves (None: forever).

    A request class's own `timeout` (a batch job's looser deadline) overrides
    `admission.timeout`.
    """
    default = scenario.admission.timeout
    classes = scenario.requests.classes
    by_class = [c.timeout if c.timeout is not None else default for c in classes] or [default]
    if all(t is None for t in by_class):
        return None
    table = np.array([math.inf if t is None else t for t in by_class])
    return table[np.asarray(class_index, dtype=np.int64)]


def drain_limit_s(scenario: Scenario) -> float:
    """How long after the horizon the run continues so that waiting requests can finish."""
    timeouts = [scenario.admission.timeout] + [c.timeout for c in scenario.requests.classes]
    return 0.25 * scenario.horizon + max((t for t in timeouts if t is not None), default=0.0)


def simulate(
    scenario: Scenario,
    requests: RequestChunk,
    streams: dict[str, np.random.Generator],
    replication: int = 0,
    service: ServiceModel | None = None,
    keep_log: bool = False,
    use_simpy: bool = False,
) -> ReplicationResult:
    """Run the fleet on the given requests and summarise what happened.

    A fleet the compiled kernel covers (`compiled_fleet.runs_compiled`) runs there,
    which gives the SimPy engine's results faster; `use_simpy` forces the SimPy
    engine (tests compare the two). With `keep_log` the result carries the per-request log.
    """
    service = service or build_service_model(scenario)
    if scenario.levers.splits:  # a cache, batch or routing share takes some requests away
        from sim.montecarlo.lever_replication import simulate_levers

        result = simulate_levers(scenario, requests, streams, replication, service, use_simpy)
        if not keep_log:
            result.log = None
        return result
    if scenario.traffic.closed_loop:
        # Clients send as replies come back: the SimPy engine makes the requests.
        outcome, requests = closed_loop_outcome(scenario, streams, service)
    else:
        outcome = engine_outcome(scenario, requests, streams, service, use_simpy)
    result = _summarize(scenario, outcome, service, requests.arrival_s, replication)
    result.classes = class_summary(scenario, result.log, requests.class_index)
    if not keep_log:
        result.log = None
    return result


def closed_loop_outcome(
    scenario: Scenario, streams: dict[str, np.random.Generator], service: ServiceModel
) -> tuple[EngineOutcome, RequestChunk]:
    """A closed loop's run on the SimPy engine and the requests its clients sent."""
    timeouts = [
        c.timeout if c.timeout is not None else scenario.admission.timeout
        for c in scenario.requests.classes
    ] or [scenario.admission.timeout]
    end_s = scenario.horizon + drain_limit_s(scenario)
    return run_closed_loop(scenario, streams, service, patience_table(timeouts), end_s)


def engine_outcome(
    scenario: Scenario,
    requests: RequestChunk,
    streams: dict[str, np.random.Generator],
    service: ServiceModel,
    use_simpy: bool = False,
) -> EngineOutcome:
    """What the engine did with the requests: the compiled kernel where it covers the
    fleet (`compiled_fleet.runs_compiled`), else (or with `use_simpy`) the SimPy engine."""
    latency_s = None
    if isinstance(service, LatencyModel):
        latency_s = sample(scenario.service.latency, len(requests.arrival_s), streams["service"])
    patience_s = request_patience_s(scenario, requests.class_index)
    end_s = scenario.horizon + drain_limit_s(scenario)
    if runs_compiled(scenario) and not use_simpy:
        return run_compiled(scenario, service, requests, latency_s, patience_s, streams, end_s)
    tokens = (requests.prompt_tokens, requests.output_tokens)
    workload = Workload.from_arrays(requests.arrival_s, *tokens, latency_s, patience_s)
    outcome = _run_simpy(scenario, workload, service, streams, end_s)
    # The engine's replicas, processes and state refer to each other: only the cycle
    # collector frees them, and left to itself it lets replications pile up.
    gc.collect()
    return outcome


def _run_simpy(
    scenario: Scenario,
    workload: Workload,
    service: ServiceModel,
    streams: dict[str, np.random.Generator],
    end_s: float,
) -> EngineOutcome:
    """The SimPy engine: replicas, autoscaler and spot market as processes."""
    state = simpy_fleet(scenario, workload, service, streams)
    env = state.env
    env.run_arrivals(state.arrival_s, state.route)
    state.arrivals_done = True
    if env.now < scenario.horizon:
        env.run(until=scenario.horizon)  # the fleet keeps scaling and billing to the end
    if state.resolved < len(state.arrival_s):
        # Let admitted requests finish, up to the drain limit.
        env.run(until=env.any_of([env.timeout(end_s - env.now), state.all_resolved]))
    state.finish_run()
    return state.outcome()


def class_summary(
    scenario: Scenario, log: RequestLog, class_index: np.ndarray
) -> dict[str, dict[str, float]]:
    """Per request class: arrivals, completions, failures and tail latency."""
    out = {}
    done = log.status == COMPLETED
    for index, name in enumerate(class_names(scenario.requests)):
        members = class_index == index
        finished = members & done
        e2e = (log.finish_s - log.arrival_s)[finished]
        ttft = (log.first_token_s - log.arrival_s)[finished]
        out[name] = {
            "arrived": int(members.sum()),
            "completed": int(finished.sum()),
            "failed": int((members & (log.status >= DROPPED)).sum()),
            "e2e_p99_s": float(np.percentile(e2e, 99)) if len(e2e) else math.nan,
            "ttft_p99_s": float(np.percentile(ttft, 99)) if len(ttft) else math.nan,
        }
    return out


@dataclass(frozen=True, eq=False)
class LeverExtras:
    """What the levers add to a replication's summary beside the main fleet's outcome."""

    batch_completed: int  # requests the batch API answered (no latency: see docs)
    api_prompt_tokens: np.ndarray  # completed requests the main deployment served, for [api]
    api_output_tokens: np.ndarray
    cost_lines: dict[str, float]  # cache, routed API or fleet, batch API
    events: dict[str, int]


def _summarize(
    scenario: Scenario,
    outcome: EngineOutcome,
    service: ServiceModel,
    arrival_s: np.ndarray,
    replication: int,
    extras: LeverExtras | None = None,
) -> ReplicationResult:
    log = outcome.log
    latencies = request_latencies(log)
    done = log.status == COMPLETED
    output = outcome.output_tokens[done]
    decoded = output > 1
    if isinstance(service, LatencyModel):
        latencies["tpot"] = np.empty(0)  # a given per-request latency has no token timing
    else:
        latencies["tpot"] = (log.finish_s[done][decoded] - log.first_token_s[done][decoded]) / (
            output[decoded] - 1
        )
    stats, histograms, sums = summarize_latencies(latencies)
    end_s = outcome.end_s
    lifetimes = outcome.lifetimes
    replica_seconds = sum(
        (life.stopped_s if life.stopped_s is not None else end_s) - ready_s
        for life, ready_s in zip(lifetimes, outcome.ready_s, strict=True)
        if ready_s is not None
    )
    busy_s = sum(life.busy_s for life in lifetimes)
    counts = log.counts()
    api_tokens = (outcome.prompt_tokens[done], outcome.output_tokens[done])
    if extras is not None:
        counts["completed"] += extras.batch_completed
        counts["arrived"] += extras.batch_completed
        api_tokens = (extras.api_prompt_tokens, extras.api_output_tokens)
    series = fleet_series(outcome.fleet_events, arrival_s, scenario.horizon)
    replica_lines = replica_cost_usd(lifetimes, resolve_rates(scenario), scenario.horizon)
    request_lines = request_cost_usd(scenario, counts["completed"], *api_tokens)
    if extras is not None:
        request_lines.update(extras.cost_lines)
    cost = cost_summary(replica_lines, request_lines, scenario.horizon, counts["completed"])
    events = dict(outcome.counters)
    if extras is not None:
        events.update(extras.events)
    return ReplicationResult(
        replication=replication,
        seed=scenario.seed,
        horizon_s=scenario.horizon,
        end_s=end_s,
        requests=counts,
        latency_s=stats,
        latency_histograms=histograms,
        latency_sums_s=sums,
        throughput_per_s=counts["completed"] / scenario.horizon,
        utilization=busy_s / replica_seconds if replica_seconds > 0 else 0.0,
        mean_running_per_replica=(
            outcome.running_area / replica_seconds if replica_seconds > 0 else 0.0
        ),
        mean_queue_length=outcome.queue_area / end_s if end_s > 0 else 0.0,
        replica_seconds=replica_seconds,
        replicas=replica_counts(outcome.fleet_events, scenario.horizon),
        events=events,
        fleet_series=series,
        latency_series=latency_over_time(log, scenario.horizon),
        cost_usd=cost,
        billing=replica_hours(replica_lines),
        log=log,
    )
