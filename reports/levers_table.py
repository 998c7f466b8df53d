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
    table.add_column("setting", overflow="fold")
    table.add_column("$/mo p50 (p95 / p99)", justify="right", no_wrap=True)
    table.add_column("change", justify="right", no_wrap=True)
    table.add_column("BOTEC $/mo (change)", justify="right", no_wrap=True)
    table.add_column("seed 002 claims", overflow="fold")
    table.add_column("e2e p99", justify="right", no_wrap=True)
    table.add_column(slo_column_label(horizon_s), justify="right", no_wrap=True)
    table.add_column("replicas", justify="right", no_wrap=True)
    table.add_column("verdict", overflow="fold")
    for row in rows:
        setting = "; ".join(row["defaults"]) or ", ".join(
            f"{k}={v}" for k, v in row["settings"].items() if len(str(v)) < 30
        )
        if row["policy"] != "baseline" and "fleet.replicas" not in row["settings"]:
            resized = row["replicas_setting"]
            setting += f" (fleet.replicas {resized})" if resized else ""
        table.add_row(
            row["policy"],
            setting or "as the scenario is written",
            f"{_fmt(row['cost_monthly_usd_p50'], 'usd')} "
            f"({_fmt(row['cost_monthly_usd_p95'], 'usd')} / "
            f"{_fmt(row['cost_monthly_usd_p99'], 'usd')})",
            "" if row["policy"] == "baseline" else _pct(row["saving_fraction"]),
            f"{_fmt(row['botec_monthly_usd'], 'usd')}"
            + ("" if row["policy"] == "baseline" else f" ({_pct(row['botec_saving_fraction'])})"),
            row["seed_claim"],
            _fmt(row["latency_e2e_s_p99"], "s"),
            _fmt(row["slo_days_met_share"], "share"),
            f"{row['replicas_mean']:.1f}",
            row["direction"],
        )
    table.caption = (
        "change: the p50 monthly cost against the baseline's, simulated on the same seeds "
        "(-30% is a 30% saving); BOTEC: the fleet sized at the peak at 100% busy plus each "
        "lever's cache, API and batch bills; seed 002 claims a saving for every lever; "
        "replicas: time-mean of the main fleet; a fixed fleet is re-sized by the BOTEC's GPU "
        "work at the peak for levers that change it"
    )
    return table
