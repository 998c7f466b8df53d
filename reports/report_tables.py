"""The report's tables: plain frames of formatted figures, shown in HTML and written as CSV."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from sim.scenario.units import format_duration

METRIC_NAMES = {
    "wait": "queue wait",
    "ttft": "time to first token",
    "tpot": "time per output token",
    "e2e": "end to end",
}


@dataclass
class ReportTable:
    """A titled table; `name` names its CSV file."""

    name: str
    title: str
    frame: pd.DataFrame
    note: str = ""


def usd(value: Any) -> str:
    if _missing(value):
        return "-"
    return f"${value:,.0f}" if abs(value) >= 100 else f"${value:,.3f}"


def seconds(value: Any) -> str:
    return "-" if _missing(value) else format_duration(value)


def share(value: Any) -> str:
    return "-" if _missing(value) else f"{100 * value:.1f}%"


def interval(pair: Any) -> str:
    if not pair or any(_missing(v) for v in pair):
        return "-"
    return f"{100 * pair[0]:.1f}% - {100 * pair[1]:.1f}%"


def number(value: Any) -> str:
    if _missing(value):
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def pooled_latency_table(summary: dict[str, Any]) -> ReportTable:
    rows = [
        {"metric": METRIC_NAMES.get(metric, metric), **{k: seconds(v) for k, v in stats.items()}}
        for metric, stats in summary["latency_s"].items()
    ]
    return ReportTable(
        "latency_pooled", "Latency over every completed request (pooled)", pd.DataFrame(rows)
    )


def replication_latency_table(summary: dict[str, Any]) -> ReportTable:
    rows = []
    for metric, by_percentile in summary["replication_latency_s"].items():
        for percentile, spread in by_percentile.items():
            rows.append(
                {
                    "metric": METRIC_NAMES.get(metric, metric),
                    "each replication's": percentile,
                    "p5": seconds(spread["p5"]),
                    "p50": seconds(spread["p50"]),
                    "p95": seconds(spread["p95"]),
                }
            )
    return ReportTable(
        "latency_per_replication",
        "Latency per replication: each day's own percentile, spread over replications",
        pd.DataFrame(rows),
    )


def cost_table(summary: dict[str, Any], rows: pd.DataFrame) -> ReportTable:
    """Per month and per 1k completed requests, by line item, p5/p50/p95 over replications."""
    monthly = summary["cost_usd"]["lines_monthly"]
    out = []
    completed = rows["requests_completed"].where(rows["requests_completed"] > 0)
    for line, spread in [*monthly.items(), ("total", summary["cost_usd"]["monthly"])]:
        column = f"cost_horizon_{line}_usd"
        per_1k = (rows[column] / completed * 1000) if column in rows else None
        out.append(
            {
                "line item": line,
                "per month p5": usd(spread["p5"]),
                "per month p50": usd(spread["p50"]),
                "per month p95": usd(spread["p95"]),
                "per 1k requests p5": usd(None if per_1k is None else per_1k.quantile(0.05)),
                "per 1k requests p50": usd(None if per_1k is None else per_1k.quantile(0.5)),
                "per 1k requests p95": usd(None if per_1k is None else per_1k.quantile(0.95)),
            }
        )
    return ReportTable(
        "cost",
        "Cost by line item (30-day month; per 1k completed requests)",
        pd.DataFrame(out),
    )


def risk_table(summary: dict[str, Any]) -> ReportTable:
    risk = summary["risk"]
    n = summary["replications"]
    rows = []
    for key, metric, label in (
        ("p_slo_violation", "e2e", "end to end"),
        ("p_ttft_slo_violation", "ttft", "TTFT"),
        ("p_tpot_slo_violation", "tpot", "TPOT"),
    ):
        if risk.get(key) is not None:
            rows.append(
                {
                    "risk": f"a day misses p99 {label} <= {seconds(risk[f'slo_{metric}_p99_s'])}",
                    "estimate": share(risk[key]),
                    "95% interval": interval(risk.get(f"{key}_ci95")),
                }
            )
    if risk.get("p_over_budget") is not None:
        rows.append(
            {
                "risk": f"the month costs over {usd(risk['budget_monthly_usd'])}",
                "estimate": share(risk["p_over_budget"]),
                "95% interval": interval(risk.get("p_over_budget_ci95")),
            }
        )
    rows.append(
        {
            "risk": "CVaR95 of monthly cost (mean of the worst 5% of days)",
            "estimate": usd(risk["cvar95_monthly_usd"]),
            "95% interval": "",
        }
    )
    rows.append(
        {
            "risk": "share of requests completed",
            "estimate": share(risk["share_completed"]),
            "95% interval": "",
        }
    )
    return ReportTable(
        "risk",
        f"Risk over {n} replications (Wilson 95% intervals)",
        pd.DataFrame(rows),
    )


def botec_table(summary: dict[str, Any]) -> ReportTable:
    """The BOTEC's figure beside the simulated one (p5 / p50 / p95), and their ratio."""
    headline = summary.get("botec_headline", {})
    replicas = summary["replicas"]["mean"]
    monthly = summary["cost_usd"]["monthly"]
    throughput = summary["throughput_per_s"]
    rows = [
        {
            "figure": "requests per second",
            "BOTEC": f"{number(headline.get('mean_rate_per_s'))} mean, "
            f"{number(headline.get('peak_rate_per_s'))} peak",
            "simulated p5 / p50 / p95": _triple(throughput, number),
            "simulated / BOTEC": _ratio(throughput["p50"], headline.get("mean_rate_per_s")),
        },
        {
            "figure": "replicas (time-mean)",
            "BOTEC": f"{number(headline.get('replicas_at_mean'))} at mean, "
            f"{number(headline.get('replicas_at_peak'))} at peak",
            "simulated p5 / p50 / p95": _triple(replicas, number),
            "simulated / BOTEC": _ratio(replicas["p50"], headline.get("replicas_at_peak")),
        },
        {
            "figure": "utilisation",
            "BOTEC": "100% assumed",
            "simulated p5 / p50 / p95": _triple(summary["utilization"], share),
            "simulated / BOTEC": _ratio(summary["utilization"]["p50"], 1.0),
        },
        {
            "figure": "cost per month",
            "BOTEC": f"{usd(headline.get('monthly_usd'))} ({headline.get('monthly_basis', '')})",
            "simulated p5 / p50 / p95": _triple(monthly, usd),
            "simulated / BOTEC": _ratio(monthly["p50"], headline.get("monthly_usd")),
        },
    ]
    return ReportTable(
        "botec",
        "The BOTEC beside the simulation",
        pd.DataFrame(rows),
        note="Replicas: ratio to the BOTEC's peak sizing; rate: to its mean rate.",
    )


def _triple(spread: dict[str, float], fmt) -> str:
    return " / ".join(fmt(spread[k]) for k in ("p5", "p50", "p95"))


def _ratio(simulated: Any, botec: Any) -> str:
    if _missing(simulated) or _missing(botec) or not botec:
        return "-"
    return f"{simulated / botec:.2f}x"


def compare_rows_table(rows: list[dict[str, Any]]) -> ReportTable:
    out = [
        {
            "policy": row["policy"],
            "$/mo p50": usd(row["cost_monthly_usd_p50"]),
            "$/mo p95": usd(row["cost_monthly_usd_p95"]),
            "e2e p50": seconds(row["latency_e2e_s_p50"]),
            "e2e p99": seconds(row["latency_e2e_s_p99"]),
            "worst hour p99": seconds(row["worst_hour_p99_e2e_s"]),
            "SLO days met": share(row["slo_days_met_share"]),
            "P(over budget)": share(row["p_over_budget"]),
            "replicas (mean)": number(row["replicas_mean"]),
            "cold starts": number(row["cold_starts_per_replication"]),
            "dropped": number(row["requests_dropped"]),
            "timed out": number(row["requests_timed_out"]),
        }
        for row in rows
    ]
    return ReportTable("policies", "Policies on the same traffic and seeds", pd.DataFrame(out))


def sweep_points_table(keys: list[str], points: list[dict[str, Any]]) -> ReportTable:
    out = []
    for entry in points:
        row: dict[str, Any] = {key: entry["settings"][key] for key in keys}
        if not entry["replications"]:
            row["replications"] = "skipped: " + (entry["error"] or "not run")
            out.append(row)
            continue
        cost, p99 = entry["cost_monthly_usd"], entry["e2e_p99_s"]
        row.update(
            {
                "replications": entry["replications"],
                "$/mo p5": usd(cost["p5"]),
                "$/mo p50": usd(cost["p50"]),
                "$/mo p95": usd(cost["p95"]),
                "$/1k p50": usd(entry["cost_per_1k_requests_usd"]["p50"]),
                "day's p99 p5": seconds(p99["p5"]),
                "p99 p50": seconds(p99["p50"]),
                "p99 p95": seconds(p99["p95"]),
                "P(miss SLO)": share(entry["p_slo_violation"]),
                "95% interval": interval(entry.get("p_slo_violation_ci95")),
                "P(over budget)": share(entry["p_over_budget"]),
                "95% interval ": interval(entry.get("p_over_budget_ci95")),
            }
        )
        out.append(row)
    return ReportTable(
        "points",
        "Every point of the grid (spread over replications; Wilson 95% intervals)",
        pd.DataFrame(out),
    )
