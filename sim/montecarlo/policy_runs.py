"""Every policy of a compare, run in full: each one's scenario, summary and replications.

`compare --out` writes each policy's run folder from these, and a report reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.baseline.botec import botec
from sim.baseline.headline import botec_headline
from sim.montecarlo.aggregate import aggregate
from sim.montecarlo.executors import Executor
from sim.montecarlo.replications import run_replications
from sim.montecarlo.results import ReplicationResult
from sim.scenario.schema import Scenario


@dataclass
class PolicyRun:
    policy: str
    scenario: Scenario
    summary: dict[str, Any]
    results: list[ReplicationResult]


def run_policies(
    variants: list[tuple[str, Scenario]],
    workers: int = 1,
    executor: Executor | None = None,
    runner: Callable[[Scenario], list[ReplicationResult]] | None = None,
) -> list[PolicyRun]:
    """Each (policy, scenario) variant on the same traffic and seeds, summarised like `run`.

    The variants come from `compare.runnable_variants`, which says which were skipped.
    """
    runs = []
    for policy, variant in variants:
        if runner is not None:  # the fleet-scale engine runs its replications together
            results = runner(variant)
        else:
            results = run_replications(variant, workers=workers, executor=executor)
        summary = aggregate(variant, results)
        summary["botec"] = botec(variant)
        summary["botec_headline"] = botec_headline(variant, summary["botec"])
        runs.append(PolicyRun(policy, variant, summary, results))
    return runs
