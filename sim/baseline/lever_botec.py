"""The BOTEC of the cost levers: how the request stream splits, and what each part costs.

Deterministic, at the mean rate (the TTL cache's hit share too), the GPU fleet sized
at the peak at 100% busy like the rest of the BOTEC. `capsim levers` prints it beside
the simulated cost of every lever.
"""

from __future__ import annotations

import math
from typing import Any

from distributions.traffic import output_tokens_mean, prompt_tokens_mean
from sim.baseline.botec import (
    DAYS_PER_MONTH,
    HOURS_PER_MONTH,
    _inference_roofline,
    _inference_seed,
    _requests_per_day,
    dedicated_usd_per_gpu_hour,
    dist_mean,
    profile_peak_to_mean,
    replicas_below_full,
)
from sim.money.lever_billing import (
    batch_api_cost_usd,
    cache_cost_usd,
    routed_api_cost_usd,
)
from sim.scenario import plugins
from sim.scenario.levers import routed_fleet_scenario, ttl_hit_share
from sim.scenario.prices import resolve_rates
from sim.scenario.schema import Scenario
from sim.scenario.units import SECONDS_PER_DAY


def lever_shares(scenario: Scenario) -> dict[str, float]:
    """Expected share of requests each part of the split takes."""
    levers = scenario.levers
    cache = levers.cache
    if cache.ttl is not None and cache.distinct_prompts is not None:
        rate = _requests_per_day(scenario) / SECONDS_PER_DAY
        hit = ttl_hit_share(rate, cache.hit_rate, cache.distinct_prompts, cache.ttl)
    else:
        hit = cache.hit_rate
    batch = (1.0 - hit) * levers.batch.share
    routed = (1.0 - hit - batch) * levers.routing.share
    return {
        "cache_hit_fraction": hit,
        "batch_fraction": batch,
        "routed_fraction": routed,
        "main_fleet_fraction": 1.0 - hit - batch - routed,
    }


def gpu_s_per_request(scenario: Scenario) -> float:
    """Busy replica-seconds per request: batched roofline time, or the given latency."""
    if plugins.SERVICE_MODELS[scenario.service.model].takes_latency:
        assert scenario.service.latency is not None
        return dist_mean(scenario.service.latency)
    rate = _requests_per_day(scenario) / SECONDS_PER_DAY
    seed = _inference_seed(scenario, rate)
    roof = _inference_roofline(scenario, rate, seed["inference_time_s"])
    return roof["batched"]["gpu_time_s_per_request"]


def fleet_usd_per_month(scenario: Scenario, replicas: int) -> float:
    """A month of `replicas` at the scenario's prices; the reserved commitment first."""
    rates = resolve_rates(scenario)
    per_replica_month = HOURS_PER_MONTH * 3600.0
    reserved = min(replicas, scenario.pricing.reserved_replicas)
    if reserved and "reserved" in rates.usd_per_replica_s:
        usd = scenario.pricing.reserved_replicas * rates.usd_per_replica_s["reserved"]
        on_demand = rates.usd_per_replica_s.get("on-demand", rates.usd_per_replica_s["reserved"])
        return (usd + (replicas - reserved) * on_demand) * per_replica_month
    price = dedicated_usd_per_gpu_hour(scenario)
    if price is None:
        return math.nan
    return replicas * scenario.fleet.gpus_per_replica * price * HOURS_PER_MONTH


def lever_botec(scenario: Scenario) -> dict[str, Any]:
    """The split's shares, the main fleet sized for its share, and each part's month."""
    requests_per_day = _requests_per_day(scenario)
    requests_per_month = requests_per_day * DAYS_PER_MONTH
    shares = lever_shares(scenario)
    peak_rate = requests_per_day / SECONDS_PER_DAY * profile_peak_to_mean(scenario)
    work_s = gpu_s_per_request(scenario)
    main_work_at_peak = peak_rate * shares["main_fleet_fraction"] * work_s
    replicas = replicas_below_full(main_work_at_peak) if main_work_at_peak > 0 else 0
    prompt, output = prompt_tokens_mean(scenario), output_tokens_mean(scenario)
    lines = {"gpu_fleet_usd_per_month": fleet_usd_per_month(scenario, replicas)}
    levers = scenario.levers
    if levers.cache.hit_rate:
        hits = shares["cache_hit_fraction"] * requests_per_month
        lines["cache_usd_per_month"] = cache_cost_usd(
            scenario, requests_per_month, hits, DAYS_PER_MONTH * SECONDS_PER_DAY
        )
    routed = shares["routed_fraction"] * requests_per_month
    if routed and levers.routing.to == "api":
        lines["routed_api_usd_per_month"] = routed_api_cost_usd(
            scenario, routed * prompt, routed * output
        )
    elif routed:
        small = routed_fleet_scenario(scenario)
        lines["routed_fleet_usd_per_month"] = fleet_usd_per_month(small, small.fleet.replicas)
    batch = shares["batch_fraction"] * requests_per_month
    if batch:
        lines["batch_api_usd_per_month"] = batch_api_cost_usd(
            scenario, batch * prompt, batch * output
        )
    return {
        **shares,
        "gpu_s_per_request": work_s,
        "prompt_tokens_mean": prompt,
        "output_tokens_mean": output,
        "main_fleet_gpus_of_work_at_peak": main_work_at_peak,
        "main_fleet_replicas_at_peak": replicas,
        "batch_delay_s": levers.batch.delay if levers.batch.share else 0.0,
        **lines,
        "total_usd_per_month": sum(lines.values()),
    }
