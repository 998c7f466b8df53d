"""The report's figures, each drawn from a results folder's tables and returned as PNG bytes."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

BAND = {"alpha": 0.25, "linewidth": 0}


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes (for a data: URI)."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def latency_cdf(histogram: pd.DataFrame, slo_s: float | None) -> bytes:
    """Share of completed requests within each latency, pooled over replications."""
    figure = Figure(figsize=(8, 4))
    axis = figure.subplots()
    labels = {"e2e": "end to end", "ttft": "time to first token", "wait": "queue wait"}
    for metric, label in labels.items():
        part = histogram[(histogram["metric"] == metric) & (histogram["upper_s"] > 1e-6)]
        if part.empty:
            continue
        total = histogram.loc[histogram["metric"] == metric, "count"].sum()
        share = part["count"].cumsum() / total + (total - part["count"].sum()) / total
        axis.step(part["upper_s"], share, where="post", label=label)
    if slo_s is not None:
        axis.axvline(slo_s, color="tab:red", linestyle="--", label=f"SLO p99 <= {slo_s:g} s")
    axis.axhline(0.99, color="tab:gray", linewidth=0.8, linestyle=":")
    axis.set_xscale("log")
    axis.set_xlabel("latency (s, log scale)")
    axis.set_ylabel("share of completed requests")
    axis.set_ylim(0, 1.01)
    axis.set_title("Latency CDF, pooled over replications")
    axis.legend(loc="lower right", fontsize=8)
    return png(figure)


def cost_distribution(monthly_usd: pd.Series, budget_usd: float | None) -> bytes:
    """Each replication's monthly cost, as a histogram with the budget line."""
    figure = Figure(figsize=(8, 3.5))
    axis = figure.subplots()
    values = monthly_usd.dropna().to_numpy()
    bins = max(5, min(30, len(values)))
    axis.hist(values, bins=bins, color="tab:blue", alpha=0.7, label="replications")
    for q, style in ((5, ":"), (50, "-"), (95, ":")):
        axis.axvline(np.percentile(values, q), color="tab:blue", linestyle=style, linewidth=1)
    if budget_usd is not None:
        axis.axvline(
            budget_usd, color="tab:red", linestyle="--", label=f"budget ${budget_usd:,.0f}"
        )
    axis.set_xlabel("cost per month (USD, 30 days)")
    axis.set_ylabel("replications")
    axis.set_title("Monthly cost over replications (lines: p5, p50, p95)")
    axis.legend(fontsize=8)
    return png(figure)


def fleet_over_day(fleet: pd.DataFrame, request_time_s: float | None) -> bytes:
    """Replicas up and an estimate of utilisation over time (p5-p95 bands), against arrivals."""
    grouped = fleet.groupby("time_s")
    hours = np.asarray(grouped.size().index, dtype=float) / 3600.0
    figure = Figure(figsize=(9, 5.5))
    replicas_axis, load_axis = figure.subplots(2, 1, sharex=True)
    up = grouped["replicas_up"]
    replicas_axis.fill_between(hours, up.quantile(0.05), up.quantile(0.95), step="post", **BAND)
    replicas_axis.step(hours, up.median(), where="post", label="replicas up, p50 (band p5-p95)")
    replicas_axis.set_ylabel("replicas")
    replicas_axis.set_ylim(bottom=0)
    rate_axis = replicas_axis.twinx()
    rate_axis.plot(hours, grouped["arrival_rate_per_s"].median(), color="tab:gray", alpha=0.7)
    rate_axis.set_ylabel("arrivals per second (p50)", color="tab:gray")
    rate_axis.set_ylim(bottom=0)
    replicas_axis.legend(loc="upper left", fontsize=8)
    replicas_axis.set_title("Fleet over the horizon against the arrival rate")
    if request_time_s and request_time_s > 0:
        load = fleet.assign(
            load=fleet["arrival_rate_per_s"]
            * request_time_s
            / fleet["replicas_serving"].where(fleet["replicas_serving"] > 0)
        ).groupby("time_s")["load"]
        load_axis.fill_between(
            hours, load.quantile(0.05), load.quantile(0.95), step="post", color="tab:green", **BAND
        )
        load_axis.step(hours, load.median(), where="post", color="tab:green")
        load_axis.set_ylabel("offered load per\nserving replica")
        load_axis.set_title(
            "Utilisation estimate: arrivals x the BOTEC's time per request / replicas serving",
            fontsize=9,
        )
    load_axis.set_xlabel("time (h)")
    return png(figure)


def p99_by_hour(latency: pd.DataFrame, slo_s: float | None) -> bytes:
    """Each hour's p99 end to end: the median replication and the p5-p95 band."""
    grouped = latency.groupby("time_s")["e2e_p99_s"]
    hours = np.asarray(grouped.size().index, dtype=float) / 3600.0
    figure = Figure(figsize=(8, 3.5))
    axis = figure.subplots()
    axis.fill_between(hours, grouped.quantile(0.05), grouped.quantile(0.95), step="post", **BAND)
    axis.step(hours, grouped.median(), where="post", label="p99 end to end, p50 (band p5-p95)")
    if slo_s is not None:
        axis.axhline(slo_s, color="tab:red", linestyle="--", label=f"SLO {slo_s:g} s")
    axis.set_xlabel("hour of arrival")
    axis.set_ylabel("p99 end to end (s)")
    axis.set_ylim(bottom=0)
    axis.set_title("p99 by hour over replications")
    axis.legend(fontsize=8)
    return png(figure)


def policy_bars(rows: list[dict[str, Any]]) -> bytes:
    """One bar group per policy: monthly cost p50/p95, e2e p99 and worst hour, SLO days met."""
    policies = [row["policy"] for row in rows]
    x = np.arange(len(policies))
    figure = Figure(figsize=(10, 3.8))
    cost_axis, latency_axis, slo_axis = figure.subplots(1, 3)
    for axis, pairs, label in (
        (
            cost_axis,
            (("cost_monthly_usd_p50", "p50"), ("cost_monthly_usd_p95", "p95")),
            "USD/month",
        ),
        (
            latency_axis,
            (("latency_e2e_s_p99", "pooled p99"), ("worst_hour_p99_e2e_s", "worst hour p99")),
            "seconds",
        ),
        (slo_axis, (("slo_days_met_share", "days meeting the SLO"),), "share"),
    ):
        width = 0.8 / len(pairs)
        for i, (key, name) in enumerate(pairs):
            values = [_number(row.get(key)) for row in rows]
            axis.bar(x + (i - (len(pairs) - 1) / 2) * width, values, width, label=name)
        axis.set_xticks(x, policies, rotation=30, ha="right", fontsize=8)
        axis.set_ylabel(label)
        axis.legend(fontsize=7)
    cost_axis.set_title("cost per month", fontsize=10)
    latency_axis.set_title("end-to-end latency", fontsize=10)
    slo_axis.set_title("SLO days met", fontsize=10)
    slo_axis.set_ylim(0, 1.05)
    return png(figure)


def cost_against_p99(points: list[dict[str, Any]], slo_s: float | None, best: set[int]) -> bytes:
    """Each point's monthly cost against its days' p99 (p50, bars p5-p95); the cheapest marked."""
    figure = Figure(figsize=(8, 4.5))
    axis = figure.subplots()
    for entry in points:
        p99, cost = entry["e2e_p99_s"], entry["cost_monthly_usd"]
        meets = entry["point"] in best
        axis.errorbar(
            p99["p50"],
            cost["p50"],
            xerr=[[p99["p50"] - p99["p5"]], [p99["p95"] - p99["p50"]]],
            yerr=[[cost["p50"] - cost["p5"]], [cost["p95"] - cost["p50"]]],
            fmt="*" if meets else "o",
            markersize=14 if meets else 5,
            color="tab:green" if meets else "tab:blue",
            ecolor="tab:gray",
            elinewidth=0.8,
            capsize=2,
        )
        axis.annotate(entry["name"], (p99["p50"], cost["p50"]), fontsize=6, alpha=0.8)
    if slo_s is not None:
        axis.axvline(slo_s, color="tab:red", linestyle="--", label=f"SLO p99 <= {slo_s:g} s")
    axis.plot([], [], "*", color="tab:green", markersize=12, label="cheapest meeting the SLO")
    axis.set_xscale("log")
    axis.set_xlabel("each day's p99 end to end (s, log): p50, bars p5-p95")
    axis.set_ylabel("cost per month (USD): p50, bars p5-p95")
    axis.set_title("Cost against tail latency, one mark per point")
    axis.legend(fontsize=8)
    return png(figure)


def slo_heat_map(points: list[dict[str, Any]], keys: list[str], values: list[list[Any]]) -> bytes:
    """Chance of meeting the SLO over the first two varied keys (the best over any others)."""
    grid = np.full((len(values[1]), len(values[0])), np.nan)
    for entry in points:
        violation = entry.get("p_slo_violation")
        if violation is None or not entry["replications"]:
            continue
        i = values[1].index(entry["settings"][keys[1]])
        j = values[0].index(entry["settings"][keys[0]])
        grid[i, j] = np.fmax(grid[i, j], 1.0 - violation)
    figure = Figure(figsize=(1.6 + 0.9 * len(values[0]), 1.4 + 0.5 * len(values[1])))
    axis = figure.subplots()
    image = axis.imshow(grid, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto", origin="lower")
    for (i, j), share in np.ndenumerate(grid):
        axis.text(
            j, i, "-" if math.isnan(share) else f"{100 * share:.0f}%", ha="center", va="center"
        )
    axis.set_xticks(range(len(values[0])), [str(v) for v in values[0]], fontsize=8)
    axis.set_yticks(range(len(values[1])), [str(v) for v in values[1]], fontsize=8)
    axis.set_xlabel(keys[0])
    axis.set_ylabel(keys[1])
    axis.set_title("Chance a day meets the SLO", fontsize=10)
    figure.colorbar(image, ax=axis)
    return png(figure)


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)
