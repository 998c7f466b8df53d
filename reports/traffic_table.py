"""Rich tables of one replication's traffic: arrivals per bin, and the summary figures."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table

from sim.scenario.units import format_duration


def _clock(seconds: float) -> str:
    """Bin start as [Nd ]HH:MM[:SS] from the start of the run."""
    days, rest = divmod(round(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")
    return f"{days}d {clock}" if days else clock


def bins_table(summary: dict[str, Any], max_rows: int | None = 100) -> Table:
    """Per-bin arrivals, measured and target rate; the middle is elided past max_rows."""
    counts = summary["counts"]
    bin_s = float(summary["bin_s"])
    rates = summary["rate_per_s"]
    target = summary.get("target_rate_per_s") or [None] * len(counts)
    table = Table(title=f"Arrivals per {format_duration(bin_s)} bin", title_justify="left")
    table.add_column("bin start", justify="right")
    table.add_column("arrivals", justify="right")
    table.add_column("rate (req/s)", justify="right")
    table.add_column("target (req/s)", justify="right")
    table.add_column("measured / target", justify="right")
    rows = list(range(len(counts)))
    if max_rows is not None and len(rows) > max_rows:
        half = max_rows // 2
        rows = [*rows[:half], -1, *rows[-half:]]
    for i in rows:
        if i < 0:
            table.add_row("...", "", "", "", "")
            continue
        rate = rates[i]
        goal = target[i]
        ratio = f"{rate / goal:.3f}" if goal else ""
        goal_text = f"{goal:,.3f}" if goal is not None else ""
        table.add_row(_clock(i * bin_s), f"{counts[i]:,}", f"{rate:,.3f}", goal_text, ratio)
    return table


def summary_table(summary: dict[str, Any]) -> Table:
    """Totals, rates, token-count statistics and class counts."""
    table = Table(title="Traffic summary", title_justify="left", show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("scenario", str(summary.get("scenario", "")))
    table.add_row("seed (replication 0)", str(summary.get("seed", "")))
    if "horizon_s" in summary:
        table.add_row("horizon", format_duration(float(summary["horizon_s"])))
    table.add_row("requests", f"{summary['total']:,}")
    table.add_row("expected requests", f"{summary['expected_total']:,.1f}")
    table.add_row("mean rate (req/s)", f"{summary['mean_rate_per_s']:,.3f}")
    table.add_row("peak bin rate (req/s)", f"{summary['peak_rate_per_s']:,.3f}")
    for kind in ("prompt_tokens", "output_tokens"):
        stats = summary[kind]
        table.add_row(
            kind.replace("_", " "),
            f"mean {stats['mean']:,.1f}  p50 {stats['p50']:,.0f}  p90 {stats['p90']:,.0f}  "
            f"p99 {stats['p99']:,.0f}  cv {stats['cv']:.2f}",
        )
    for name, count in summary.get("classes", {}).items():
        share = count / summary["total"] if summary["total"] else 0.0
        table.add_row(f"class {name}", f"{count:,} ({share:.1%})")
    return table


def traffic_table(summary: dict[str, Any], max_rows: int | None = 100) -> Group:
    """The per-bin table and the summary table, as one renderable."""
    return Group(bins_table(summary, max_rows), summary_table(summary))
