"""Static batching: who joins a batch, and whether its head waits for a fuller one.

A static batch holds every member's whole context (prompt plus output) in KV
memory until its longest member ends, so a member joins only while the batch
has a slot and the sum fits. With `max_wait` the head waits, up to that long
after its arrival, for a full batch. `Replica._serve_static` and the compiled
loop's `start_batch` and `start_next_or_idle` decide with these functions.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def batch_open(size: int, max_batch: int) -> bool:
    """The batch has a free slot."""
    return size < max_batch


@njit(cache=True)
def starts_now(max_wait_s: float, waiting: int, max_batch: int) -> bool:
    """With someone waiting, the batch starts at once: no fill wait, or a full batch waits."""
    return max_wait_s <= 0 or waiting >= max_batch


@njit(cache=True)
def fill_wait_s(
    max_wait_s: float, waiting: int, max_batch: int, head_arrival_s: float, now_s: float
) -> float:
    """How long the head waits for a fuller batch: until `max_wait_s` after it arrived,
    unless a full batch waits already; -1.0: start now."""
    if max_wait_s > 0 and waiting < max_batch:
        fill_deadline_s = head_arrival_s + max_wait_s
        if now_s < fill_deadline_s:
            return fill_deadline_s - now_s
    return -1.0
