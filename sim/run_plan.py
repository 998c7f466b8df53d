"""Before a run: how many requests and how long; then run it with a progress bar."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from sim.aggregate import aggregate
from sim.baseline import botec_headline
from sim.botec import botec
from sim.montecarlo import run_replications
from sim.results import ReplicationResult
from sim.scenario import Scenario
from sim.traffic import expected_request_count

# Simulated requests per wall-second on one core of the reference 2-core machine,
# measured by benchmarks/bench_engine.py; conservative, for the estimate only.
REQUESTS_PER_S = {"static": 150_000.0, "continuous": 50_000.0}


@dataclass(frozen=True)
class RunPlan:
    requests: float
    replications: int
    workers: int
    wall_s: float

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
    continuous = scenario.batching.policy == "continuous"
    speed = REQUESTS_PER_S["continuous" if continuous else "static"]
    parallel = max(1, min(workers, scenario.replications))
    wall_s = per_replication * scenario.replications / (speed * parallel)
    return RunPlan(per_replication * scenario.replications, scenario.replications, parallel, wall_s)


def run_and_aggregate(
    scenario: Scenario, workers: int, show_progress: bool
) -> tuple[dict[str, Any], list[ReplicationResult]]:
    """Run the replications (with a progress bar on a terminal) and summarise them."""
    show_progress = show_progress and sys.stderr.isatty()
    if show_progress:
        from rich.progress import Progress

        with Progress(transient=True) as progress:
            task = progress.add_task("replications", total=scenario.replications)
            results = run_replications(
                scenario, workers=workers, on_result=lambda _: progress.advance(task)
            )
    else:
        results = run_replications(scenario, workers=workers)
    summary = aggregate(scenario, results)
    summary["botec"] = botec(scenario)
    summary["botec_headline"] = botec_headline(scenario, summary["botec"])
    return summary, results
