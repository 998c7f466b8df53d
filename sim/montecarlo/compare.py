"""Compare autoscaling policies on the same traffic and the same seeds."""

from __future__ import annotations

import math
from typing import Any

from sim.montecarlo.aggregate import aggregate
from sim.montecarlo.replications import run_replications
from sim.scenario.file import validate_scenario
from sim.scenario.schema import AUTOSCALING_POLICIES, Scenario


def policy_variant(scenario: Scenario, policy: str) -> Scenario:
    """The scenario with another autoscaling policy, validated like a file.

    Serverless starts from zero containers (or min_replicas); the others start
    from fleet.replicas.
    """
    if policy not in AUTOSCALING_POLICIES:
        raise_unknown(policy)
    data = scenario.model_dump(mode="python")
    data["autoscaling"]["policy"] = policy
    autoscaling = data["autoscaling"]
    if policy == "serverless":
        data["fleet"]["market"] = "serverless"
        data["fleet"]["replicas"] = autoscaling["min_replicas"]
    elif policy != "fixed":
        low, high = autoscaling["min_replicas"], autoscaling["max_replicas"]
        data["fleet"]["replicas"] = min(high, max(low, data["fleet"]["replicas"]))
        if data["fleet"]["market"] == "serverless":
            data["fleet"]["market"] = "on-demand"
    if policy == "scheduled" and not autoscaling["schedule"]:
        data["autoscaling"]["schedule"] = [(0.0, data["fleet"]["replicas"])]
    return validate_scenario(data, source=f"{scenario.name} with autoscaling.policy={policy}")


def raise_unknown(policy: str) -> None:
    from sim.errors import CapsimError

    raise CapsimError(
        f"--policies: unknown policy {policy!r}; allowed: {', '.join(AUTOSCALING_POLICIES)}"
    )


def compare_policies(
    scenario: Scenario, policies: list[str], workers: int = 1, on_result=None, runner=None
) -> list[dict[str, Any]]:
    """One row per policy: cost, latency, SLO, fleet size, cold starts, interruptions, requests.

    `runner`, if given, runs each variant's replications instead (the fleet-scale engine).
    """
    variants = [(policy, policy_variant(scenario, policy)) for policy in policies]
    rows = []
    for policy, variant in variants:
        if runner is not None:
            results = runner(variant)
        else:
            results = run_replications(variant, workers=workers, on_result=on_result)
        summary = aggregate(variant, results)
        rows.append(policy_row(policy, summary))
    return rows


def policy_row(policy: str, summary: dict[str, Any]) -> dict[str, Any]:
    """The figures `compare` shows for one policy, from its Monte Carlo summary."""
    risk = summary["risk"]
    requests = summary["requests"]
    violation = risk.get("p_slo_violation")
    return {
        "policy": policy,
        "replications": summary["replications"],
        "cost_monthly_usd_p50": summary["cost_usd"]["monthly"]["p50"],
        "cost_monthly_usd_p95": summary["cost_usd"]["monthly"]["p95"],
        "latency_e2e_s_p50": summary["latency_s"]["e2e"]["p50"],
        "latency_e2e_s_p99": summary["latency_s"]["e2e"]["p99"],
        "worst_hour_p99_e2e_s": summary["worst_hour_p99_e2e_s"]["p50"],
        "slo_days_met_share": None if violation is None else 1.0 - violation,
        "p_over_budget": risk.get("p_over_budget"),
        "replicas_min": summary["replicas"]["min"]["mean"],
        "replicas_mean": summary["replicas"]["mean"]["mean"],
        "replicas_max": summary["replicas"]["max"]["mean"],
        "cold_starts_per_replication": _mean_event(summary, "cold_starts"),
        "interruptions_per_replication": _mean_event(summary, "interruptions"),
        "requests_arrived": requests["arrived"],
        "requests_dropped": requests["dropped"],
        "requests_timed_out": requests["timed_out"],
        "requests_lost": requests["lost"],
        "requests_retried": requests["retried"],
    }


def _mean_event(summary: dict[str, Any], key: str) -> float:
    found = summary["events"].get(key)
    return math.nan if found is None else found["mean"]
