"""Compare autoscaling policies on the same traffic and the same seeds."""

from __future__ import annotations

import math
from typing import Any

from sim.errors import CapsimError
from sim.scenario.file import validate_scenario
from sim.scenario.plugins import AUTOSCALING, MARKETS
from sim.scenario.schema import Scenario

# What `compare` runs when no --policies are named: those of these the scenario can run.
DEFAULT_POLICIES = ("fixed", "target-tracking", "scheduled", "predictive", "serverless")


def policy_variant(scenario: Scenario, policy: str) -> Scenario:
    """The scenario with another autoscaling policy, validated like a file.

    Serverless starts from zero containers (or min_replicas); the others start
    from fleet.replicas. `scheduled` needs the scenario's own schedule: without one
    it would only be a fixed fleet under another name, so it is refused.
    """
    if policy not in AUTOSCALING:
        raise_unknown(policy)
    plugin = AUTOSCALING[policy]
    if plugin.needs_schedule and not scenario.autoscaling.schedule:
        raise CapsimError(
            f"{scenario.name} with autoscaling.policy={policy}: autoscaling.schedule is "
            'empty; give one, e.g. --set \'autoscaling.schedule=[["08:00", 4], '
            '["20:00", 1]]\''
        )
    data = scenario.model_dump(mode="python")
    data["autoscaling"]["policy"] = policy
    autoscaling = data["autoscaling"]
    if plugin.containers:
        data["fleet"]["market"] = "serverless"
        data["fleet"]["replicas"] = autoscaling["min_replicas"]
    elif plugin.scales:
        low, high = autoscaling["min_replicas"], autoscaling["max_replicas"]
        data["fleet"]["replicas"] = min(high, max(low, data["fleet"]["replicas"]))
        if MARKETS[data["fleet"]["market"]].containers:
            data["fleet"]["market"] = "on-demand"
    return validate_scenario(data, source=f"{scenario.name} with autoscaling.policy={policy}")


def raise_unknown(policy: str) -> None:
    raise CapsimError(
        f"--policies: unknown policy {policy!r}; allowed: {', '.join(AUTOSCALING.names())}"
    )


def runnable_variants(
    scenario: Scenario, policies: list[str] | None
) -> tuple[list[tuple[str, Scenario]], dict[str, str]]:
    """The scenario under each policy, and the policies skipped with the reason.

    Named policies must all run (the first that cannot is the error); with None,
    the defaults that cannot run on this scenario are skipped, each with why.
    """
    if policies is not None:
        return [(policy, policy_variant(scenario, policy)) for policy in policies], {}
    variants: list[tuple[str, Scenario]] = []
    skipped: dict[str, str] = {}
    for policy in DEFAULT_POLICIES:
        try:
            variants.append((policy, policy_variant(scenario, policy)))
        except CapsimError as exc:
            prefix = f"{scenario.name} with autoscaling.policy={policy}: "
            skipped[policy] = str(exc).removeprefix(prefix)
    if not variants:
        reasons = "; ".join(f"{policy}: {why}" for policy, why in skipped.items())
        raise CapsimError(f"{scenario.name}: none of the default policies can run ({reasons})")
    return variants, skipped


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
        "requests_completed": requests["completed"],
        "requests_dropped": requests["dropped"],
        "requests_timed_out": requests["timed_out"],
        "requests_lost": requests["lost"],
        "requests_in_flight": requests["in_flight"],
        "requests_retried": requests["retried"],
    }


def _mean_event(summary: dict[str, Any], key: str) -> float:
    found = summary["events"].get(key)
    return math.nan if found is None else found["mean"]
