"""The BOTEC's headline figures for a scenario, as `run` prints them beside the simulation."""

from __future__ import annotations

import math
from typing import Any

from distributions.traffic import expected_request_count
from sim.scenario.plugins import MARKETS
from sim.scenario.prices import resolve_rates
from sim.scenario.schema import Scenario
from sim.scenario.units import SECONDS_PER_MONTH


def botec_headline(scenario: Scenario, botec: dict[str, Any]) -> dict[str, Any]:
    """Mean and offered rates, time per request, replicas of work, and the monthly bill.

    The BOTEC's rate is the plain mean (no bursts or growth); `offered_rate_per_s` is
    the traffic integral the simulation draws from. Replicas are sized at 100% busy,
    as a BOTEC does: the simulation shows what queueing adds.
    """
    traffic = botec.get("traffic", {})
    out: dict[str, Any] = {
        "mean_rate_per_s": traffic.get("requests_per_s", math.nan),
        "peak_rate_per_s": traffic.get("peak_requests_per_s", math.nan),
        "offered_rate_per_s": (
            traffic.get("requests_per_s", math.nan)  # closed loop: the clients' bound
            if scenario.traffic.closed_loop
            else expected_request_count(scenario) / scenario.horizon
        ),
    }
    if "closed_loop" in botec:
        out["closed_loop"] = botec["closed_loop"]
    if "capacity" in botec:
        capacity = botec["capacity"]
        out["request_time_s"] = capacity["request_latency_s"]
        out["replicas_at_mean"] = capacity["dedicated_replicas_at_mean"]
        out["replicas_at_peak"] = capacity["dedicated_replicas_at_peak"]
    elif "inference_roofline" in botec:
        roofline = botec["inference_roofline"]
        sized = roofline.get("batched", roofline)
        gpus = scenario.fleet.gpus_per_replica
        out["request_time_s"] = sized.get("request_latency_s", roofline["inference_time_s"])
        out["replicas_at_mean"] = math.ceil(sized["gpus_needed_at_mean"] / gpus)
        out["replicas_at_peak"] = math.ceil(sized["gpus_needed_at_peak"] / gpus)
    seed = botec.get("inference_seed")
    if seed and "gpus_needed" in seed:
        out["seed_gpus"] = seed["gpus_needed"]  # the seed's own sizing (FLOP/s at the mean)
    serverless = botec.get("serverless")
    if MARKETS[scenario.fleet.market].containers and serverless:
        out["monthly_usd"] = serverless["serverless_usd_per_month"]
        out["monthly_basis"] = "busy seconds x price"
    else:
        rates = resolve_rates(scenario)
        per_replica_s = rates.usd_per_replica_s.get(scenario.fleet.market, math.nan)
        out["monthly_usd"] = scenario.fleet.replicas * per_replica_s * SECONDS_PER_MONTH
        out["monthly_basis"] = f"{scenario.fleet.replicas} replicas x 720 h"
    if "platform" in botec:  # the non-GPU stack, billed beside the fleet
        out["platform_monthly_usd"] = botec["platform"]["total_usd_per_month"]
    return out
