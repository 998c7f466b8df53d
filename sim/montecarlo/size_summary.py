"""`capsim size`'s answer as JSON-ready rows: one per candidate, ranked by monthly cost p50."""

from __future__ import annotations

import math
from typing import Any

from sim.montecarlo.sizing import ACCEPTED, Sized, candidate_scenario
from sim.scenario.plugins import SERVICE_MODELS
from sim.scenario.prices import resolve_rates
from sim.scenario.schema import Scenario
from sim.scenario.units import SECONDS_PER_MONTH


def botec_monthly_usd(base: Scenario, sized: Sized) -> float:
    """The BOTEC's bill: its replica estimate, every hour of the month, at the list price."""
    scenario = candidate_scenario(base, sized.candidate, sized.estimate_replicas)
    per_replica_s = resolve_rates(scenario).usd_per_replica_s.get(sized.candidate.market, math.nan)
    return sized.estimate_replicas * per_replica_s * SECONDS_PER_MONTH


def candidate_row(base: Scenario, sized: Sized) -> dict[str, Any]:
    """A candidate's chosen setting, the next cheaper one, and the BOTEC beside them."""
    candidate = sized.candidate
    chosen = sized.chosen
    row: dict[str, Any] = {
        "gpu": candidate.gpu,
        "tensor_parallel": candidate.gpus_per_replica,
        "market": candidate.market,
        "policy": candidate.policy,
        "target": candidate.target,
        "setting": _setting(sized),
        "status": _status(sized),
        "chosen": chosen.summary() if chosen else None,
        "next_cheaper": sized.next_cheaper.summary() if sized.next_cheaper else None,
        "next_target": (
            {"target": sized.next_target.candidate.target, **sized.next_target.summary()}
            if sized.next_target
            else None
        ),
        "botec_replicas": sized.estimate_replicas,
        "botec_monthly_usd": botec_monthly_usd(base, sized),
        "replicas_over_botec_ratio": (
            chosen.replicas / sized.estimate_replicas if chosen else math.nan
        ),
        "settings_evaluated": len(sized.evaluations),
        "replications_run": sum(e.replications for e in sized.evaluations),
        "evaluations": [{"target": e.candidate.target, **e.summary()} for e in sized.evaluations],
        "note": sized.note,
        "cheapest": False,
    }
    return row


def scenario_warnings(base: Scenario, sized: list[Sized]) -> list[str]:
    """What makes candidates alike for reasons of the scenario, not of the GPUs."""
    out = []
    if len({s.candidate.gpu for s in sized}) > 1:
        if base.pricing.gpu_usd_per_hour is not None:
            out.append(
                f"pricing.gpu_usd_per_hour = {base.pricing.gpu_usd_per_hour:g} prices every "
                "GPU type alike; drop it (--set pricing.gpu_usd_per_hour=...) to use the catalog"
            )
        if not SERVICE_MODELS[base.service.model].from_hardware:
            out.append(
                f"service.model is {base.service.model!r}: each request takes the given time "
                "on any GPU, so the GPU types differ only in price"
            )
    return out


def _setting(sized: Sized) -> str | None:
    """What the search chose: the fleet's size, or the target and minimum for target tracking."""
    if sized.chosen is None:
        return None
    if sized.candidate.target is None:
        return f"replicas={sized.chosen.replicas}"
    return f"target={sized.candidate.target:g} min_replicas={sized.chosen.replicas}"


def _status(sized: Sized) -> str:
    if sized.chosen is None:
        return "none accepted"
    return "over budget" if sized.over_budget else sized.chosen.status


def size_document(
    base: Scenario,
    sized: list[Sized],
    confidence: float,
    max_replications: int,
    engine: str = "exact",
) -> dict[str, Any]:
    """Every candidate's row, cheapest accepted first; the cheapest one marked."""
    rows = [candidate_row(base, s) for s in sized]
    rows.sort(key=_cost_key)
    accepted = [row for row in rows if row["status"] == ACCEPTED]
    if accepted:
        accepted[0]["cheapest"] = True
    return {
        "warnings": scenario_warnings(base, sized),
        "scenario": base.name,
        "seed": base.seed,
        "engine": engine,
        "horizon_s": base.horizon,
        "confidence": confidence,
        "max_replications": max_replications,
        "slo": base.slo.model_dump(),
        "budget_monthly_usd": base.budget.monthly_usd,
        "candidates": rows,
    }


def _cost_key(row: dict[str, Any]) -> tuple[int, float]:
    chosen = row["chosen"]
    cost = chosen["cost_monthly_usd"]["p50"] if chosen else math.inf
    return (0 if row["status"] == ACCEPTED else 1, cost)
