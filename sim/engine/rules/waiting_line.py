"""Who may wait, and who leaves: the queue cap and a client's patience.

Both engines ask these before a request joins a line and at the head of a line
(`EngineState.route`, `Replica._next_admissible`, `route` and `next_admissible`
in `compiled_loop.py`); a `max_queue` below zero means no cap.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def line_has_room(waiting: int, max_queue: int, sharers: int) -> bool:
    """A line holding `waiting` takes one more: no cap, or fewer than `max_queue` per
    replica sharing it (a shared line's cap grows with the replicas that take work,
    counted as at least one)."""
    return max_queue < 0 or waiting < max_queue * max(1, sharers)


@njit(cache=True)
def gave_up(deadline_s: float, now_s: float) -> bool:
    """The client's patience ran out before `now_s` (waiting until exactly its deadline is
    still waiting)."""
    return deadline_s < now_s
