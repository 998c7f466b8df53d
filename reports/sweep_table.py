"""The terminal table for `capsim sweep`: one row per point of the grid."""

from __future__ import annotations

import math
from typing import Any

from rich.table import Table

from sim.scenario.units import format_duration


def _usd(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"${value:,.0f}" if value >= 100 else f"${value:,.2f}"


def _chance(value: float | None, interval: tuple[float, float] | None) -> str:
    if value is None:
        return "-"
    low, high = interval or (math.nan, math.nan)
    return f"{100 * value:.0f}% ({100 * low:.0f}-{100 * high:.0f}%)"


def sweep_table(manifest: dict[str, Any], summaries: list[dict[str, Any]]) -> Table:
    """Throughput, cost p50/p95, each day's e2e p99 (median day), and the risks, per point
    (the throughput column is the view of a closed loop's sweep over traffic.concurrency)."""
    keys = [entry["key"] for entry in manifest["grid"]]
    n = manifest["replications"]
    name, seed = manifest["scenario"]["name"], manifest["seed"]
    table = Table(title=f"{name}: sweep, {n} replications per point, seed {seed}")
    for key in keys:
        table.add_column(key)
    for heading in (
        "req/s p50",
        "$/mo p50",
        "$/mo p95",
        "e2e p99 (median day)",
        "P(miss SLO)",
        "P(over budget)",
    ):
        table.add_column(heading, justify="right")
    for entry in summaries:
        settings = [str(entry["settings"][key]) for key in keys]
        if not entry["replications"]:
            reason = "skipped: invalid" if entry["error"] else "not run"
            table.add_row(*settings, reason, "", "", "", "", "")
            continue
        p99 = entry["e2e_p99_s"]["p50"]
        table.add_row(
            *settings,
            f"{entry['throughput_per_s']['p50']:,.3g}" if "throughput_per_s" in entry else "-",
            _usd(entry["cost_monthly_usd"]["p50"]),
            _usd(entry["cost_monthly_usd"]["p95"]),
            "-" if math.isnan(p99) else format_duration(p99),
            _chance(entry["p_slo_violation"], entry.get("p_slo_violation_ci95")),
            _chance(entry["p_over_budget"], entry.get("p_over_budget_ci95")),
        )
    return table
