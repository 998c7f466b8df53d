"""How the clock moves to an arrival: one rule for the SimPy engine and the compiled loop.

SimPy adds a timeout's delay to its clock (`now + delay`), so an arrival's own time
is reached through the delay that lands on it. Where no delay lands exactly (a
rounding tie, rare), the nearest later time is taken; both engines then route the
arrival at that instant.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def landing_delay_s(now_s: float, time_s: float) -> float:
    """The delay from `now_s` whose landing `now_s + d` (as floats add) is the earliest
    at or after `time_s`: exactly `time_s` whenever any delay gives it (always when
    `time_s <= 2 * now_s`)."""
    delay_s = time_s - now_s
    while now_s + delay_s < time_s:
        delay_s = np.nextafter(delay_s, np.inf)
    while now_s + delay_s > time_s:
        shorter_s = np.nextafter(delay_s, -np.inf)
        if now_s + shorter_s < time_s:
            break  # no delay lands on time_s: the next landing after it
        delay_s = shorter_s
    return delay_s
