"""Sums of floats that do not depend on the order of their terms.

Both engines add up the same per-replica load integrals at each autoscaler sync,
but keep their replicas in different orders; a correctly rounded sum
(`math.fsum`) makes the total, and so every scaling decision, the same in both.
`add_exactly` keeps a running sum exactly, as the partials `math.fsum` uses, so
the replicas that stopped are added once, not at every sync.
"""

from __future__ import annotations


def add_exactly(partials: list[float], value: float) -> None:
    """Add `value` to the exact sum held in `partials` (non-overlapping, Shewchuk's method)."""
    kept = 0
    for other in partials:
        if abs(value) < abs(other):
            value, other = other, value
        high = value + other
        low = other - (high - value)
        if low:
            partials[kept] = low
            kept += 1
        value = high
    partials[kept:] = [value]
