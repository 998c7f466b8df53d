"""What the fast-engine tests share: both engines on one scenario, and a relative error."""

from __future__ import annotations

from sim.fleetscale.run import run_fast
from sim.montecarlo.aggregate import aggregate
from sim.montecarlo.replications import run_replications

PROBE_REQUESTS = 20_000  # requests per latency-model probe: small, for seconds-long tests


def both_engines(scenario) -> tuple[dict, dict]:
    """(fast, exact) summaries of the scenario on the same seeds."""
    fast = aggregate(scenario, run_fast(scenario, requests_per_probe=PROBE_REQUESTS))
    exact = aggregate(scenario, run_replications(scenario))
    return fast, exact


def relative(a: float, b: float) -> float:
    return abs(a - b) / abs(b)
