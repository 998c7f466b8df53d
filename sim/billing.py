"""The cost accumulator: every replica-second billed by market, plus API, storage, bandwidth.

Prices are resolved once per scenario (`resolve_rates`); a replication's bill is
then a pure function of its replicas' lifetimes and its completed requests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.catalog import find_price
from sim.errors import CapsimError
from sim.scenario import Scenario
from sim.units import SECONDS_PER_MONTH


@dataclass(frozen=True)
class Rates:
    """USD per replica-second by market, and the billing rules."""

    usd_per_replica_s: dict[str, float]
    granularity_s: float
    minimum_billed_s: float
    reserved_replicas: int
    billed_only_busy: bool


@dataclass(frozen=True)
class ReplicaLifetime:
    """What billing needs to know of one replica."""

    market: str
    started_s: float
    stopped_s: float | None  # None: still up when the run ended
    busy_s: float


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


# Prices above these are typing errors, not markets (the catalog's dearest GPU-hour is
# under $15); they also keep every cost finite.
PRICE_LIMITS = {
    "gpu_usd_per_hour": (1000.0, "USD per GPU-hour"),
    "spot_usd_per_hour": (1000.0, "USD per GPU-hour"),
    "reserved_usd_per_hour": (1000.0, "USD per GPU-hour"),
    "serverless_usd_per_s": (0.3, "USD per GPU-second"),
    "storage_usd_per_gb_month": (100.0, "USD per GB-month"),
    "egress_usd_per_gb": (100.0, "USD per GB"),
    "ingress_usd_per_gb": (100.0, "USD per GB"),
}
API_PRICE_LIMIT_USD_PER_1K = 100.0
MIN_HORIZON_S = 1.0


def billing_problem(scenario: Scenario) -> str | None:
    """Why this scenario's bill cannot be priced or scaled to a month honestly, or None.

    Prices must be finite and sane. The horizon must cover the billing minimum and
    granularity: a replica still up at the end would otherwise be billed a whole
    minimum for a sliver of horizon, and the month scaled from that.
    """
    pricing = scenario.pricing
    for key, (limit, unit) in PRICE_LIMITS.items():
        value = getattr(pricing, key)
        if value is not None and not value <= limit:
            return f"pricing.{key}: must be at most {limit:g} ({unit}), got {value:g}"
    for key in ("input_usd_per_1k_tokens", "output_usd_per_1k_tokens"):
        value = getattr(scenario.api, key)
        if not value <= API_PRICE_LIMIT_USD_PER_1K:
            return (
                f"api.{key}: must be at most {API_PRICE_LIMIT_USD_PER_1K:g} "
                f"(USD per 1k tokens), got {value:g}"
            )
    horizon_s = scenario.horizon
    if horizon_s < MIN_HORIZON_S:
        return (
            f"horizon: must be at least {MIN_HORIZON_S:g} s to scale a bill to a month "
            f"(got {horizon_s:g} s)"
        )
    serverless_busy_only = scenario.autoscaling.billed_only_busy and (
        scenario.fleet.market == "serverless" or scenario.autoscaling.policy == "serverless"
    )
    if serverless_busy_only:
        return None  # billed by the busy second: no minimum, no granularity
    for key, billed_s in (
        ("minimum_billed", pricing.minimum_billed),
        ("billing_granularity", pricing.billing_granularity),
    ):
        if horizon_s < billed_s:
            return (
                f"horizon: {horizon_s:g} s is shorter than pricing.{key} ({billed_s:g} s), "
                f"so the monthly cost would be scaled from a bill the horizon does not "
                f"cover; use a horizon of at least {billed_s:g} s or lower pricing.{key}"
            )
    return None


def billed_seconds(lifetime_s: float, granularity_s: float, minimum_s: float) -> float:
    """Seconds charged for `lifetime_s` up: rounded up to the granularity, at least the minimum."""
    if lifetime_s <= 0:
        return 0.0
    rounded = math.ceil(lifetime_s / granularity_s - 1e-9) * granularity_s
    return max(rounded, minimum_s)


def replica_cost_usd(
    replicas: list[ReplicaLifetime], rates: Rates, horizon_s: float
) -> dict[str, float]:
    """Replica cost by market over [0, horizon], and billed versus busy replica-seconds.

    Reserved replicas are paid by the commitment (`reserved_replicas` for the
    whole horizon, used or not); reserved time beyond it is billed at the on-demand
    rate. Without a commitment, reserved replicas pay the reserved rate as they run.
    """
    lines: dict[str, float] = {}
    billed_total_s = 0.0
    busy_total_s = 0.0
    reserved_spans: list[tuple[float, float]] = []
    for replica in replicas:
        stop = horizon_s if replica.stopped_s is None else min(replica.stopped_s, horizon_s)
        up_s = max(0.0, stop - replica.started_s)
        busy_total_s += min(replica.busy_s, up_s) if replica.market != "serverless" else 0.0
        if replica.market == "reserved" and rates.reserved_replicas:
            reserved_spans.append((replica.started_s, replica.started_s + up_s))
            continue
        if replica.market == "serverless" and rates.billed_only_busy:
            charged_s = replica.busy_s
        else:
            charged_s = billed_seconds(up_s, rates.granularity_s, rates.minimum_billed_s)
        if replica.market == "serverless":
            busy_total_s += min(replica.busy_s, charged_s)
        line = "serverless" if replica.market == "serverless" else f"gpu_{replica.market}"
        lines[line] = lines.get(line, 0.0) + charged_s * _rate(rates, replica.market)
        billed_total_s += charged_s
    if rates.reserved_replicas:
        committed_s = rates.reserved_replicas * horizon_s
        lines["gpu_reserved_commitment"] = committed_s * _rate(rates, "reserved")
        overflow_s = seconds_above(reserved_spans, rates.reserved_replicas)
        if overflow_s > 0:
            market = "on-demand" if "on-demand" in rates.usd_per_replica_s else "reserved"
            lines["gpu_reserved_overflow"] = overflow_s * _rate(rates, market)
        billed_total_s += committed_s + overflow_s
    return {**lines, "_billed_replica_s": billed_total_s, "_busy_replica_s": busy_total_s}


def _rate(rates: Rates, market: str) -> float:
    if market not in rates.usd_per_replica_s:
        raise CapsimError(f"no price for market {market!r}: set it under [pricing]")
    return rates.usd_per_replica_s[market]


def seconds_above(spans: list[tuple[float, float]], level: int) -> float:
    """Replica-seconds beyond `level` replicas up at once, for intervals [start, stop)."""
    changes = sorted([(start, 1) for start, _ in spans] + [(stop, -1) for _, stop in spans])
    above_s = 0.0
    up = 0
    last_s = 0.0
    for time_s, delta in changes:
        above_s += max(0, up - level) * (time_s - last_s)
        up += delta
        last_s = time_s
    return above_s


def request_cost_usd(
    scenario: Scenario, completed: int, prompt_tokens: np.ndarray, output_tokens: np.ndarray
) -> dict[str, float]:
    """API tokens (when a hosted model serves), storage and bandwidth over the horizon."""
    lines: dict[str, float] = {}
    api = scenario.api
    if api.use:
        per_request = (
            prompt_tokens * api.input_usd_per_1k_tokens
            + output_tokens * api.output_usd_per_1k_tokens
        ) / 1000.0
        discount = 1.0 - api.batch_share * api.batch_discount
        lines["api_tokens"] = float(per_request.sum()) * discount
    pricing = scenario.pricing
    horizon_months = scenario.horizon / SECONDS_PER_MONTH
    storage_gb = storage_gb_month(scenario)
    if storage_gb and pricing.storage_usd_per_gb_month:
        lines["storage"] = storage_gb * pricing.storage_usd_per_gb_month * horizon_months
    requests = scenario.requests
    if pricing.egress_usd_per_gb and requests.response_bytes:
        lines["egress"] = completed * requests.response_bytes / 1e9 * pricing.egress_usd_per_gb
    if pricing.ingress_usd_per_gb and requests.request_bytes:
        lines["ingress"] = completed * requests.request_bytes / 1e9 * pricing.ingress_usd_per_gb
    return lines


def storage_gb_month(scenario: Scenario) -> float:
    """GB kept through a month: model weights, user profiles, retained interaction data."""
    storage = scenario.storage
    users = storage.users
    if users is None:
        users = scenario.traffic.daily_active_users or 0.0
    profiles = users * storage.user_profile_bytes
    per_day = (
        scenario.traffic.requests_per_day_mean
        * storage.interaction_bytes
        * (1 + storage.index_overhead)
    )
    return (scenario.model.weight_bytes + profiles + per_day * storage.retention_days) / 1e9


def cost_summary(
    replica_lines: dict[str, float],
    request_lines: dict[str, float],
    horizon_s: float,
    completed: int,
) -> dict[str, float]:
    """Line items and totals per horizon and per 30-day month, per request and per 1k."""
    lines = {k: v for k, v in replica_lines.items() if not k.startswith("_")}
    lines.update(request_lines)
    total = sum(lines.values())
    scale = SECONDS_PER_MONTH / horizon_s
    out = {f"horizon_{k}": v for k, v in lines.items()}
    out.update({f"monthly_{k}": v * scale for k, v in lines.items()})
    out["horizon_total"] = total
    out["monthly_total"] = total * scale
    out["per_request"] = total / completed if completed else math.nan
    out["per_1k_requests"] = out["per_request"] * 1000
    return out


def replica_hours(replica_lines: dict[str, float]) -> dict[str, float]:
    """Replica-hours billed and busy over the horizon (their ratio is the paid utilisation)."""
    return {
        "billed_replica_hours": replica_lines["_billed_replica_s"] / 3600.0,
        "busy_replica_hours": replica_lines["_busy_replica_s"] / 3600.0,
    }
