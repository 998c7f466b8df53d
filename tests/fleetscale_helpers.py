"""What the fast-engine tests share: both engines on one scenario, and a relative error."""

from __future__ import annotations

from sim.fleetscale.run import run_fast
from sim.montecarlo.aggregate import aggregate
from sim.montecarlo.replications import run_replications
from sim.scenario.file import load_scenario

PROBE_REQUESTS = 20_000  # requests per latency-model probe: small, for seconds-long tests


def both_engines(scenario) -> tuple[dict, dict]:
    """(fast, exact) summaries of the scenario on the same seeds."""
    fast = aggregate(scenario, run_fast(scenario, requests_per_probe=PROBE_REQUESTS))
    exact = aggregate(scenario, run_replications(scenario))
    return fast, exact


def relative(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def spot_chat_scenario(interruptions_per_hour: float, replications: int, *more: str):
    """Two hours of diurnal-chat at a constant 10 req/s on six spot replicas at $1.50/h."""
    return load_scenario(
        "diurnal-chat",
        [
            "horizon=7200",
            'traffic.profile="constant"',
            "traffic.rate_per_s=10",
            "fleet.replicas=6",
            'fleet.market="spot"',
            f"spot.interruptions_per_hour={interruptions_per_hour}",
            "pricing.spot_usd_per_hour=1.5",
            f"replications={replications}",
            *more,
        ],
    )
