"""How a run was made: the scenario in full, the engine, the executor and capsim's version.

Written beside a run's results so that a report made later says what it shows.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from sim.fleet.compiled_fleet import runs_compiled
from sim.scenario.schema import Scenario


def capsim_version() -> str:
    """The installed capsim's version ("unknown" when run from an uninstalled tree)."""
    try:
        return version("capsim")
    except PackageNotFoundError:
        return "unknown"


def engine_name(scenario: Scenario) -> str:
    """Which engine `simulate` picks for the scenario."""
    if runs_compiled(scenario):
        return "compiled loop (numba)"
    return "SimPy discrete-event engine"


def run_info(scenario: Scenario, executor: str, workers: int) -> dict[str, Any]:
    """The `run.json` document of a run folder."""
    return {
        "scenario_name": scenario.name,
        "scenario": scenario.model_dump(mode="json"),
        "seed": scenario.seed,
        "replications": scenario.replications,
        "engine": engine_name(scenario),
        "executor": executor,
        "workers": workers,
        "capsim_version": capsim_version(),
    }
