"""A router registered from outside capsim, to show a new router is one file plus its line.

Power of two choices (Mitzenmacher 2001): draw two distinct replicas at random and
send the request to the one with fewer queued plus running requests (the first on
a tie). The compiled loop has no version of it, so it runs on the SimPy engine.
"""

from __future__ import annotations

import numpy as np

from sim.engine.routers import Router
from sim.scenario.plugins import Router as RouterPlugin

PLUGIN = RouterPlugin(
    "power-of-two-choices",
    "the less loaded of two replicas drawn at random",
    "power_of_two_router:power_of_two_choices",
)


def power_of_two_choices(rng: np.random.Generator) -> Router:
    """The less loaded of two distinct replicas drawn uniformly (all of one if alone)."""

    def choose(loads: list[int]) -> int:
        n = len(loads)
        if n == 1:
            return 0
        first = int(rng.integers(n))
        second = int(rng.integers(n - 1))
        second += second >= first  # distinct from the first
        return first if loads[first] <= loads[second] else second

    return choose
