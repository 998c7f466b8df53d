"""The terminal table for `capsim size`: one row per candidate, cheapest accepted first."""

from __future__ import annotations

import math
from typing import Any

from rich.table import Table

from sim.scenario.units import format_duration


def _usd(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"${value:,.0f}" if value >= 100 else f"${value:,.2f}"


def _share(summary: dict[str, Any] | None) -> str:
    """Good days as a count and a share with its 95% Wilson interval."""
    if summary is None:
        return "-"
    low, high = summary["good_share_ci95"]
    return (
        f"{summary['good_days']}/{summary['replications']} "
        f"({100 * low:.0f}-{100 * high:.0f}%) {summary['status']}"
    )


def size_table(document: dict[str, Any]) -> Table:
    """Setting, cost, tail latency, good days and utilisation; one replica fewer; the BOTEC."""
    title = (
        f"{document['scenario']}: cheapest fleet meeting the SLO on at least "
        f"{100 * document['confidence']:g}% of days (seed {document['seed']}, "
        f"up to {document['max_replications']} replications per setting)"
    )
    table = Table(title=title)
    for heading in ("", "GPU", "TP", "market", "policy", "setting"):
        table.add_column(heading)
    for heading in (
        "$/mo p50",
        "$/mo p95",
        "e2e p99 (median day)",
        "good days (95% CI)",
        "util p50",
        "one fewer: good days",
        "BOTEC",
        "ratio",
    ):
        table.add_column(heading, justify="right")
    for row in document["candidates"]:
        chosen = row["chosen"]
        mark = "*" if row["cheapest"] else ""
        head = [mark, row["gpu"], str(row["tensor_parallel"]), row["market"], row["policy"]]
        botec = f"{row['botec_replicas']} ({_usd(row['botec_monthly_usd'])})"
        if chosen is None:
            table.add_row(*head, row["status"], "", "", "", "", "", "", botec, "-")
            continue
        p99 = chosen["e2e_p99_s"]["p50"]
        table.add_row(
            *head,
            row["setting"],
            _usd(chosen["cost_monthly_usd"]["p50"]),
            _usd(chosen["cost_monthly_usd"]["p95"]),
            "-" if math.isnan(p99) else format_duration(p99),
            _share(chosen),
            f"{100 * chosen['utilization']['p50']:.0f}%",
            _share(row["next_cheaper"]),
            botec,
            f"{row['replicas_over_botec_ratio']:.2f}",
        )
    notes = [
        f"{row['gpu']} x{row['tensor_parallel']} {row['market']}: {row['note']}"
        for row in document["candidates"]
        if row["note"]
    ]
    notes += [
        f"{row['gpu']} x{row['tensor_parallel']} {row['market']} target tracking: the next "
        f"target, {row['next_target']['target']:g} at the same minimum: "
        f"{_share(row['next_target'])}"
        for row in document["candidates"]
        if row.get("next_target")
    ]
    if notes:
        table.caption = "\n".join(notes)
    return table
