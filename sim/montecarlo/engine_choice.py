"""Which engine runs a scenario: the exact per-request one, the fleet-scale one, or `auto`.

`auto` keeps the exact engine while its estimated wall time is short and switches to
the fast engine above; `run`, `compare`, `sweep` and `size` all ask here.
`exact` is the compiled loop where it covers the fleet, else the SimPy engine; `simpy`
is the SimPy engine always, the oracle the compiled loop reproduces bit for bit.
"""

from __future__ import annotations

from sim.errors import CapsimError
from sim.montecarlo.run_plan import machine_memory_bytes, plan_run
from sim.scenario.schema import Scenario

ENGINES = ("exact", "fast", "auto", "simpy")
AUTO_EXACT_MAX_WALL_S = 60.0  # estimated exact-engine wall time above which auto goes fast


def choose_engine(scenario: Scenario, requested: str = "auto", workers: int = 1) -> str:
    """Exact, fast or simpy: the requested engine, or for "auto" the exact one while it fits
    in memory and its estimated wall time (all replications) is under AUTO_EXACT_MAX_WALL_S."""
    if requested not in ENGINES:
        raise CapsimError(f"--engine: unknown engine {requested!r}; allowed: {', '.join(ENGINES)}")
    if requested != "auto":
        return requested
    if scenario.traffic.closed_loop:
        return "exact"  # closed-loop clients run on the SimPy engine only
    plan = plan_run(scenario, workers)
    memory = machine_memory_bytes()
    fits = not memory or plan.memory_bytes <= 0.6 * memory
    return "exact" if fits and plan.wall_s <= AUTO_EXACT_MAX_WALL_S else "fast"
