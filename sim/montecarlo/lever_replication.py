"""One replication under the cost levers: the split stream's parts simulated and merged.

Cache hits answer at the cache's latency; a routed share goes to a hosted API
(time to first token, then streaming) or runs on its own fleet (a second engine run,
on streams of its own); the batch share goes to the batch API, counted and billed
but kept out of the latency figures (its results come within levers.batch.delay,
which no real-time percentile should mix in). The rest runs on the scenario's fleet.
Logs merge in request order, so percentiles and class figures are of the whole mix.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from distributions.traffic import RequestChunk
from sim.engine.request_log import COMPLETED, RequestLog
from sim.engine.service_time import ServiceModel, build_service_model
from sim.money.billing import replica_cost_usd
from sim.money.lever_billing import batch_api_cost_usd, cache_cost_usd, routed_api_cost_usd
from sim.montecarlo.lever_split import split_stream, subset
from sim.montecarlo.replication import (
    STREAMS,
    LeverExtras,
    _summarize,
    class_summary,
    engine_outcome,
)
from sim.montecarlo.results import ReplicationResult
from sim.scenario.levers import routed_fleet_scenario
from sim.scenario.prices import resolve_rates
from sim.scenario.schema import Scenario

LOG_FIELDS = ("arrival_s", "start_s", "first_token_s", "finish_s", "status", "retries", "replica")


def simulate_levers(
    scenario: Scenario,
    requests: RequestChunk,
    streams: dict[str, np.random.Generator],
    replication: int,
    service: ServiceModel,
    use_simpy: bool = False,
) -> ReplicationResult:
    """The replication's requests split by the levers, each part served, then summarised."""
    lever_rng, routed_rng = streams["levers"].spawn(2)
    split = split_stream(scenario, requests, lever_rng)
    main = subset(requests, split.main)
    outcome = engine_outcome(scenario, main, streams, service, use_simpy)
    kept = ~split.batch  # every request but the batch share has a latency
    log = RequestLog.for_arrivals(requests.arrival_s[kept])
    position = np.cumsum(kept) - 1  # a kept request's row in the merged log
    _place(log, position[split.main], outcome.log)
    done = outcome.log.status == COMPLETED
    lines: dict[str, float] = {}
    events = {
        "cache_hits": int(split.hit.sum()),
        "batch_requests": int(split.batch.sum()),
        "routed_requests": int(split.routed.sum()),
    }
    _place(log, position[split.hit], _answered(scenario, requests, split.hit, "cache"))
    if scenario.levers.cache.hit_rate:
        lines["cache"] = cache_cost_usd(
            scenario, len(requests), events["cache_hits"], scenario.horizon
        )
    routed = split.routed
    if routed.any() and scenario.levers.routing.to == "api":
        _place(log, position[routed], _answered(scenario, requests, routed, "api"))
        lines["routed_api_tokens"] = routed_api_cost_usd(
            scenario,
            float(requests.prompt_tokens[routed].sum()),
            float(requests.output_tokens[routed].sum()),
        )
    elif scenario.levers.routing.share and scenario.levers.routing.to == "fleet":
        small = routed_fleet_scenario(scenario)
        small_streams = dict(zip(STREAMS, routed_rng.spawn(len(STREAMS)), strict=True))
        small_outcome = engine_outcome(
            small, subset(requests, routed), small_streams, build_service_model(small), use_simpy
        )
        _place(log, position[routed], small_outcome.log)
        small_lines = replica_cost_usd(small_outcome.lifetimes, resolve_rates(small), small.horizon)
        for key, value in small_lines.items():
            if not key.startswith("_"):
                lines[f"routed_{key}"] = value
        events["routed_fleet_replicas"] = len(small_outcome.lifetimes)
    batch = split.batch
    if batch.any():
        lines["batch_api_tokens"] = batch_api_cost_usd(
            scenario,
            float(requests.prompt_tokens[batch].sum()),
            float(requests.output_tokens[batch].sum()),
        )
    merged = dataclasses.replace(
        outcome,
        log=log,
        prompt_tokens=requests.prompt_tokens[kept],
        output_tokens=requests.output_tokens[kept],
    )
    extras = LeverExtras(
        batch_completed=int(batch.sum()),
        api_prompt_tokens=outcome.prompt_tokens[done],
        api_output_tokens=outcome.output_tokens[done],
        cost_lines=lines,
        events=events,
    )
    result = _summarize(scenario, merged, service, main.arrival_s, replication, extras)
    result.classes = class_summary(scenario, log, requests.class_index[kept])
    return result


def _place(log: RequestLog, rows: np.ndarray, part: RequestLog) -> None:
    """Write a part's log into the merged log's rows (the part is in arrival order)."""
    for name in LOG_FIELDS:
        getattr(log, name)[rows] = getattr(part, name)


def _answered(scenario: Scenario, requests: RequestChunk, mask: np.ndarray, by: str) -> RequestLog:
    """The log of requests answered off the fleet: by the cache at its latency, or by a
    hosted API (first token after routing.ttft, then output_tokens_per_s)."""
    arrival_s = requests.arrival_s[mask]
    log = RequestLog.for_arrivals(arrival_s)
    log.start_s = arrival_s.copy()
    if by == "cache":
        log.first_token_s = arrival_s + scenario.levers.cache.latency
        log.finish_s = log.first_token_s.copy()
    else:
        routing = scenario.levers.routing
        log.first_token_s = arrival_s + routing.ttft
        streaming_s = (requests.output_tokens[mask] - 1) / routing.output_tokens_per_s
        log.finish_s = log.first_token_s + streaming_s
    log.status[:] = COMPLETED
    return log
