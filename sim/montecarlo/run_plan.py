"""Before a run: how many requests and how long; then run it with a progress bar."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from distributions.traffic import expected_request_count
from sim.baseline.botec import botec
from sim.baseline.headline import botec_headline
from sim.errors import CapsimError
from sim.fleet.compiled_fleet import runs_compiled
from sim.montecarlo.aggregate import aggregate
from sim.montecarlo.executors import Executor
from sim.montecarlo.replications import run_replications
from sim.montecarlo.results import ReplicationResult
from sim.scenario.schema import Scenario

# Simulated requests per wall-second on one core of the reference 2-core machine;
# conservative, for the estimate only. benchmarks/bench_engine.py times `simulate`
# at 1.7-3.0 million a second in the kernel and 80-220 thousand in SimPy; a whole
# `capsim run` of a fixed fleet (traffic, summaries, percentiles) ran 1.8 million.
REQUESTS_PER_S = {"kernel": 500_000.0, "static": 150_000.0, "continuous": 50_000.0}
# Memory each engine holds per request of a replication, measured as peak RSS above
# a warm process's (bench_engine.py --memory): 153-155 B for the kernel's arrays,
# 411-429 B for the SimPy engine's per-request lists; rounded up.
BYTES_PER_REQUEST = {"kernel": 200.0, "simpy": 450.0}


@dataclass(frozen=True)
class RunPlan:
    requests: float
    replications: int
    workers: int
    wall_s: float
    memory_bytes: float  # peak, all workers together

    def describe(self) -> str:
        return (
            f"about {self.requests:,.0f} requests over {self.replications} replications; "
            f"estimated {_human(self.wall_s)} on {self.workers} worker(s)"
        )


def _human(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def plan_run(scenario: Scenario, workers: int) -> RunPlan:
    """Expected request count and wall time of a run, from the traffic integral."""
    per_replication = expected_request_count(scenario)
    if runs_compiled(scenario):
        speed, bytes_per_request = REQUESTS_PER_S["kernel"], BYTES_PER_REQUEST["kernel"]
    else:
        continuous = scenario.batching.policy == "continuous"
        speed = REQUESTS_PER_S["continuous" if continuous else "static"]
        bytes_per_request = BYTES_PER_REQUEST["simpy"]
    parallel = max(1, min(workers, scenario.replications))
    wall_s = per_replication * scenario.replications / (speed * parallel)
    memory = per_replication * bytes_per_request * parallel
    return RunPlan(
        per_replication * scenario.replications, scenario.replications, parallel, wall_s, memory
    )


def machine_memory_bytes() -> float:
    """Physical memory of this machine (0 if the platform will not say)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0.0


def check_plan(plan: RunPlan, yes: bool) -> None:
    """Refuse a run that cannot fit in memory, and one over an hour unless `yes`."""
    memory = machine_memory_bytes()
    if memory and plan.memory_bytes > 0.6 * memory:
        raise CapsimError(
            f"one replication holds about {plan.requests / plan.replications:,.0f} requests, "
            f"about {plan.memory_bytes / 1e9:,.0f} GB across {plan.workers} worker(s), more than "
            f"this machine's {memory / 1e9:,.0f} GB allows; shorten the horizon "
            "(--set horizon=...), scale the traffic down, or use fewer workers"
        )
    if plan.wall_s > 3600 and not yes:
        raise CapsimError(
            f"this run would take about {plan.wall_s / 3600:.1f} h; pass --yes to run it "
            "anyway, or shorten the horizon or lower -n"
        )


def run_and_aggregate(
    scenario: Scenario,
    workers: int,
    show_progress: bool,
    executor: Executor | None = None,
    runner: Callable[[Scenario], list[ReplicationResult]] | None = None,
) -> tuple[dict[str, Any], list[ReplicationResult]]:
    """Run the replications (with a progress bar on a terminal) and summarise them.

    `runner`, if given, runs all of them instead (the fleet-scale engine).
    """
    show_progress = show_progress and sys.stderr.isatty()
    if runner is not None:
        results = runner(scenario)
    elif show_progress:
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("replications", total=scenario.replications)
            results = run_replications(
                scenario,
                workers=workers,
                on_result=lambda _: progress.advance(task),
                executor=executor,
            )
    else:
        results = run_replications(scenario, workers=workers, executor=executor)
    summary = aggregate(scenario, results)
    summary["botec"] = botec(scenario)
    summary["botec_headline"] = botec_headline(scenario, summary["botec"])
    return summary, results
