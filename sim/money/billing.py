"""The cost accumulator: every replica-second billed by market, plus API, storage, bandwidth.

Prices are resolved once per scenario (`sim.scenario.prices`); a replication's bill is
then a pure function of its replicas' lifetimes and its completed requests.
"""

from __future__ import annotations

import math

import numpy as np

from sim.engine.outcome import ReplicaLifetime
from sim.errors import CapsimError
from sim.money.platform import platform_usd_per_month
from sim.scenario.plugins import MARKETS
from sim.scenario.prices import Rates
from sim.scenario.schema import Scenario
from sim.scenario.units import SECONDS_PER_MONTH


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
        market = MARKETS[replica.market]
        busy_total_s += min(replica.busy_s, up_s) if not market.containers else 0.0
        if market.committed and rates.reserved_replicas:
            reserved_spans.append((replica.started_s, replica.started_s + up_s))
            continue
        if market.containers and rates.billed_only_busy:
            charged_s = replica.busy_s
        else:
            charged_s = billed_seconds(up_s, rates.granularity_s, rates.minimum_billed_s)
        if market.containers:
            busy_total_s += min(replica.busy_s, charged_s)
        line = "serverless" if market.containers else f"gpu_{replica.market}"
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
    """API tokens (when a hosted model serves), storage, bandwidth and the `[platform]`
    stack over the horizon."""
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
    if scenario.platform is not None:  # the non-GPU stack: deterministic, billed by the month
        lines["platform"] = platform_usd_per_month(scenario.platform) * horizon_months
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
