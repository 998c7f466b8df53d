"""The prices a scenario bills at: its `[pricing]` overrides, else the catalog's, per market."""

from __future__ import annotations

from dataclasses import dataclass

from sim.errors import CapsimError
from sim.scenario.catalog import find_price
from sim.scenario.plugins import AUTOSCALING, MARKETS
from sim.scenario.schema import Scenario


@dataclass(frozen=True)
class Rates:
    """USD per replica-second by market, and the billing rules."""

    usd_per_replica_s: dict[str, float]
    granularity_s: float
    minimum_billed_s: float
    reserved_replicas: int
    billed_only_busy: bool


def resolve_rates(scenario: Scenario) -> Rates:
    """Per-replica prices for the markets this scenario can use, from overrides or the catalog."""
    fleet = scenario.fleet
    pricing = scenario.pricing
    gpus = fleet.gpus_per_replica
    per_gpu_hour: dict[str, float] = {}
    for market in ("on-demand", "spot", "reserved", "serverless"):
        override = {
            "on-demand": pricing.gpu_usd_per_hour,
            "spot": pricing.spot_usd_per_hour,
            "reserved": pricing.reserved_usd_per_hour,
            "serverless": None
            if pricing.serverless_usd_per_s is None
            else pricing.serverless_usd_per_s * 3600.0,
        }[market]
        if override is not None:
            per_gpu_hour[market] = override
            continue
        try:
            per_gpu_hour[market] = find_price(fleet.gpu, fleet.provider, market).usd_per_gpu_hour
        except CapsimError:
            continue
    return Rates(
        usd_per_replica_s={m: p * gpus / 3600.0 for m, p in per_gpu_hour.items()},
        granularity_s=pricing.billing_granularity,
        minimum_billed_s=pricing.minimum_billed,
        reserved_replicas=pricing.reserved_replicas,
        billed_only_busy=scenario.autoscaling.billed_only_busy,
    )


PRICE_OVERRIDES = {
    "on-demand": "gpu_usd_per_hour",
    "spot": "spot_usd_per_hour",
    "reserved": "reserved_usd_per_hour",
    "serverless": "serverless_usd_per_s",
}


def markets_needed(scenario: Scenario) -> list[str]:
    """The markets whose prices a run of this scenario bills."""
    fleet = scenario.fleet
    if AUTOSCALING[scenario.autoscaling.policy].containers or MARKETS[fleet.market].containers:
        return ["serverless"]
    markets = {fleet.market}
    if fleet.spot_fraction is not None:
        markets = {"on-demand", "spot"} - ({"spot"} if fleet.spot_fraction == 0 else set())
        if fleet.spot_fraction == 1:
            markets = {"spot"}
    if "spot" in markets and scenario.spot.capacity_shortage_probability > 0:
        markets.add("on-demand")
    if scenario.pricing.reserved_replicas:
        markets.add("reserved")
    return sorted(markets)


MIN_HORIZON_S = 1.0


def shortest_horizon_s(scenario: Scenario) -> float:
    """The shortest horizon whose bill scales honestly to a month (see `billing_problem`)."""
    autoscaling = scenario.autoscaling
    serverless = (
        AUTOSCALING[autoscaling.policy].containers or MARKETS[scenario.fleet.market].containers
    )
    if autoscaling.billed_only_busy and serverless:
        return MIN_HORIZON_S  # billed by the busy second: no minimum, no granularity
    pricing = scenario.pricing
    return max(MIN_HORIZON_S, pricing.minimum_billed, pricing.billing_granularity)


def billing_problem(scenario: Scenario) -> str | None:
    """Why this scenario's bill cannot be scaled to a month honestly, or None.

    (The schema bounds every price.) The horizon must cover the billing minimum and
    granularity: a replica still up at the end would otherwise be billed a whole
    minimum for a sliver of horizon, and the month scaled from that.
    """
    horizon_s = scenario.horizon
    if horizon_s >= shortest_horizon_s(scenario):
        return None
    if horizon_s < MIN_HORIZON_S:
        return (
            f"horizon: must be at least {MIN_HORIZON_S:g} s to scale a bill to a month "
            f"(got {horizon_s:g} s)"
        )
    pricing = scenario.pricing
    key, billed_s = max(
        ("minimum_billed", pricing.minimum_billed),
        ("billing_granularity", pricing.billing_granularity),
        key=lambda item: item[1],
    )
    return (
        f"horizon: {horizon_s:g} s is shorter than pricing.{key} ({billed_s:g} s), "
        f"so the monthly cost would be scaled from a bill the horizon does not "
        f"cover; use a horizon of at least {billed_s:g} s or lower pricing.{key}"
    )
