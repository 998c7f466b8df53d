"""Static batching: who joins a batch, and whether its head waits for a fuller one.

A static batch holds every member's whole context (prompt plus output) in KV
memory until its longest member ends, so a member joins only while the batch
has a slot and the sum fits. With `max_wait` the head waits, up to that long
after its arrival, for a full batch. The batch runs as one unit: on the roofline,
one prefill step for every prompt, then decode steps until the longest output is
done; under the latency model, its longest latency, stretched. `Replica._serve_static`
and the compiled loop's `start_batch` and `start_next_or_idle` decide with these
functions.
"""

from __future__ import annotations

from numba import njit

from sim.engine.service_time import latency_stretch, roofline_decode_span_s, roofline_step_s


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


@njit(cache=True)
def add_member(
    prompt_sum: int, pairs: float, longest: int, prompt_tokens: int, output_tokens: int
) -> tuple[int, float, int]:
    """A roofline batch's totals with one more member: prompt tokens, the attention
    (query, key) pairs of every prompt's prefill, and the longest output."""
    return (
        prompt_sum + prompt_tokens,
        pairs + prompt_tokens * (prompt_tokens + 1) / 2,
        max(longest, output_tokens),
    )


@njit(cache=True)
def roofline_batch_times_s(constants, prompt_sum, pairs, longest, size):
    """(time to first token, duration) of a batch of `size` (two or more) with those totals."""
    first_s = roofline_step_s(constants, prompt_sum, 0, 0.0, pairs)
    return first_s, first_s + roofline_decode_span_s(
        constants, longest - 1, size, prompt_sum + size
    )


@njit(cache=True)
def latency_batch_s(
    longest_s: float,
    size: int,
    batch_overhead: float,
    batch_overhead_at: float,
    step_overhead_s: float,
) -> float:
    """A batch of `size` (two or more) under the latency model: the longest latency, stretched."""
    return longest_s * latency_stretch(size, batch_overhead, batch_overhead_at) + step_overhead_s
