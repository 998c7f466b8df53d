"""Accounting both engines keep: the time integrals of counts (busy time, running, waiting).

A count held constant from `since_s` to `now_s` adds count x span to its integral;
the SimPy replica and line and the compiled loop bring their books up to date
with these functions only, so the two engines' integrals agree to the bit.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def accrue(area: float, count: int, since_s: float, now_s: float) -> float:
    """The integral `area` of a count held at `count` since `since_s`, brought to `now_s`."""
    return area + count * (now_s - since_s)


@njit(cache=True)
def accrue_busy(
    busy_s: float, running_area: float, running: int, since_s: float, now_s: float
) -> tuple[float, float]:
    """A replica's (busy time, running-request integral) brought to `now_s`: time counts
    as busy while at least one request is in service."""
    if running:
        span_s = now_s - since_s
        return busy_s + span_s, running_area + running * span_s
    return busy_s, running_area


@njit(cache=True)
def expired_overcount(now_s: float, joined_s: float, deadline_s: float) -> float:
    """What a line's length integral, brought to `now_s`, over-counts for a client who
    left at its deadline: the time since it left, or since it joined if it joined late."""
    return now_s - max(joined_s, deadline_s)
