"""Before a run: how many requests and how long; then run it with a progress bar."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from distributions.traffic import expected_request_count
from sim.baseline.botec import botec
from sim.baseline.headline import botec_headline
from sim.engine.service_time import build_service_model
from sim.errors import CapsimError
from sim.fleet.capacity import replica_capacity_per_s
from sim.fleet.closed_loop_bound import closed_loop_bound
from sim.fleet.compiled_fleet import runs_compiled
from sim.montecarlo.aggregate import aggregate
from sim.montecarlo.executors import Executor
from sim.montecarlo.replications import run_replications
from sim.montecarlo.results import ReplicationResult
from sim.scenario.plugins import AUTOSCALING, BATCHING
from sim.scenario.schema import Scenario
from sim.scenario.spot_terms import spot_terms

# Simulated requests per wall-second on one core of the reference 2-core machine,
# for the estimate only. benchmarks/bench_engine.py times `simulate` at 1.7-3.0
# million a second in the kernel and 80-220 thousand in SimPy; whole `capsim run`s
# (traffic, summaries, percentiles) measured with benchmarks/bench_plan.py set the
# figures (see README.md).
REQUESTS_PER_S = {
    "kernel": 1_500_000.0,
    "kernel_continuous": 700_000.0,
    "static": 100_000.0,
    "continuous": 50_000.0,
}
# Memory each engine holds per request of a replication, measured as peak RSS above
# a warm process's (bench_engine.py --memory): 153-155 B for the kernel's arrays,
# 411-429 B for the SimPy engine's per-request lists; rounded up.
BYTES_PER_REQUEST = {"kernel": 200.0, "simpy": 450.0}
# Each replica (or serverless container) launched: in SimPy a Replica, its process,
# its events and its books (2.1-2.7 kB, 28-30 us measured); in the kernel its arrays
# and its entries in the outcome's lists (630 B, 4-9 us), plus a finish key per
# batch slot under continuous batching.
SECONDS_PER_REPLICA = {"kernel": 10e-6, "simpy": 40e-6}
BYTES_PER_REPLICA = {"kernel": 700.0, "simpy": 2_500.0}
BYTES_PER_BATCH_SLOT = 8.0
# Imports, the kernel's cache, the BOTEC and the report: paid once per run.
STARTUP_S = 2.0


@dataclass(frozen=True)
class RunPlan:
    requests: float
    replications: int
    workers: int
    wall_s: float
    memory_bytes: float  # peak, all workers together
    replicas: float = 0.0  # replicas (or containers) one replication launches, first ones too
    engine: str = "kernel"  # "kernel" (the compiled fixed fleet) or "simpy"

    def describe(self) -> str:
        engine = "compiled kernel" if self.engine == "kernel" else "SimPy engine"
        return (
            f"about {self.requests:,.0f} requests over {self.replications} replications, "
            f"{self.replicas:,.0f} replicas launched in each ({engine}); "
            f"estimated {_human(self.wall_s)} on {self.workers} worker(s)"
        )


def _human(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def typical_fleet(scenario: Scenario) -> float:
    """Replicas up at a time, roughly: the fixed size, or what the mean load needs."""
    fleet = scenario.fleet
    config = scenario.autoscaling
    if not AUTOSCALING[config.policy].scales:
        return float(fleet.replicas)
    capacity_per_s = replica_capacity_per_s(scenario, build_service_model(scenario))
    needed = scenario.traffic.mean_rate_per_s / (capacity_per_s * config.target)
    return float(min(config.max_replicas, max(fleet.replicas, config.min_replicas, needed)))


def expected_launches(scenario: Scenario, requests: float) -> float:
    """Replicas (or serverless containers) one replication launches, the first ones included.

    A serverless request that finds no warm container starts one; a container
    stays warm for `idle_timeout`, so at the mean rate one is missing with
    probability about exp(-rate x idle_timeout): with `idle_timeout = 0` every
    request starts one. Each spot notice launches a replacement; a replica is
    noticed after max(0, life - notice) with life ~ Exp(rate), on average
    exp(-rate x notice) / rate, so each spot replica slot sees horizon x rate x
    exp(rate x notice) launches.
    """
    launches = float(scenario.fleet.replicas)
    config = scenario.autoscaling
    if AUTOSCALING[config.policy].containers:
        rate_per_s = requests / scenario.horizon
        launches += requests * math.exp(-rate_per_s * config.idle_timeout)
    fleet = scenario.fleet
    if fleet.uses_spot:
        terms = spot_terms(scenario)
        share = 1.0 if fleet.spot_fraction is None else fleet.spot_fraction
        per_s = terms.interruptions_per_hour / 3600.0
        per_slot = scenario.horizon * per_s * math.exp(per_s * terms.notice_s)
        launches += typical_fleet(scenario) * share * per_slot
    return launches


def expected_requests(scenario: Scenario) -> float:
    """Expected requests per replication; for closed-loop clients, at most the throughput
    bound over the horizon (`sim.fleet.closed_loop_bound`)."""
    if scenario.traffic.closed_loop:
        service = build_service_model(scenario)
        return closed_loop_bound(scenario, service).throughput_per_s * scenario.horizon
    return expected_request_count(scenario)


def plan_run(scenario: Scenario, workers: int) -> RunPlan:
    """Expected requests, replica launches, wall time and memory of a run, for its engine."""
    per_replication = expected_requests(scenario)
    launches = expected_launches(scenario, per_replication)
    if runs_compiled(scenario):
        engine = "kernel"
        continuous = BATCHING[scenario.batching.policy].per_token_steps
        speed = REQUESTS_PER_S["kernel_continuous" if continuous else "kernel"]
        slots = scenario.batching.max_batch  # a continuous plan's finishes, a static batch
        bytes_per_replica = BYTES_PER_REPLICA["kernel"] + BYTES_PER_BATCH_SLOT * slots
    else:
        engine = "simpy"
        continuous = BATCHING[scenario.batching.policy].per_token_steps
        speed = REQUESTS_PER_S["continuous" if continuous else "static"]
        bytes_per_replica = BYTES_PER_REPLICA["simpy"]
    replication_s = per_replication / speed + launches * SECONDS_PER_REPLICA[engine]
    replication_bytes = per_replication * BYTES_PER_REQUEST[engine] + launches * bytes_per_replica
    parallel = max(1, min(workers, scenario.replications))
    wall_s = STARTUP_S + replication_s * scenario.replications / parallel
    return RunPlan(
        requests=per_replication * scenario.replications,
        replications=scenario.replications,
        workers=parallel,
        wall_s=wall_s,
        memory_bytes=replication_bytes * parallel,
        replicas=launches,
        engine=engine,
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
        per_replication = plan.requests / plan.replications
        raise CapsimError(
            f"one replication holds about {per_replication:,.0f} requests and "
            f"{plan.replicas:,.0f} replicas launched, about {plan.memory_bytes / 1e9:,.0f} GB "
            f"across {plan.workers} worker(s), more than this machine's {memory / 1e9:,.0f} GB "
            "allows; shorten the horizon (--set horizon=...), scale the traffic or the fleet "
            "down, or use fewer workers"
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
