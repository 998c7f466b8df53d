"""Which replica a new request joins, from the loads of the replicas that take work.

A load is a replica's queued plus running requests. The SimPy routers
(`sim/engine/routers.py`) and the compiled loop's `choose` apply these functions to
the same loads and the same uniform draws, so both pick the same replica.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def round_robin_pick(turn: int, count: int) -> int:
    """Round-robin: the `turn`-th choice (counted from 1) among `count` replicas."""
    return turn % count


@njit(cache=True)
def random_pick(draw: float, count: int) -> int:
    """Uniform random: the replica a uniform [0, 1) `draw` lands on."""
    return int(draw * count)


@njit(cache=True)
def fewest(loads: np.ndarray) -> tuple[int, int]:
    """Least-loaded: the smallest load and how many replicas share it."""
    best = loads[0]
    tied = 1
    for i in range(1, loads.shape[0]):
        if loads[i] < best:
            best = loads[i]
            tied = 1
        elif loads[i] == best:
            tied += 1
    return best, tied


@njit(cache=True)
def tie_needs_draw(tied: int) -> bool:
    """Least-loaded draws a uniform number only to break a tie: a lone best takes none."""
    return tied > 1


@njit(cache=True)
def tie_skip(draw: float, tied: int) -> int:
    """Least-loaded's tie rule: how many of the `tied` least-loaded replicas (in order)
    to pass over, uniformly at random from a [0, 1) `draw`."""
    return int(draw * tied)


@njit(cache=True)
def nth_with_load(loads: np.ndarray, load: int, skip: int) -> int:
    """The index of the (skip + 1)-th replica whose load is `load`; -1 if none."""
    for i in range(loads.shape[0]):
        if loads[i] == load:
            if skip == 0:
                return i
            skip -= 1
    return -1
