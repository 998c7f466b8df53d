"""A sweep: every point of a grid, each with the same N seeded replications.

Replication r of every point draws from the same SeedSequence(seed) streams
(common random numbers), so points differ by their settings, not by luck. The
work is cut into tasks (point, block of replications); each finished task is
stored on its own, so a rerun computes only what is missing.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from sim.engine.service_time import build_service_model
from sim.errors import CapsimError
from sim.montecarlo.aggregate import missed_slo, spread, wilson_interval
from sim.montecarlo.executors import Executor, ReplicationBlock, replication_blocks, run_block
from sim.montecarlo.json_output import plain
from sim.montecarlo.results import ReplicationResult
from sim.montecarlo.run_info import capsim_version
from sim.montecarlo.sweep_grid import Point, grid_points, parse_vary
from sim.montecarlo.task_store import TaskStore
from sim.scenario.file import load_scenario
from sim.scenario.schema import Scenario

# What must agree for a rerun to add to a folder instead of being refused.
IDENTITY_KEYS = ("scenario_digest", "grid", "seed", "replications", "block_size", "engine")
TASKS_PER_POINT = 4  # replications are cut into about this many blocks per point


@dataclass
class SweepPlan:
    """The grid's points, the scenario of each valid one, and the tasks to run."""

    manifest: dict[str, Any]
    points: list[Point]
    scenarios: dict[int, Scenario]
    invalid: dict[int, str] = field(default_factory=dict)
    tasks: list[ReplicationBlock] = field(default_factory=list)


def scenario_record(ref: str, sets: list[str], base: Scenario) -> dict[str, Any]:
    """A results folder's record of its scenario: how it was named, its content, its digest
    (which a rerun into the folder must match)."""
    content = base.model_dump(mode="json")
    digest = hashlib.sha256(json.dumps(plain(content), sort_keys=True).encode("utf-8"))
    return {
        "scenario": {"ref": str(ref), "name": base.name, "sets": list(sets), "content": content},
        "scenario_digest": digest.hexdigest(),
    }


def plan_sweep(
    ref: str,
    sets: list[str],
    varies: list[str],
    seed: int | None = None,
    replications: int | None = None,
) -> SweepPlan:
    """Parse the grid, build each point's scenario (skipping invalid ones), cut the tasks."""
    grid = [parse_vary(text) for text in varies]
    points = grid_points(grid)
    base = _with_run(load_scenario(ref, sets), seed, replications)
    n = base.replications
    block_size = max(1, math.ceil(n / TASKS_PER_POINT))
    scenarios: dict[int, Scenario] = {}
    invalid: dict[int, str] = {}
    for point in points:
        try:
            loaded = load_scenario(ref, [*sets, *point.overrides()])
            scenario = _with_run(loaded, seed, replications)
            build_service_model(scenario)
        except CapsimError as exc:
            invalid[point.index] = str(exc)
            continue
        scenarios[point.index] = scenario
    if not scenarios:
        first = invalid[points[0].index]
        raise CapsimError(f"--vary: no point of the grid is valid; the first: {first}")
    manifest = {
        "kind": "sweep",
        "capsim_version": capsim_version(),
        **scenario_record(ref, sets, base),
        "grid": [{"key": v.key, "values": v.values} for v in grid],
        "seed": base.seed,
        "replications": n,
        "block_size": block_size,
        "engine": "exact",  # which engine runs every point's tasks (set_engine)
        "points": [
            {
                "point": p.index,
                "settings": p.settings,
                "name": p.name,
                "error": invalid.get(p.index),
            }
            for p in points
        ],
    }
    tasks = [
        block
        for index, scenario in scenarios.items()
        for block in replication_blocks(scenario, n, block_size, point=index)
    ]
    return SweepPlan(manifest, points, scenarios, invalid, tasks)


def set_engine(plan: SweepPlan, engine: str) -> None:
    """Record the engine ("exact" or "fast") that runs all the sweep's points: one for the
    whole grid, so points differ by their settings, not by their engine."""
    plan.manifest["engine"] = engine


def _with_run(scenario: Scenario, seed: int | None, replications: int | None) -> Scenario:
    update: dict[str, int] = {}
    if seed is not None:
        update["seed"] = seed
    if replications is not None:
        update["replications"] = replications
    return scenario.model_copy(update=update) if update else scenario


def pending_tasks(plan: SweepPlan, store: TaskStore) -> list[ReplicationBlock]:
    """The tasks whose rows are not on disk yet."""
    done = store.done_keys()
    return [task for task in plan.tasks if task.key not in done]


def run_sweep(
    plan: SweepPlan,
    store: TaskStore,
    executor: Executor,
    on_task: Callable[[ReplicationBlock], None] | None = None,
    block_runner: Callable[[ReplicationBlock], list[ReplicationResult]] = run_block,
) -> None:
    """Run the missing tasks, storing each one's rows as soon as it finishes.

    `block_runner` runs one task: the exact engine's `run_block` unless the fast engine's
    is given (the CLI picks it; this layer does not import the fast engine)."""
    points = {p.index: p for p in plan.points}
    for task, results in executor.map_unordered(block_runner, pending_tasks(plan, store)):
        store.write_task(task.key, task_rows(points[task.point], task.scenario, results))
        if on_task:
            on_task(task)


def task_rows(point: Point, scenario: Scenario, results: list[ReplicationResult]) -> pd.DataFrame:
    """One row per replication: the point's settings, the seed and the replication's figures."""
    rows = []
    for result in results:
        row: dict[str, Any] = dict(point.settings)
        row.update({"point": point.index, "seed": scenario.seed})
        row.update(result.row())
        if scenario.slo.latency_p99 is not None:
            row["slo_met"] = not missed_slo(result, "e2e", scenario.slo.latency_p99)
        budget_usd = scenario.budget.monthly_usd
        if budget_usd is not None:
            row["over_budget"] = bool(result.cost_usd["monthly_total"] > budget_usd)
        rows.append(row)
    return pd.DataFrame(rows)


def point_summaries(manifest: dict[str, Any], rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Per point: cost and e2e p99 spread over replications, and the risks with 95% intervals."""
    out = []
    by_point = dict(iter(rows.groupby("point"))) if len(rows) else {}
    for point in manifest["points"]:
        found = by_point.get(point["point"])
        entry: dict[str, Any] = {
            "point": point["point"],
            "name": point["name"],
            "settings": point["settings"],
            "error": point["error"],
            "replications": 0 if found is None else len(found),
        }
        if found is not None:
            entry["cost_monthly_usd"] = spread(found["cost_monthly_total_usd"])
            entry["cost_per_1k_requests_usd"] = spread(found["cost_per_1k_requests_usd"])
            entry["e2e_p99_s"] = spread(found["e2e_p99_s"])
            entry["utilization"] = spread(found["utilization"])
            entry["throughput_per_s"] = spread(found["throughput_per_s"])
            entry["replicas_mean"] = spread(found["replicas_mean"])
            n = len(found)
            misses = n - int(found["slo_met"].astype(bool).sum()) if "slo_met" in found else None
            over = int(found["over_budget"].astype(bool).sum()) if "over_budget" in found else None
            for key, hits in (("p_slo_violation", misses), ("p_over_budget", over)):
                entry[key] = None if hits is None else hits / n
                if hits is not None:
                    entry[f"{key}_ci95"] = wilson_interval(hits, n)
        out.append(entry)
    return out
