"""The terminal table for `capsim levers`: each cost lever alone and together, beside seed 002."""

from __future__ import annotations

import math
from typing import Any

from rich.table import Table

from reports.compare_table import _fmt, slo_column_label
from sim.scenario.units import SECONDS_PER_DAY


def _pct(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{-100 * value:+.0f}%"  # a saving of 0.3 reads -30%


def levers_table(
    rows: list[dict[str, Any]], scenario: str, horizon_s: float = SECONDS_PER_DAY
) -> Table:
    """Cost p50 (p95 / p99) and the change against the baseline, the BOTEC's, the seed's claim."""
    n = rows[0]["replications"] if rows else 0
    table = Table(title=f"{scenario}: cost levers on the same traffic and seeds ({n} replications)")
    table.add_column("lever", no_wrap=True)
    table.add_column("setting", max_width=34, overflow="fold")
    table.add_column("$/mo p50 (p95 / p99)", justify="right", no_wrap=True)
    table.add_column("change", justify="right", no_wrap=True)
    table.add_column("BOTEC $/mo (change)", justify="right", no_wrap=True)
    table.add_column("seed 002 claims", max_width=30, overflow="fold")
    table.add_column("e2e p99", justify="right", no_wrap=True)
    table.add_column(slo_column_label(horizon_s), justify="right", no_wrap=True)
    table.add_column("saves?", no_wrap=True)
    base_replicas = rows[0]["replicas_setting"] if rows else 0
    for row in rows:
        baseline = row["policy"] == "baseline"
        setting = "; ".join(row["defaults"]) or ", ".join(
            f"{k}={v}" for k, v in row["settings"].items() if len(str(v)) < 30
        )
        if row["replicas_setting"] != base_replicas:
            setting += f" (fleet.replicas {row['replicas_setting']})"
        saves = "" if baseline else ("yes" if row["saving_fraction"] > 0 else "NO (below)")
        table.add_row(
            row["policy"],
            setting or "as the scenario is written",
            f"{_fmt(row['cost_monthly_usd_p50'], 'usd')} "
            f"({_fmt(row['cost_monthly_usd_p95'], 'usd')} / "
            f"{_fmt(row['cost_monthly_usd_p99'], 'usd')})",
            "" if baseline else _pct(row["saving_fraction"]),
            f"{_fmt(row['botec_monthly_usd'], 'usd')}"
            + ("" if baseline else f" ({_pct(row['botec_saving_fraction'])})"),
            row["seed_claim"],
            _fmt(row["latency_e2e_s_p99"], "s"),
            _fmt(row["slo_days_met_share"], "share"),
            saves,
        )
    table.caption = (
        "change: the p50 monthly cost against the baseline's, simulated on the same seeds "
        "(-30% is a 30% saving); BOTEC: the main fleet sized at the peak at 100% busy plus "
        "each lever's cache, API and batch bills (so a scaling policy changes nothing there); "
        "seed 002 claims a saving for every lever; a fixed fleet is re-sized by the BOTEC's "
        "GPU work at the peak for the levers that change it (fleet.replicas N)"
    )
    return table


def lever_notes(rows: list[dict[str, Any]]) -> list[str]:
    """Below the table: why a lever does not save, and each lever's caveat."""
    lines = []
    for row in rows:
        if row["policy"] != "baseline" and not row["saving_fraction"] > 0:
            lines.append(f"{row['policy']}: {row['direction']}")
    return lines
