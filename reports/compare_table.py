"""The terminal table for `capsim compare`: one row per autoscaling policy."""

from __future__ import annotations

import math
from typing import Any

from rich.table import Table

from sim.scenario.units import SECONDS_PER_DAY, format_duration


def _fmt(value: Any, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if kind == "usd":
        return f"${value:,.0f}" if value >= 100 else f"${value:,.2f}"
    if kind == "s":
        return format_duration(value)
    if kind == "share":
        return f"{100 * value:.0f}%"
    if kind == "count":
        return f"{value:,.0f}" if isinstance(value, int) or value >= 10 else f"{value:.1f}"
    return str(value)


def slo_column_label(horizon_s: float) -> str:
    """The SLO column's header: each replication is one horizon, a day only when it is one."""
    if horizon_s == SECONDS_PER_DAY:
        return "SLO days"
    return f"SLO met per {format_duration(horizon_s)}"


def compare_table(
    rows: list[dict[str, Any]], scenario: str, horizon_s: float = SECONDS_PER_DAY
) -> Table:
    """Cost, latency, SLO, fleet and request figures per policy, same traffic and seeds."""
    n = rows[0]["replications"] if rows else 0
    horizon = "day" if horizon_s == SECONDS_PER_DAY else "replication"
    table = Table(title=f"{scenario}: autoscaling policies on the same traffic ({n} replications)")
    table.add_column("policy", no_wrap=True)
    table.add_column("$/mo p50 (p95)", justify="right", no_wrap=True)
    table.add_column("e2e p50 / p99", justify="right", no_wrap=True)
    table.add_column("worst hr p99", justify="right", no_wrap=True)
    table.add_column(slo_column_label(horizon_s), justify="right", no_wrap=True)
    table.add_column("replicas", justify="right", no_wrap=True)
    table.add_column("cold starts", justify="right", no_wrap=True)
    table.add_column("reclaims", justify="right", no_wrap=True)
    table.add_column("requests", justify="right", no_wrap=True)
    table.add_column("retried", justify="right", no_wrap=True)
    for row in rows:
        outcomes = " / ".join(
            f"{row[f'requests_{key}']:,}"
            for key in ("completed", "dropped", "timed_out", "lost", "in_flight")
        )
        table.add_row(
            row["policy"],
            f"{_fmt(row['cost_monthly_usd_p50'], 'usd')} "
            f"({_fmt(row['cost_monthly_usd_p95'], 'usd')})",
            f"{_fmt(row['latency_e2e_s_p50'], 's')} / {_fmt(row['latency_e2e_s_p99'], 's')}",
            _fmt(row["worst_hour_p99_e2e_s"], "s"),
            _fmt(row["slo_days_met_share"], "share"),
            f"{row['replicas_min']:.0f} / {row['replicas_mean']:.1f} / {row['replicas_max']:.0f}",
            _fmt(row["cold_starts_per_replication"], "count"),
            _fmt(row["interruptions_per_replication"], "count"),
            outcomes,
            f"{row['requests_retried']:,}",
        )
    table.caption = (
        "replicas: min / time-mean / max; cost, replicas, cold starts, reclaims: per "
        "replication (p50 or mean); latency: pooled over requests; worst hour: slowest "
        f"hour of the median {horizon}; SLO: share of replications ({format_duration(horizon_s)} "
        "each) that met it; requests: completed / dropped / timed out / lost / in flight at "
        "the end, summed over replications"
    )
    return table
