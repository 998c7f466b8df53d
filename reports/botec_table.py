"""Rich tables of a BOTEC result, with the seed documents' figures beside capsim's.

`botec_tables(result)` takes the dict `sim.botec.botec()` returns and gives one
table per section (each figure with its unit in its name), wide tables for the
per-volume and per-month rows, and, for the bundled seed scenarios, a table of
every figure the seed printed: the seed's text, capsim's figure at the seed's
display precision, and a mark: agrees, differs only in rounding, or wrong.
In the section tables the seed's figure is shown in capsim's unit (the key's).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from rich.markup import escape
from rich.table import Table

AGREE = "[green]✓[/green]"
ROUNDING = "[yellow]≈[/yellow]"
DISAGREE = "[bold red]✗[/bold red]"
MARKS = {"agrees": AGREE, "rounding": ROUNDING, "wrong": DISAGREE}
MARKS_LEGEND = (
    "✓ the seed's figure; ≈ the seed rounded the other way at its own precision "
    "(within one unit of its last digit); ✗ wrong (docs/seed-audit.md)"
)


@dataclass(frozen=True)
class SeedFigure:
    """A figure a seed document printed, and how to show capsim's at the seed's precision.

    `path` is dotted; a list element is chosen by a key's value, e.g.
    `scaling.rows[requests_per_day=10000].serverless_usd_per_month`. capsim's value is
    multiplied by `scale` and formatted with `fmt` (a format spec, or "floor" for the
    whole part, the seed's "22x" for 22.5x).
    """

    path: str
    seed_text: str
    label: str
    scale: float = 1.0
    fmt: str = ".0f"


def _f(path: str, seed: str, label: str, scale: float = 1.0, fmt: str = ".0f") -> SeedFigure:
    return SeedFigure(path, seed, label, scale, fmt)


SMARTPAL_FIGURES = (
    _f("model.model_storage_gb", "6", "Model storage (GB)"),
    _f("storage.user_profile_storage_tb", "1", "User profile storage (TB)"),
    _f("storage.interaction_raw_tb_per_day", "2", "Interaction data (TB/day)"),
    _f("storage.index_overhead_tb_per_day", "0.5", "Indexing +25% (TB/day)", fmt=".1f"),
    _f("storage.interaction_storage_tb_per_day", "2.5", "Daily interaction (TB/day)", fmt=".1f"),
    _f("storage.interaction_storage_tb_per_month", "75", "Monthly storage (TB/month)"),
    _f("traffic.requests_per_s", "11,574", "TRPS (requests/s)", fmt=",.0f"),
    _f("inference_seed.inference_time_s", "9.6", "Inference time (ms)", 1e3, ".1f"),
    _f("inference_seed.queries_per_s_per_gpu", "104", "QPS per GPU"),
    _f("inference_seed.gpus_needed", "112", "GPUs required"),
    _f("bandwidth.ingress_mb_per_s", "23.15", "Ingress (MB/s)", fmt=".2f"),
    _f("bandwidth.ingress_mbps", "186", "Ingress (Mbps)"),
    _f("bandwidth.egress_mb_per_s", "115.74", "Egress (MB/s)", fmt=".2f"),
    _f("bandwidth.egress_mbps", "926", "Egress (Mbps)"),
    _f("api.plain.prompt_tokens_per_day", "250", "API input tokens (B/day)", 1e-9),
    _f("api.plain.output_tokens_per_day", "500", "API output tokens (B/day)", 1e-9),
    _f("api.plain.input_usd_per_day", "2.5", "API input cost ($M/day)", 1e-6, ".1f"),
    _f("api.plain.output_usd_per_day", "15", "API output cost ($M/day)", 1e-6),
    _f("api.plain.api_cost_usd_per_day", "17.5", "API total ($M/day)", 1e-6, ".1f"),
    _f("api.plain.api_cost_usd_per_month", "525", "API total ($M/month)", 1e-6),
    _f("api.plain.tokens_per_request", "750", "API tokens per request"),
    _f("api.plain.api_cost_usd_per_request", "0.0175", "API cost per request ($)", fmt=".4f"),
    _f("api.rag.tokens_per_request", "400", "RAG tokens per request"),
    _f("api.rag.api_cost_usd_per_request", "0.004", "RAG cost per request ($)", fmt=".3f"),
    _f("api.rag.api_cost_usd_per_day", "4", "RAG cost ($M/day)", 1e-6),
    _f("api.rag_savings_fraction", ">75", "RAG savings vs direct API (%)", 100.0),
)

_REDAI_COMMON = (
    _f(
        "serverless.serverless_usd_per_request",
        "0.00033",
        "Serverless cost per request ($)",
        fmt=".5f",
    ),
    _f("dedicated.dedicated_usd_per_month", "223.20", "Dedicated A10 ($/month, text)", fmt=".2f"),
    _f(
        "dedicated.dedicated_usd_per_month",
        "442.50",
        "Dedicated alternative ($/month, JSON)",
        fmt=".2f",
    ),
    _f("comparison.break_even_requests_per_day", "4500", "Break-even (requests/day)"),
)

REDAI_1K_FIGURES = (
    _f("traffic.requests_per_month", "30000", "Requests per month"),
    _f("serverless.busy_gpu_s_per_day", "2000", "Daily compute (GPU-s)"),
    _f("serverless.serverless_usd_per_day", "0.33", "Serverless ($/day)", fmt=".2f"),
    _f("serverless.serverless_usd_per_month", "9.90", "Serverless ($/month)", fmt=".2f"),
    _f(
        "serverless.serverless_usd_per_1k_requests", "0.33", "Serverless ($/1k requests)", fmt=".2f"
    ),
    *_REDAI_COMMON,
    _f(
        "scaling.rows[requests_per_day=10000].serverless_usd_per_month",
        "99.00",
        "Serverless at 10k/day ($/month)",
        fmt=".2f",
    ),
    _f(
        "scaling.rows[requests_per_day=100000].serverless_usd_per_month",
        "990.00",
        "Serverless at 100k/day ($/month)",
        fmt=".2f",
    ),
    _f("capacity.busy_gpu_hours_per_day", "0.6", "GPU busy (h/day)", fmt=".1f"),
    _f("capacity.utilisation_of_one_gpu_fraction", "2.5", "GPU utilisation (%)", 100.0, ".1f"),
    _f("capacity.idle_of_one_gpu_fraction", "97.5", "Dedicated capacity wasted (%)", 100.0, ".1f"),
    _f(
        "dedicated.dedicated_usd_per_request",
        "0.00744",
        "Dedicated cost per request ($)",
        fmt=".5f",
    ),
    _f(
        "comparison.dedicated_over_serverless_ratio",
        "22",
        "Dedicated / serverless (x)",
        fmt="floor",
    ),
    _f(
        "scaling.rows[requests_per_day=4500].utilisation_of_one_gpu_fraction",
        "15",
        "Utilisation at 4,500/day (%)",
        100.0,
        ".1f",
    ),
    _f("capacity.throughput_requests_per_s_per_gpu", "0.5", "Throughput (requests/s)", fmt=".1f"),
    _f("batch.batch_time_s", "2.3", "Batch of 10 (s)", fmt=".1f"),
    _f("batch.gpu_s_per_request_batched", "0.23", "Batched per request (s)", fmt=".2f"),
    _f("batch.serverless_usd_per_month", "1.14", "Batched ($/month)", fmt=".2f"),
    _f("batch.serverless_usd_per_request", "0.000038", "Batched per request ($)", fmt=".6f"),
    _f("batch.savings_usd_per_month", "8.76", "Batch savings ($/month)", fmt=".2f"),
    _f("batch.savings_fraction", "88", "Batch savings (%)", 100.0, "floor"),
    _f("batch.capsim_mean_batch_wait_s", "10-30", "Wait to form a batch (s)"),
    *(
        _f(
            f"scaling.rows[requests_per_day={v}].serverless_usd_per_month",
            seed,
            f"Thresholds: serverless at {v:,}/day ($/month)",
        )
        for v, seed in (
            (500, "5"),
            (1000, "10"),
            (2500, "25"),
            (4500, "223"),
            (10000, "495"),
            (50000, "2475"),
        )
    ),
    *(
        _f(
            f"scaling.rows[requests_per_day={v}].dedicated_one_gpu_over_serverless_ratio",
            seed,
            f"Thresholds: serverless cheaper at {v:,}/day (x)",
            fmt="floor",
        )
        for v, seed in ((500, "45"), (1000, "22"), (2500, "9"), (4500, "1"))
    ),
    *(
        _f(
            f"scaling.rows[requests_per_day={v}].serverless_over_dedicated_one_gpu_ratio",
            seed,
            f"Thresholds: dedicated cheaper at {v:,}/day (x)",
            fmt=".1f",
        )
        for v, seed in ((10000, "2.2"), (50000, "11.0"))
    ),
    *(
        _f(
            f"growth.months[month_number={m}].unbatched_usd_per_month",
            seed,
            f"Projection month {m} ($/month)",
            fmt=".2f",
        )
        for m, seed in enumerate(("5.00", "9.90", "14.85", "24.75", "39.60", "49.50"), start=1)
    ),
    *(
        _f(
            f"growth.months[month_number={m}].unbatched_cumulative_usd",
            seed,
            f"Projection month {m} cumulative ($)",
            fmt=".2f",
        )
        for m, seed in enumerate(("5.00", "14.90", "29.75", "54.50", "94.10", "143.60"), start=1)
    ),
    _f("growth.unbatched_total_usd", "143.60", "6-month total ($)", fmt=".2f"),
    *(
        _f(
            f"growth.months[month_number={m}].usd_per_month",
            seed,
            f"Batched month {m} ($/month)",
            fmt=".2f",
        )
        for m, seed in ((4, "15.00"), (5, "18.50"), (6, "19.80"))
    ),
    *(
        _f(
            f"growth.months[month_number={m}].savings_usd_per_month",
            seed,
            f"Batched month {m} savings ($/month)",
            fmt=".2f",
        )
        for m, seed in ((4, "9.75"), (5, "21.10"), (6, "29.70"))
    ),
    _f("growth.total_usd", "88.55", "6-month total with batching ($)", fmt=".2f"),
    _f("growth.savings_total_usd", "55.05", "6-month batching savings ($)", fmt=".2f"),
    _f("growth.savings_fraction", "38", "6-month batching savings (%)", 100.0),
)

REDAI_10K_FIGURES = (
    _f("serverless.serverless_usd_per_month", "99.00", "Serverless ($/month)", fmt=".2f"),
    *_REDAI_COMMON,
    _f("capacity.busy_gpu_hours_per_day", "5.6", "GPU busy (h/day)", fmt=".1f"),
    _f("capacity.utilisation_of_one_gpu_fraction", "23", "GPU utilisation (%)", 100.0),
)

REDAI_100K_FIGURES = (
    _f("serverless.serverless_usd_per_month", "990.00", "Serverless ($/month)", fmt=".2f"),
    _f("capacity.busy_gpu_hours_per_day", "55.6", "GPU busy (h/day)", fmt=".1f"),
    _f("capacity.utilisation_of_one_gpu_fraction", "232", "GPU utilisation (%)", 100.0),
    _f("capacity.dedicated_replicas_at_peak", "3", "GPUs needed at peak"),
    _f("dedicated.dedicated_usd_per_month", "223.20", "Dedicated A10 ($/month)", fmt=".2f"),
    _f(
        "dedicated.capsim_peak_sized_usd_per_month",
        "223.20",
        "Dedicated fleet that serves the peak ($/month)",
        fmt=".2f",
    ),
    _f(
        "comparison.switch_to_dedicated_savings_usd_per_month",
        "766.80",
        "Savings, one A10 ($/month)",
        fmt=".2f",
    ),
    _f("comparison.switch_to_dedicated_savings_fraction", "77", "Savings, one A10 (%)", 100.0),
    _f(
        "comparison.capsim_peak_sized_savings_usd_per_month",
        "766.80",
        "Savings, A10s that serve the peak ($/month)",
        fmt=".2f",
    ),
)

CHAT_SIZING_FIGURES = (  # seed 004 at --concurrent-users 1000 --total-users 10000
    _f("platform.peak_requests_per_s", "50", "Requests/second"),
    _f("platform.backend.min_pods_count", "13", "Backend pods, minimum"),
    _f("platform.backend.max_pods_count", "39", "Backend pods, maximum"),
    _f("platform.frontend.min_pods_count", "3", "Frontend pods, minimum"),
    _f("platform.frontend.max_pods_count", "6", "Frontend pods, maximum"),
    _f("platform.nodes.min_nodes_count", "8", "Node count, minimum (t3.large)"),
    _f("platform.nodes.max_nodes_count", "16", "Node count, maximum (t3.large)"),
    _f("platform.database.read_capacity_units_count", "250", "Estimated RCU"),
    _f("platform.database.write_capacity_units_count", "100", "Estimated WCU"),
    _f("platform.total_usd_per_month", "500", "Total estimated, low ($/month)"),
    _f("platform.total_at_max_pods_usd_per_month", "800", "Total estimated, high ($/month)"),
    _f("platform.usd_per_user_per_month", "0.05", "Cost per user, low ($/month)", fmt=".2f"),
    _f(
        "platform.at_max_pods_usd_per_user_per_month",
        "0.08",
        "Cost per user, high ($/month)",
        fmt=".2f",
    ),
)

MARKETPLACE_1B_FIGURES = (  # seed 003, every line it prints a figure for
    _f("platform.peak_requests_per_s", "500,000", "Peak requests per second", fmt=",.0f"),
    _f("platform.requests_per_day", "5", "Daily API requests (billions)", 1e-9),
    _f("platform.backend.min_pods_count", "100,000", "API servers needed", fmt=",.0f"),
    _f("platform.backend.server_usd_per_month", "226.80", "API server ($/month)", fmt=".2f"),
    _f(
        "platform.backend.peak_sized_usd_per_month",
        "22,680,000",
        "Total API cost ($/month)",
        fmt=",.0f",
    ),
    _f("platform.backend.mean_pods_count", "20,000", "API servers, average", fmt=",.0f"),
    _f("platform.backend.usd_per_month", "4,536,000", "API optimized ($/month)", fmt=",.0f"),
    _f("platform.frontend.min_pods_count", "10,000", "Frontend servers needed", fmt=",.0f"),
    _f("platform.frontend.server_usd_per_month", "136.80", "Frontend server ($/month)", fmt=".2f"),
    _f(
        "platform.frontend.peak_sized_usd_per_month",
        "1,368,000",
        "Total frontend cost ($/month)",
        fmt=",.0f",
    ),
    _f("platform.frontend.usd_per_month", "273,600", "Frontend optimized ($/month)", fmt=",.0f"),
    _f("platform.database.shards_count", "1,000", "Database shards", fmt=",.0f"),
    _f("platform.database.replicas_count", "3,000", "Read replicas", fmt=",.0f"),
    _f(
        "platform.database.primaries_usd_per_month",
        "1,200,000",
        "Primary DB ($/month)",
        fmt=",.0f",
    ),
    _f("platform.database.replicas_usd_per_month", "3,000,000", "Replicas ($/month)", fmt=",.0f"),
    _f("platform.database.storage_usd_per_month", "41,310", "DB storage ($/month)", fmt=",.0f"),
    _f("platform.database.usd_per_month", "4,241,310", "Total database ($/month)", fmt=",.0f"),
    _f("platform.cache.clusters_count", "100", "Redis clusters"),
    _f("platform.cache.cluster_usd_per_month", "600", "Redis cluster ($/month)"),
    _f("platform.cache.usd_per_month", "60,000", "Total Redis ($/month)", fmt=",.0f"),
    _f("platform.search.clusters_count", "50", "Elasticsearch clusters"),
    _f("platform.search.cluster_usd_per_month", "2,500", "Search cluster ($/month)", fmt=",.0f"),
    _f("platform.search.nodes_usd_per_month", "125,000", "Search nodes ($/month)", fmt=",.0f"),
    _f("platform.search.storage_tb", "500", "Search storage (TB)"),
    _f("platform.search.storage_usd_per_month", "50,000", "Search storage ($/month)", fmt=",.0f"),
    _f("platform.search.usd_per_month", "175,000", "Total search ($/month)", fmt=",.0f"),
    _f("platform.llm_api.requests_per_month", "2", "OpenAI requests (billions/month)", 1e-9),
    _f("platform.llm_api.usd_per_month", "4,000,000", "Optimized OpenAI ($/month)", fmt=",.0f"),
    _f("platform.gpu_fleet_usd_per_month", "2,520,000", "Ollama servers ($/month)", fmt=",.0f"),
    _f("platform.cdn.gb_per_month", "50", "CDN bandwidth (PB/month)", 1e-6),
    _f("platform.cdn.usd_per_month", "4,000,000", "CDN ($/month)", fmt=",.0f"),
    _f("platform.api_egress.gb_per_month", "750", "API bandwidth (TB/month)", 1e-3),
    _f("platform.api_egress.usd_per_month", "90,000", "API bandwidth ($/month)", fmt=",.0f"),
    _f("platform.kubernetes.usd_per_month", "730", "GKE ($/month)"),
    _f("platform.object_storage.stored_tb", "170", "Object storage (TB)"),
    _f("platform.object_storage.usd_per_month", "3,400", "Object storage ($/month)", fmt=",.0f"),
    _f("platform.logging.usd_per_month", "50,000", "Monitoring & logging ($/month)", fmt=",.0f"),
    _f("platform.ddos.usd_per_month", "5,000", "DDoS protection ($/month)", fmt=",.0f"),
    _f(
        "platform.with_gpu_fleet_usd_per_month",
        "19,955,440",
        "Total monthly cost ($)",
        fmt=",.0f",
    ),
    _f("platform.with_gpu_fleet_usd_per_year", "239,465,280", "Annual cost ($)", fmt=",.0f"),
    _f(
        "platform.with_gpu_fleet_usd_per_user_per_month",
        "0.0084",
        "Cost per user ($/month)",
        fmt=".4f",
    ),
    *(
        _f(
            f"platform.growth.rows[year_number={year}].total_usd_per_month",
            seed,
            f"Scaling timeline, year {year} ($/month)",
            fmt=",.0f",
        )
        for year, seed in enumerate(("8,440", "84,400", "844,000", "8,440,000"), start=1)
    ),
)

SEED_FIGURES: dict[str, tuple[SeedFigure, ...]] = {
    "smartpal": SMARTPAL_FIGURES,
    "redai-1k": REDAI_1K_FIGURES,
    "redai-10k": REDAI_10K_FIGURES,
    "redai-100k": REDAI_100K_FIGURES,
    "chat-sizing": CHAT_SIZING_FIGURES,
    "marketplace-1b": MARKETPLACE_1B_FIGURES,
}

_SELECT = re.compile(r"^(\w+)\[(\w+)=([^\]]+)\]$")


def lookup(result: dict[str, Any], path: str) -> Any:
    """The value at a dotted path, with `list[key=value]` selecting a list element."""
    node: Any = result
    for part in path.split("."):
        match = _SELECT.match(part)
        if match:
            name, key, want = match.groups()
            rows = node[name]
            found = [row for row in rows if math.isclose(float(row[key]), float(want))]
            if not found:
                raise KeyError(f"{path}: no row with {key} = {want}")
            node = found[0]
        else:
            node = node[part]
    return node


def seed_display(figure: SeedFigure, value: float) -> str:
    """capsim's value at the seed's display precision."""
    scaled = value * figure.scale
    if figure.fmt == "floor":
        return str(math.floor(scaled + 1e-9))
    return format(scaled, figure.fmt)


def _normalise(text: str) -> str:
    return text.replace(",", "").strip()


class SeedCheck(NamedTuple):
    """One figure the seed printed: capsim's at the seed's precision, and the verdict."""

    figure: SeedFigure
    shown: str
    verdict: str  # "agrees", "rounding" or "wrong"


def seed_verdict(figure: SeedFigure, value: float) -> str:
    """The verdict on one seed figure: "agrees" at the seed's precision; "rounding" if the
    seed's figure is within one unit of its last digit of capsim's (186 for 185.19: rounded
    up, not miscomputed); else "wrong".
    """
    if _normalise(seed_display(figure, value)) == _normalise(figure.seed_text):
        return "agrees"
    try:
        seed = Decimal(_normalise(figure.seed_text))
    except InvalidOperation:
        return "wrong"  # ">75", "10-30": not one number at a precision
    exponent = seed.as_tuple().exponent
    unit = 1.0 if figure.fmt == "floor" or not isinstance(exponent, int) else 10.0**exponent
    if abs(value * figure.scale - float(seed)) < unit * (1 - 1e-9):
        return "rounding"
    return "wrong"


def seed_rows(result: dict[str, Any]) -> list[SeedCheck]:
    """(figure, capsim's display text, verdict) for every seed figure of this scenario."""
    rows = []
    for figure in SEED_FIGURES.get(result.get("scenario", ""), ()):
        try:
            value = lookup(result, figure.path)
        except (KeyError, TypeError):
            continue
        shown = seed_display(figure, float(value))
        rows.append(SeedCheck(figure, shown, seed_verdict(figure, float(value))))
    return rows


_NUMBER = re.compile(r"[0-9][0-9,]*\.?[0-9]*")


def seed_value(figure: SeedFigure) -> float | None:
    """The seed's figure in capsim's unit (the key's), or None if it is not one number."""
    try:
        return float(Decimal(_normalise(figure.seed_text)) / Decimal(repr(figure.scale)))
    except InvalidOperation:
        return None


def seed_in_capsim_unit(figure: SeedFigure) -> str:
    """The seed's text with each number in capsim's unit: "9.6" ms reads 0.0096 (s)."""

    def convert(match: re.Match[str]) -> str:
        number = Decimal(_normalise(match.group(0))) / Decimal(repr(figure.scale))
        return format_value(float(number))

    return _NUMBER.sub(convert, figure.seed_text)


def format_value(value: Any) -> str:
    """A figure for display: thousands separators, six significant digits."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if math.isinf(value) or math.isnan(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e15 or magnitude < 1e-4:
        return f"{value:.4e}"
    if magnitude >= 1000:
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    return f"{value:.6g}"


def _is_row_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _section_table(title: str, section: dict[str, Any], seeds: dict[str, list[SeedCheck]]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("figure (unit in name)")
    table.add_column("capsim", justify="right")
    table.add_column("seed", justify="right")
    table.add_column("", justify="center")
    notes = []
    for key, value in section.items():
        if isinstance(value, dict) or _is_row_list(value):
            continue
        if isinstance(value, str):
            notes.append(f"{key}: {value}")
            continue
        path = f"{title}.{key}"
        seed_text, mark = "", ""
        if path in seeds:  # a figure the seed printed twice shows both, e.g. 223.2 / 442.5
            seed_text = " / ".join(seed_in_capsim_unit(c.figure) for c in seeds[path])
            mark = " ".join(MARKS[c.verdict] for c in seeds[path])
        table.add_row(key, format_value(value), seed_text, mark)
    if notes:
        table.caption = "; ".join(notes)
        table.caption_justify = "left"
    return table


def _rows_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    columns = list(rows[0])
    for column in columns:
        table.add_column(column.replace("_", " "), justify="right", overflow="fold")
    for row in rows:
        table.add_row(*(format_value(row.get(c)) for c in columns))
    return table


def botec_tables(result: dict[str, Any]) -> list[Table]:
    """Tables of a BOTEC result: sections, row lists, and the seed's figures beside capsim's."""
    audit = seed_rows(result)
    seeds: dict[str, list[SeedCheck]] = {}
    for check in audit:
        if "[" not in check.figure.path:
            seeds.setdefault(check.figure.path, []).append(check)
    header = Table(title=f"BOTEC: {result.get('scenario', '')}", title_justify="left")
    header.add_column("key")
    header.add_column("value")
    tables: list[Table] = [header]
    sections: list[tuple[str, dict[str, Any]]] = []
    for key, value in result.items():
        if isinstance(value, dict):
            sections.append((key, value))
        else:
            header.add_row(key, format_value(value))

    def walk(prefix: str, section: dict[str, Any]) -> None:
        tables.append(_section_table(prefix, section, seeds))
        for key, value in section.items():
            if isinstance(value, dict):
                walk(f"{prefix}.{key}", value)
            elif _is_row_list(value):
                tables.append(_rows_table(f"{prefix}.{key}", value))

    for name, section in sections:
        walk(name, section)

    if audit:
        seed_table = Table(
            title="Figures the seed printed, beside capsim's at the seed's precision",
            title_justify="left",
        )
        seed_table.add_column("figure")
        seed_table.add_column("seed", justify="right")
        seed_table.add_column("capsim", justify="right")
        seed_table.add_column("", justify="center")
        seed_table.add_column("capsim key", overflow="fold")
        for figure, shown, verdict in audit:
            seed_table.add_row(
                figure.label, figure.seed_text, shown, MARKS[verdict], escape(figure.path)
            )
        seed_table.caption = MARKS_LEGEND
        seed_table.caption_justify = "left"
        tables.append(seed_table)
    return tables
