"""One replication: traffic in, a SimPy run of the fleet, a ReplicationResult out."""

from __future__ import annotations

import math

import numpy as np

from distributions.request_classes import class_names
from distributions.tokens import sample
from sim.billing import (
    ReplicaLifetime,
    cost_summary,
    replica_cost_usd,
    replica_hours,
    request_cost_usd,
    resolve_rates,
)
from sim.engine_state import EngineState, Workload
from sim.environment import ServingEnvironment
from sim.fleet import start_fleet
from sim.fleet_series import fleet_series, replica_counts
from sim.request_log import COMPLETED, DROPPED, RequestLog
from sim.results import (
    ReplicationResult,
    latency_over_time,
    request_latencies,
    summarize_latencies,
)
from sim.router import make_router
from sim.scenario import Scenario
from sim.service_time import LatencyModel, ServiceModel, build_service_model
from sim.traffic import RequestChunk

STREAMS = ("traffic", "service", "routing", "fleet", "spot")


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
) -> ReplicationResult:
    """Run the fleet on the given requests and summarise what happened.

    With `keep_log` the result carries the per-request log (for tests and traces).
    """
    service = service or build_service_model(scenario)
    latency_s = None
    if isinstance(service, LatencyModel):
        latency_s = sample(scenario.service.latency, len(requests.arrival_s), streams["service"])
    workload = Workload.from_arrays(
        requests.arrival_s,
        requests.prompt_tokens,
        requests.output_tokens,
        latency_s,
        patience_s=request_patience_s(scenario, requests.class_index),
    )
    env = ServingEnvironment()
    serverless = scenario.autoscaling.policy == "serverless"  # one shared line of requests
    state = EngineState(
        env=env,
        workload=workload,
        service=service,
        batching=scenario.batching,
        router=None if serverless else make_router(scenario.fleet.router, streams["routing"]),
        max_queue=scenario.admission.max_queue,
    )
    start_fleet(state, scenario, service, streams)
    end_s = scenario.horizon + drain_limit_s(scenario)
    env.run_arrivals(state.arrival_s, state.route)
    state.arrivals_done = True
    if env.now < scenario.horizon:
        env.run(until=scenario.horizon)  # the fleet keeps scaling and billing to the end
    if state.resolved < len(state.arrival_s):
        # Let admitted requests finish, up to the drain limit.
        env.run(until=env.any_of([env.timeout(end_s - env.now), state.all_resolved]))
    state.finish_run()
    result = _summarize(scenario, state, replication)
    result.classes = class_summary(scenario, result.log, requests.class_index)
    if not keep_log:
        result.log = None
    return result


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


def _summarize(
    scenario: Scenario,
    state: EngineState,
    replication: int,
) -> ReplicationResult:
    log = RequestLog(
        arrival_s=np.asarray(state.arrival_s, dtype=float),
        start_s=np.asarray(state.start_s, dtype=float),
        first_token_s=np.asarray(state.first_token_s, dtype=float),
        finish_s=np.asarray(state.finish_s, dtype=float),
        status=np.asarray(state.status, dtype=np.int8),
        retries=np.asarray(state.retries, dtype=np.int16),
        replica=np.asarray(state.served_by, dtype=np.int32),
    )
    latencies = request_latencies(log)
    done = log.status == COMPLETED
    output = np.asarray(state.output_tokens)[done]
    decoded = output > 1
    if isinstance(state.service, LatencyModel):
        latencies["tpot"] = np.empty(0)  # a given per-request latency has no token timing
    else:
        latencies["tpot"] = (log.finish_s[done][decoded] - log.first_token_s[done][decoded]) / (
            output[decoded] - 1
        )
    stats, histograms, sums = summarize_latencies(latencies)
    end_s = state.env.now
    replica_seconds = sum(
        (r.stopped_s if r.stopped_s is not None else end_s) - r.ready_s
        for r in state.replicas
        if r.ready_s is not None
    )
    busy_s = sum(r.busy_s for r in state.replicas)
    running_area = sum(r.running_area for r in state.replicas)
    lines = {id(r.line): r.line for r in state.replicas}
    queue_area = sum(line.length_area for line in lines.values()) + state.holding_line.length_area
    counts = log.counts()
    series = fleet_series(state.fleet_events, state.arrival_s, scenario.horizon)
    lifetimes = [
        ReplicaLifetime(r.market, r.started_s, r.stopped_s, r.busy_s) for r in state.replicas
    ]
    completed_mask = log.status == COMPLETED
    replica_lines = replica_cost_usd(lifetimes, resolve_rates(scenario), scenario.horizon)
    cost = cost_summary(
        replica_lines,
        request_cost_usd(
            scenario,
            counts["completed"],
            np.asarray(state.prompt_tokens)[completed_mask],
            np.asarray(state.output_tokens)[completed_mask],
        ),
        scenario.horizon,
        counts["completed"],
    )
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
        mean_running_per_replica=running_area / replica_seconds if replica_seconds > 0 else 0.0,
        mean_queue_length=queue_area / end_s if end_s > 0 else 0.0,
        replica_seconds=replica_seconds,
        replicas=replica_counts(state.fleet_events, scenario.horizon),
        events=dict(state.counters),
        fleet_series=series,
        latency_series=latency_over_time(log, scenario.horizon),
        cost_usd=cost,
        billing=replica_hours(replica_lines),
        log=log,
    )
