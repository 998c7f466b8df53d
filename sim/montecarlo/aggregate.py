"""Monte Carlo aggregate: percentiles over replications and over pooled requests, and risk."""

from __future__ import annotations

import math

import numpy as np

from sim.montecarlo.latency_histogram import histogram_percentiles
from sim.montecarlo.results import LATENCY_METRICS, PERCENTILES, ReplicationResult
from sim.scenario.schema import Scenario


def spread(values: list[float] | np.ndarray) -> dict[str, float]:
    """Mean and the 5th, 50th and 95th percentiles of a per-replication figure."""
    array = np.asarray(values, dtype=float)
    array = array[~np.isnan(array)]
    if len(array) == 0:
        return {"mean": math.nan, "p5": math.nan, "p50": math.nan, "p95": math.nan}
    p5, p50, p95 = np.percentile(array, [5, 50, 95])
    return {"mean": float(array.mean()), "p5": float(p5), "p50": float(p50), "p95": float(p95)}


def pooled_latency(results: list[ReplicationResult]) -> dict[str, dict[str, float]]:
    """Latency over every completed request of every replication (percentiles within 0.05%)."""
    out = {}
    for metric in LATENCY_METRICS:
        counts = sum(r.latency_histograms[metric] for r in results)
        total = int(counts.sum())
        mean = sum(r.latency_sums_s[metric] for r in results) / total if total else math.nan
        found = histogram_percentiles(counts, list(PERCENTILES))
        out[metric] = {
            "mean": mean,
            **{f"p{p:g}": v for p, v in zip(PERCENTILES, found, strict=True)},
        }
    return out


def wilson_interval(hits: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a probability estimated from `hits` of `trials`."""
    if trials == 0:
        return (math.nan, math.nan)
    p = hits / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def cvar(values: np.ndarray, level: float = 0.95) -> float:
    """Mean of the worst (1 - level) share of outcomes (at least one)."""
    if len(values) == 0:
        return math.nan
    worst = max(1, math.ceil((1 - level) * len(values)))
    return float(np.sort(values)[-worst:].mean())


def risk(scenario: Scenario, results: list[ReplicationResult]) -> dict[str, object]:
    """Chance of missing the SLO and of going over budget, with 95% intervals, and CVaR.

    Each replication is one horizon. Its monthly cost is the horizon's bill scaled to
    30 days, so budget risk treats every horizon of the month as alike (a BOTEC's
    assumption too; the spread across replications is what it adds). A replication
    misses the SLO when its own p99 exceeds the target, or when it fails (drops, times
    out or loses) more than 1% of its requests, whose latency no percentile sees.
    """
    n = len(results)
    monthly = np.array([r.cost_usd.get("monthly_total", math.nan) for r in results])
    arrived = sum(r.requests["arrived"] for r in results)
    completed = sum(r.requests["completed"] for r in results)
    out: dict[str, object] = {
        "cvar95_monthly_usd": cvar(monthly[~np.isnan(monthly)]),
        "share_completed": completed / arrived if arrived else math.nan,
        "replications_without_completions": sum(1 for r in results if r.requests["completed"] == 0),
    }
    budget = scenario.budget.monthly_usd
    out["p_over_budget"] = None
    if budget is not None:
        over = int(np.sum(monthly > budget))
        out["p_over_budget"] = over / n
        out["p_over_budget_ci95"] = wilson_interval(over, n)
        out["budget_monthly_usd"] = budget
    for key, metric, target in (
        ("p_slo_violation", "e2e", scenario.slo.latency_p99),
        ("p_ttft_slo_violation", "ttft", scenario.slo.ttft_p99),
        ("p_tpot_slo_violation", "tpot", scenario.slo.tpot_p99),
    ):
        out[key] = None
        if target is None:
            continue
        missed = sum(1 for r in results if missed_slo(r, metric, target))
        out[key] = missed / n
        out[f"{key}_ci95"] = wilson_interval(missed, n)
        out[f"slo_{metric}_p99_s"] = target
    out["classes"] = {}
    for request_class in scenario.requests.classes:
        target = request_class.latency_slo_p99
        if target is None:
            continue
        missed = sum(1 for r in results if _class_missed(r.classes[request_class.name], target))
        out["classes"][request_class.name] = {
            "p_slo_violation": missed / n,
            "p_slo_violation_ci95": wilson_interval(missed, n),
            "slo_e2e_p99_s": target,
        }
    return out


def _class_missed(figures: dict[str, float], target_s: float) -> bool:
    """A class misses its SLO on a replication like the whole service does (see `risk`)."""
    slow = not (figures["e2e_p99_s"] <= target_s)
    return slow or figures["failed"] > 0.01 * max(1, figures["arrived"])


def missed_slo(result: ReplicationResult, metric: str, target_s: float) -> bool:
    """A replication misses a p99 SLO if its own p99 is over it or it lost over 1% (see `risk`)."""
    return not (result.latency_s[metric]["p99"] <= target_s) or _lost_any(result)


def _lost_any(result: ReplicationResult) -> bool:
    """A day that dropped or timed out more than 1% of its requests misses any latency SLO."""
    lost = result.requests["dropped"] + result.requests["timed_out"] + result.requests["lost"]
    return lost > 0.01 * max(1, result.requests["arrived"])


def good_day(scenario: Scenario, result: ReplicationResult, with_budget: bool = True) -> bool:
    """A replication (a simulated day) meets the scenario's SLO and its budget.

    Its e2e, TTFT and TPOT p99 are within `slo.*` where given (by `missed_slo`), it lost
    at most 1% of its requests (the completed share, checked even with no latency
    target), and (`with_budget`) its monthly cost is within `budget.monthly_usd` if set.
    """
    slo = scenario.slo
    targets = (("e2e", slo.latency_p99), ("ttft", slo.ttft_p99), ("tpot", slo.tpot_p99))
    for metric, target in targets:
        if target is not None and missed_slo(result, metric, target):
            return False
    if _lost_any(result):
        return False
    budget_usd = scenario.budget.monthly_usd
    if not with_budget or budget_usd is None:
        return True
    return not result.cost_usd["monthly_total"] > budget_usd


def aggregate(scenario: Scenario, results: list[ReplicationResult]) -> dict[str, object]:
    """The Monte Carlo summary of `run --json` (less the BOTEC, which the caller adds)."""
    requests: dict[str, int] = {}
    for result in results:
        for key, value in result.requests.items():
            requests[key] = requests.get(key, 0) + value
    cost_keys = sorted({key for r in results for key in r.cost_usd})
    costs = {key: spread([r.cost_usd.get(key, math.nan) for r in results]) for key in cost_keys}
    return {
        "scenario": scenario.name,
        "replications": len(results),
        "seed": scenario.seed,
        "horizon_s": scenario.horizon,
        "latency_s": pooled_latency(results),
        "replication_latency_s": {
            metric: {
                f"p{p:g}": spread([r.latency_s[metric][f"p{p:g}"] for r in results])
                for p in PERCENTILES
            }
            for metric in LATENCY_METRICS
        },
        "replication_p99_e2e_s": spread([r.latency_s["e2e"]["p99"] for r in results]),
        "worst_hour_p99_e2e_s": spread([_worst(r.latency_series["e2e_p99_s"]) for r in results]),
        "cost_usd": {
            "horizon": costs.get("horizon_total", spread([])),
            "monthly": costs.get("monthly_total", spread([])),
            "per_request": costs.get("per_request", spread([])),
            "per_1k_requests": costs.get("per_1k_requests", spread([])),
            "lines_monthly": {
                key.removeprefix("monthly_"): value
                for key, value in costs.items()
                if key.startswith("monthly_") and key != "monthly_total"
            },
        },
        "requests": requests,
        "classes": {
            name: {
                "arrived": sum(r.classes[name]["arrived"] for r in results),
                "completed": sum(r.classes[name]["completed"] for r in results),
                "failed": sum(r.classes[name]["failed"] for r in results),
                "e2e_p99_s": spread([r.classes[name]["e2e_p99_s"] for r in results]),
                "ttft_p99_s": spread([r.classes[name]["ttft_p99_s"] for r in results]),
            }
            for name in (results[0].classes if results else {})
        },
        "throughput_per_s": spread([r.throughput_per_s for r in results]),
        "utilization": spread([r.utilization for r in results]),
        "mean_running_per_replica": spread([r.mean_running_per_replica for r in results]),
        "replicas": {
            key: spread([r.replicas[key] for r in results]) for key in ("min", "mean", "max")
        },
        "events": {
            key: spread([r.events.get(key, 0) for r in results])
            for key in sorted({k for r in results for k in r.events})
        },
        "risk": risk(scenario, results),
    }


def _worst(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return max(finite) if finite else math.nan
