"""Terminal tables for `capsim run`: latency, requests, cost and risk, beside the BOTEC."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Group
from rich.table import Table

from sim.scenario.plugins import SERVICE_MODELS
from sim.scenario.units import format_duration


def _seconds(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format_duration(value)


def _usd(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 100:
        return f"${value:,.0f}"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    return f"${value:.5f}"


def _share(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:.1f}%"


def latency_table(summary: dict[str, Any]) -> Table:
    """Pooled latency percentiles over every completed request."""
    table = Table(title="Latency over all completed requests (pooled over replications)")
    table.add_column("metric")
    for column in ("mean", "p50", "p90", "p99"):
        table.add_column(column, justify="right")
    names = {
        "wait": "queue wait",
        "ttft": "time to first token",
        "tpot": "time per output token",
        "e2e": "end to end",
    }
    # A given per-request latency has no token timing: its first token is its last.
    model = summary.get("botec", {}).get("service_model")
    per_request = model in SERVICE_MODELS and not SERVICE_MODELS[model].token_timing
    for metric, label in names.items():
        stats = summary["latency_s"][metric]
        if stats["mean"] is None or math.isnan(stats["mean"]):
            continue  # e.g. no token timing under a given per-request latency
        if metric == "ttft" and (per_request or stats == summary["latency_s"]["e2e"]):
            continue  # the same figures as end to end, under another name
        table.add_row(label, *(_seconds(stats[c]) for c in ("mean", "p50", "p90", "p99")))
    spread = summary["replication_p99_e2e_s"]
    table.caption = (
        f"each replication's own p99 end to end: p5 {_seconds(spread['p5'])}, "
        f"p50 {_seconds(spread['p50'])}, p95 {_seconds(spread['p95'])}"
    )
    return table


def requests_table(summary: dict[str, Any]) -> Table:
    """Where every request went, summed over replications."""
    counts = summary["requests"]
    table = Table(title="Requests (all replications)")
    for key in ("arrived", "completed", "dropped", "timed_out", "lost", "in_flight", "retried"):
        table.add_column(key.replace("_", " "), justify="right")
    table.add_row(
        *(
            f"{counts.get(key, 0):,}"
            for key in (
                "arrived",
                "completed",
                "dropped",
                "timed_out",
                "lost",
                "in_flight",
                "retried",
            )
        )
    )
    table.caption = lever_caption(summary)
    return table


def lever_caption(summary: dict[str, Any]) -> str | None:
    """Where the cost levers sent requests (means per replication), and the batch delay."""
    events = summary.get("events", {})
    if "cache_hits" not in events:
        return None
    mean = {key: events[key]["mean"] for key in events}
    delay_s = summary.get("botec", {}).get("levers", {}).get("batch_delay_s", 0.0)
    parts = [f"{mean['cache_hits']:,.0f} answered by the cache"]
    if mean["batch_requests"]:
        parts.append(
            f"{mean['batch_requests']:,.0f} sent to the batch API (results within "
            f"{delay_s / 3600:g} h: counted completed, kept out of the latency figures)"
        )
    parts.append(f"{mean['routed_requests']:,.0f} routed to the smaller model")
    return "levers, per replication (mean): " + "; ".join(parts)


def fleet_and_cost_table(summary: dict[str, Any]) -> Table:
    """Simulated fleet and money (p5 / p50 / p95 over replications) beside the BOTEC."""
    table = Table(title="Fleet and cost: simulation (p5 / p50 / p95 over replications) vs BOTEC")
    table.add_column("figure")
    table.add_column("simulated", justify="right")
    table.add_column("BOTEC", justify="right")
    botec = summary.get("botec_headline", {})

    def spread(stats: dict[str, float], fmt) -> str:
        return " / ".join(fmt(stats.get(k)) for k in ("p5", "p50", "p95"))

    def number(v: float | None) -> str:
        if v is None or math.isnan(v):
            return "-"
        return f"{v:,.1f}" if abs(v) >= 10 else f"{v:.3g}"

    closed = botec.get("closed_loop")
    table.add_row(
        "requests per second",
        spread(summary["throughput_per_s"], number),
        closed_loop_bound_text(closed)
        if closed
        else f"{number(botec.get('mean_rate_per_s'))} mean, "
        f"{number(botec.get('peak_rate_per_s'))} peak",
    )
    table.add_row(
        "time per request (alone)",
        "",
        _seconds(botec.get("request_time_s")),
    )
    table.add_row(
        "replicas (time-mean)",
        spread(summary["replicas"]["mean"], number),
        f"{botec.get('replicas_at_mean', '-')} at mean, {botec.get('replicas_at_peak', '-')} "
        "at peak (100% busy)"
        + (f"; the seed's BOTEC: {botec['seed_gpus']} GPUs" if "seed_gpus" in botec else ""),
    )
    table.add_row("utilisation", spread(summary["utilization"], _share), "100% assumed")
    table.add_row(
        "mean requests in service per replica",
        spread(summary["mean_running_per_replica"], number),
        "",
    )
    cost = summary["cost_usd"]
    table.add_row("cost per horizon", spread(cost["horizon"], _usd), "")
    table.add_row(
        "cost per month (30 d)",
        spread(cost["monthly"], _usd),
        f"{_usd(botec.get('monthly_usd'))} ({botec.get('monthly_basis', '')})",
    )
    table.add_row("cost per 1k requests", spread(cost["per_1k_requests"], _usd), "")
    for line, stats in sorted(cost["lines_monthly"].items()):
        botec_line = ""
        if line == "platform" and "platform_monthly_usd" in botec:
            botec_line = f"{_usd(botec['platform_monthly_usd'])} (its platform section)"
        table.add_row(f"  {line.replace('_', ' ')} per month", spread(stats, _usd), botec_line)
    table.caption = (
        f"closed loop: {closed['concurrency']:,} clients send as replies come back, so the "
        "load follows the latency (throughput = clients / (mean e2e + mean think time)); "
        f"the fleet saturates near {closed['saturation_concurrency']:,.0f} clients"
        if closed
        else f"offered load in the simulation: {number(botec.get('offered_rate_per_s'))} req/s "
        "(the traffic integral, with bursts and growth); the BOTEC uses the plain mean"
    )
    return table


def risk_table(summary: dict[str, Any]) -> Table:
    """Chance of missing the SLO or the budget, with 95% intervals."""
    found = summary["risk"]
    horizon = format_duration(summary["horizon_s"])
    table = Table(title=f"Risk over {summary['replications']} replications of {horizon}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("95% interval", justify="right")
    slo = found.get("slo_e2e_p99_s")
    ttft = found.get("slo_ttft_p99_s")
    tpot = found.get("slo_tpot_p99_s")
    budget = found.get("budget_monthly_usd")
    rows = (
        ("p_slo_violation", f"chance a replication misses p99 end to end <= {_seconds(slo)}"),
        ("p_ttft_slo_violation", f"chance a replication misses p99 TTFT <= {_seconds(ttft)}"),
        ("p_tpot_slo_violation", f"chance a replication misses p99 TPOT <= {_seconds(tpot)}"),
        ("p_over_budget", f"chance the month costs over {_usd(budget)}"),
    )
    for key, label in rows:
        value = found.get(key)
        if value is None:
            if key != "p_ttft_slo_violation":
                table.add_row(label.split(" <=")[0].split(" over")[0], "no target set", "")
            continue
        low, high = found.get(f"{key}_ci95", (math.nan, math.nan))
        table.add_row(label, _share(value), f"{_share(low)} - {_share(high)}")
    for name, figures in found.get("classes", {}).items():
        low, high = figures["p_slo_violation_ci95"]
        table.add_row(
            f"  class {name}: misses p99 <= {_seconds(figures['slo_e2e_p99_s'])}",
            _share(figures["p_slo_violation"]),
            f"{_share(low)} - {_share(high)}",
        )
    table.add_row("CVaR95 of monthly cost", _usd(found.get("cvar95_monthly_usd")), "")
    table.add_row("share of requests completed", _share(found.get("share_completed")), "")
    table.caption = (
        "a replication misses the SLO if its own p99 is over the target or it fails more than "
        "1% of its requests; a month is one horizon's bill scaled to 30 days"
    )
    return table


def run_report(summary: dict[str, Any]) -> Group:
    """Everything `capsim run` prints on a terminal."""
    return Group(
        latency_table(summary),
        requests_table(summary),
        fleet_and_cost_table(summary),
        risk_table(summary),
    )


def closed_loop_bound_text(closed: dict) -> str:
    """The BOTEC's closed-loop throughput bound, and which bound it is."""
    bound = closed["throughput_bound_per_s"]
    if closed["limited_by"] == "clients":
        why = f"{closed['concurrency']:,} clients / (time alone + think time)"
    else:
        why = f"{closed['fleet_bound_replicas']:,} replicas' capacity"
    return f"<= {bound:,.3g} ({why})"
