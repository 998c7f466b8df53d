"""Continuous batching's shared rules (`sim/engine/rules/continuous.py`) and the KV fit,
checked against hand-worked arithmetic (`test_serving_rules.py` shows both engines call them)."""

from __future__ import annotations

import pytest

from sim.engine.rules.continuous import (
    after_decode_steps,
    cut_at_next_step,
    decode_steps_planned,
    finish_step,
    may_admit,
    newcomer_chunk,
    partial_chunk,
    prefill_step,
    prompts_prefilled,
    release_finished,
    run_span_s,
    step_room_tokens,
)
from sim.engine.rules.kv_memory import kv_fits, kv_need_tokens

# Roofline constants (compute s/token, weights s/step, KV s/token, overhead s, s/pair,
# all-reduce s/step, all-reduce s/token) whose every step is 10 ms, whatever it holds:
# a cut's arithmetic is then a count of steps.
FLAT_10MS = (0.0, 0.01, 0.0, 0.0, 0.0, 0.0, 0.0)
# Compute-bound constants for a step worked by hand: 1 ms a token, 1 us a pair.
COMPUTE = (1e-3, 1e-6, 0.0, 5e-3, 1e-6, 0.0, 0.0)


def test_a_chunked_prefill_step_worked_by_hand() -> None:
    """Budget 64, three decoders, a prompt of 100 with 40 left, then a newcomer of 30.

    Room: 64 - 3 = 61. The part-way prompt prefills its last 40 tokens; token i of
    them attends to the 60 done and to i of its own: sum (60 + i) = 2400 + 820 =
    3220 pairs, of which 60 are the context's own count of that request (the
    step's context term), leaving 3160. The newcomer gets the other 21 tokens,
    21 x 22 / 2 = 231 pairs, and nobody else may join: the room is gone.
    """
    room = step_room_tokens(64, 3)
    assert room == 61
    chunk, pairs = partial_chunk(100, 40, room)
    assert (chunk, pairs) == (40, sum(60 + i for i in range(1, 41)) - 60)
    room -= chunk
    assert may_admit(room, 4, 16)
    chunk, pairs = newcomer_chunk(30, room)
    assert (chunk, pairs) == (21, 231.0)
    room -= chunk
    assert not may_admit(room, 5, 16)
    # The step's time: 3 decode tokens + 61 prefill tokens at 1 ms, context 500 + 3160
    # + 231 pairs at 1 us, plus 5 ms overhead; its context gains the 3 decode tokens and
    # the 61 prefilled (nobody's prefill completes with a first token here).
    step_s, context = prefill_step(COMPUTE, 61, 3160.0 + 231.0, 3, 500, 0)
    assert step_s == pytest.approx(64 * 1e-3 + (500 + 3391) * 1e-6 + 5e-3, rel=1e-12)
    assert context == 500 + 3 + 61


def test_a_part_way_prompt_that_fits_its_room_completes() -> None:
    """A chunk is never more than what is left nor more than the room."""
    assert partial_chunk(100, 10, 61)[0] == 10
    assert partial_chunk(100, 90, 61)[0] == 61
    assert newcomer_chunk(7, 61) == (7, 28.0)


def test_the_batch_cap_stops_admission() -> None:
    assert may_admit(100, 15, 16)
    assert not may_admit(100, 16, 16)
    assert not may_admit(0, 1, 16)


def test_kv_reservation_fits_exactly_full_memory_and_no_more() -> None:
    """A request reserves prompt + output; it fits when the sum is at most the capacity."""
    need = kv_need_tokens(600, 300)
    assert need == 900
    assert kv_fits(100, need, 1000.0)  # exactly full
    assert not kv_fits(101, need, 1000.0)
    assert kv_fits(10**12, need, float("inf"))


def test_a_run_plans_decode_steps_to_the_next_finish() -> None:
    """After a prefill step, decode to the next finish unless a prompt is part-way or the
    budget was used up; with no prefill, always to the next finish."""
    assert finish_step(4, 3) == 7  # first token at step 5, then steps 6 and 7
    assert decode_steps_planned(50, -1, 10, 7, 5) == 2
    assert decode_steps_planned(50, 12, 10, 7, 5) == 0  # request 12 is part-way
    assert decode_steps_planned(50, -1, 0, 7, 5) == 0  # the budget was used up
    assert decode_steps_planned(0, -1, 0, 9, 5) == 4
    assert run_span_s(FLAT_10MS, 0.05, 4, 3, 100) == pytest.approx(0.09, abs=1e-15)
    assert run_span_s(FLAT_10MS, 0.0, 0, 3, 100) == 0.0


def test_a_cut_ends_the_run_at_the_next_step_boundary() -> None:
    """A 50 ms prefill step, then ten 10 ms decode steps."""
    # Inside the prefill step: the boundary is its end, with no decode step done.
    done, delay_s = cut_at_next_step(FLAT_10MS, 0.03, 0.05, 10, 4, 100)
    assert done == 0
    assert delay_s == pytest.approx(0.02, abs=1e-15)
    # 25 ms into the decodes: two steps are done, the third ends at 80 ms.
    done, delay_s = cut_at_next_step(FLAT_10MS, 0.075, 0.05, 10, 4, 100)
    assert done == 3
    assert delay_s == pytest.approx(0.005, abs=1e-15)
    # In the last step: the run ends at the next boundary already.
    assert cut_at_next_step(FLAT_10MS, 0.145, 0.05, 10, 4, 100) == (-1, 0.0)


def test_finishing_releases_what_admission_reserved() -> None:
    """Two requests, A (prompt 5, output 3) and B (prompt 4, output 2), prefilled in one
    step and decoded to the end: the context is always the sum of prompt + tokens
    generated so far, and it and the reservation return to zero."""
    reserved = kv_need_tokens(5, 3) + kv_need_tokens(4, 2)
    _, context = prefill_step(COMPUTE, 9, 15.0 + 10.0, 0, 0, 2)
    assert context == (5 + 1) + (4 + 1)  # each prompt and its first token
    steps, running = 1, 2
    finish_a, finish_b = finish_step(0, 3), finish_step(0, 2)
    steps, context = after_decode_steps(steps, context, running, finish_b - steps)
    assert (steps, context) == (2, (5 + 2) + (4 + 2))
    reserved, context, running = release_finished(reserved, context, running, 4 + 2)
    assert (reserved, context, running) == (8, 5 + 2, 1)
    steps, context = after_decode_steps(steps, context, running, finish_a - steps)
    assert (steps, context) == (3, 5 + 3)
    assert release_finished(reserved, context, running, 5 + 3) == (0, 0, 0)


def test_prompts_prefilled_counts_each_first_token_of_the_step() -> None:
    """The part-way prompt completing, three newcomers of which the last is left part-way:
    three first tokens; without the completing prompt, two; nobody part-way, all."""
    assert prompts_prefilled(True, 3, True) == 3
    assert prompts_prefilled(False, 3, True) == 2
    assert prompts_prefilled(False, 3, False) == 3
    assert prompts_prefilled(True, 0, False) == 1
