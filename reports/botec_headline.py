"""The short BOTEC `capsim botec` prints by default: fleet, time, money, beside the seed's.

A dozen lines a new user can read: requests per second, time per request against
the SLO, replicas at 100% busy, the month's bill (the scenario's fleet, the fleet
sized for the peak, the alternatives the scenario prices), each with the figure
the seed printed for it in the same unit, then a count of the seed's figures by
verdict naming the ones that differ. `--full` prints every table instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from reports.botec_table import MARKS, SeedCheck, format_value, seed_in_capsim_unit, seed_rows
from reports.botec_table import seed_value as seed_number
from sim.scenario.units import format_duration

MAX_NAMED = 4  # seed figures named below the table; the rest are counted


def usd(value: float) -> str:
    """Dollars: cents below $1,000, whole dollars above."""
    return f"${value:,.2f}" if abs(value) < 1000 else f"${value:,.0f}"


def count(value: float) -> str:
    """A count or rate: thousands separators, three significant digits below ten."""
    if abs(value) >= 10:
        return f"{value:,.0f}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class HeadlineRow:
    """One headline figure; the seed's figures at `seed_paths` are shown beside it in `fmt`."""

    label: str
    capsim: str
    seed_paths: tuple[str, ...] = ()
    fmt: Callable[[float], str] = format_value
    note: str = ""


def headline_rows(
    result: dict[str, Any], headline: dict[str, Any], slo_p99_s: float | None
) -> list[HeadlineRow]:
    """The headline's figures for this BOTEC, from `sim.baseline.botec_headline`'s numbers."""
    rows = [
        HeadlineRow(
            "requests per second",
            f"{count(headline['mean_rate_per_s'])} mean, {count(headline['peak_rate_per_s'])} peak",
            ("traffic.requests_per_s",),
            count,
        )
    ]
    closed = result.get("closed_loop")
    if closed is not None:
        rows.append(
            HeadlineRow(
                "closed-loop clients",
                f"{closed['concurrency']:,} clients, think "
                f"{format_duration(closed['think_time_mean_s'])}:"
                f" <= {count(closed['clients_bound_per_s'])}/s by the clients,"
                f" <= {count(closed['fleet_bound_per_s'])}/s by the fleet",
            )
        )
    roofline = result.get("inference_roofline")
    if roofline is not None:
        batched = roofline.get("batched")
        alone = format_duration(roofline["inference_time_s"])
        time_text = (
            f"{format_duration(batched['request_latency_s'])} at batch "
            f"{batched['batch_size_requests']}, {alone} at batch 1"
            if batched
            else alone
        )
        rows.append(
            HeadlineRow(
                "time per request (no queueing)",
                time_text,
                ("inference_seed.inference_time_s",),
                format_duration,
                "compute-bound at 100% of peak",
            )
        )
    elif "request_time_s" in headline:
        rows.append(
            HeadlineRow(
                "time per request (no queueing)", format_duration(headline["request_time_s"])
            )
        )
    slo = "none set" if slo_p99_s is None else f"<= {format_duration(slo_p99_s)}"
    rows.append(HeadlineRow("SLO: p99 end to end (capsim run)", slo))
    if "replicas_at_mean" in headline:
        rows.append(
            HeadlineRow(
                "replicas needed (100% busy)",
                f"{headline['replicas_at_mean']:,} at mean, "
                f"{headline['replicas_at_peak']:,} at peak",
                ("inference_seed.gpus_needed", "capacity.dedicated_replicas_at_peak"),
                count,
                "its formula, at the mean" if roofline is not None else "at the peak",
            )
        )
    serverless_market = _serverless_market(headline)
    rows.append(
        HeadlineRow(
            "cost per month (30 d)",
            f"{usd(headline['monthly_usd'])} ({headline['monthly_basis']})",
            ("serverless.serverless_usd_per_month",) if serverless_market else (),
            usd,
        )
    )
    rows.extend(_alternatives(result, serverless_market))
    rows.extend(_platform_rows(result.get("platform")))
    return rows


def _serverless_market(headline: dict[str, Any]) -> bool:
    """Whether the scenario's own bill is serverless (`botec_headline` bills busy seconds)."""
    return headline.get("monthly_basis") == "busy seconds x price"


def _alternatives(result: dict[str, Any], serverless_market: bool) -> list[HeadlineRow]:
    """The other bills the BOTEC prices: a peak-sized fleet, serverless, a hosted API."""
    rows = []
    fleet = result.get("fleet_cost")
    roofline = result.get("inference_roofline", {})
    if fleet is not None and roofline.get("batched"):
        gpus = roofline["batched"]["gpus_needed_at_peak"]
        rows.append(
            HeadlineRow(
                "fleet sized for the peak",
                f"{usd(fleet['roofline_batched_gpus_at_peak_usd_per_month'])} "
                f"({gpus:,} GPUs x {usd(fleet['gpu_usd_per_month'])})",
            )
        )
    dedicated = result.get("dedicated")
    if dedicated is not None:
        rows.append(
            HeadlineRow(
                "dedicated, one replica",
                usd(dedicated["dedicated_usd_per_month"]),
                ("dedicated.dedicated_usd_per_month",),
                usd,
            )
        )
        replicas = dedicated["capsim_replicas_at_peak"]
        rows.append(
            HeadlineRow(
                "dedicated, sized for the peak",
                f"{usd(dedicated['capsim_peak_sized_usd_per_month'])} "
                f"({replicas} replica{'' if replicas == 1 else 's'})",
                ("dedicated.capsim_peak_sized_usd_per_month",),
                usd,
            )
        )
    serverless = result.get("serverless")
    if serverless is not None:
        busy = serverless["serverless_usd_per_month"]
        idle = serverless["capsim_with_idle_and_cold_start_usd_per_month"]
        with_idle = f"{usd(idle)} with idle timeout and cold starts"
        if not serverless_market:
            text = f"{usd(busy)} busy seconds only"
            if not math.isclose(busy, idle):
                text += f", {with_idle}"
            rows.append(
                HeadlineRow(
                    "serverless instead", text, ("serverless.serverless_usd_per_month",), usd
                )
            )
        elif not math.isclose(busy, idle):
            rows.append(HeadlineRow("serverless, idle billed too", with_idle))
    comparison = result.get("comparison")
    if comparison is not None:
        rows.append(
            HeadlineRow(
                "break-even, one dedicated replica",
                f"{count(comparison['break_even_requests_per_day'])} requests/day",
                ("comparison.break_even_requests_per_day",),
                count,
            )
        )
    api = result.get("api")
    if api is not None:
        rows.append(
            HeadlineRow(
                "hosted API instead",
                f"{usd(api['plain']['api_cost_usd_per_month'])}",
                ("api.plain.api_cost_usd_per_month",),
                usd,
            )
        )
    return rows


def _range(line: dict[str, Any], what: str) -> str:
    low, high = line[f"min_{what}_count"], line[f"max_{what}_count"]
    return f"{low:,}" if low == high else f"{low:,} - {high:,}"


def _platform_rows(platform: dict[str, Any] | None) -> list[HeadlineRow]:
    """The non-GPU stack (`[platform]`): pods, nodes, database, its bill, cost per user."""
    if platform is None:
        return []
    rows = [
        HeadlineRow(
            "platform requests per second (peak)",
            count(platform["peak_requests_per_s"]),
            ("platform.peak_requests_per_s",),
            count,
        )
    ]
    for name in ("backend", "frontend"):
        tier = platform.get(name)
        if tier is not None:
            paths = (f"platform.{name}.min_pods_count", f"platform.{name}.max_pods_count")
            rows.append(HeadlineRow(f"{name} pods (min - max)", _range(tier, "pods"), paths, count))
    nodes = platform.get("nodes")
    if nodes is not None:
        rows.append(
            HeadlineRow(
                f"nodes ({nodes['instance']}, min - max)",
                _range(nodes, "nodes"),
                ("platform.nodes.min_nodes_count", "platform.nodes.max_nodes_count"),
                count,
            )
        )
    database = platform.get("database")
    if database is not None and database["kind"] == "dynamodb":
        rows.append(
            HeadlineRow(
                "database read / write units",
                f"{count(database['read_capacity_units_count'])} RCU, "
                f"{count(database['write_capacity_units_count'])} WCU",
                (
                    "platform.database.read_capacity_units_count",
                    "platform.database.write_capacity_units_count",
                ),
                count,
            )
        )
    elif database is not None:
        rows.append(
            HeadlineRow(
                "database shards + replicas",
                f"{database['shards_count']:,} + {database['replicas_count']:,}",
                ("platform.database.shards_count", "platform.database.replicas_count"),
                count,
            )
        )
    total = platform["total_usd_per_month"]
    at_max = platform["total_at_max_pods_usd_per_month"]
    bill = (
        usd(total) if math.isclose(total, at_max) else f"{usd(total)} - {usd(at_max)} at max pods"
    )
    rows.append(
        HeadlineRow(
            "platform (non-GPU) per month",
            bill,
            ("platform.total_usd_per_month", "platform.total_at_max_pods_usd_per_month"),
            usd,
        )
    )
    if "with_gpu_fleet_usd_per_month" in platform:
        rows.append(
            HeadlineRow(
                "platform + GPU fleet per month",
                usd(platform["with_gpu_fleet_usd_per_month"]),
                ("platform.with_gpu_fleet_usd_per_month",),
                usd,
            )
        )
    per_user = f"${platform['usd_per_user_per_month']:.4g} platform"
    if "with_gpu_fleet_usd_per_user_per_month" in platform:
        per_user += f", ${platform['with_gpu_fleet_usd_per_user_per_month']:.4g} with the GPUs"
    rows.append(
        HeadlineRow(
            f"cost per user per month ({count(platform['total_users_count'])} users)",
            per_user,
            ("platform.usd_per_user_per_month", "platform.with_gpu_fleet_usd_per_user_per_month"),
            lambda x: f"${x:.4g}",
        )
    )
    return rows


def _seed_cell(row: HeadlineRow, checks: dict[str, list[SeedCheck]]) -> str:
    parts = []
    for path in row.seed_paths:
        for check in checks.get(path, []):
            number = seed_number(check.figure)
            text = row.fmt(number) if number is not None else seed_in_capsim_unit(check.figure)
            parts.append(f"{escape(text)} {MARKS[check.verdict]}")
    if parts and row.note:
        parts[-1] += f" ({row.note})"
    return ", ".join(parts)


def seed_summary(audit: list[SeedCheck]) -> list[str]:
    """A count of the seed's figures by verdict, then the first few that differ, by name."""
    verdicts = [check.verdict for check in audit]
    lines = [
        f"The seed printed {len(audit)} figures: {verdicts.count('agrees')} {MARKS['agrees']}, "
        f"{verdicts.count('rounding')} {MARKS['rounding']} (rounding only), "
        f"{verdicts.count('wrong')} {MARKS['wrong']} (docs/seed-audit.md)"
    ]
    differ = [check for check in audit if check.verdict != "agrees"]
    for check in differ[:MAX_NAMED]:
        lines.append(
            f"  {MARKS[check.verdict]} {escape(check.figure.label)}: seed "
            f"{escape(check.figure.seed_text)}, capsim {escape(check.shown)}"
        )
    if len(differ) > MAX_NAMED:
        lines.append(f"  ... and {len(differ) - MAX_NAMED} more")
    return lines


def botec_headline_report(
    result: dict[str, Any], headline: dict[str, Any], slo_p99_s: float | None
) -> Group:
    """The headline table, the seed's figures counted, and where the full tables are."""
    audit = seed_rows(result)
    checks: dict[str, list[SeedCheck]] = {}
    for check in audit:
        checks.setdefault(check.figure.path, []).append(check)
    rows = headline_rows(result, headline, slo_p99_s)
    cells = [_seed_cell(row, checks) for row in rows]
    name = result.get("scenario", "")
    table = Table(title=f"BOTEC: {name}", title_justify="left")
    table.add_column("figure")
    table.add_column("capsim", justify="right")
    if any(cells):
        table.add_column("seed printed", justify="right")
    for row, cell in zip(rows, cells, strict=True):
        table.add_row(row.label, row.capsim, *([cell] if any(cells) else []))
    lines: list[Any] = [table]
    lines.extend(Text.from_markup(line) for line in seed_summary(audit) if audit)
    lines.append(Text(f"Every figure: capsim botec {name} --full (tables) or --json", style="dim"))
    return Group(*lines)
