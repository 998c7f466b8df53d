"""Continuous batching's rules, written once: what a step admits and prefills, how
long a run of steps lasts, where a run is cut, and what a finish releases.

The SimPy replica (`replica.py`) and the compiled loop (`compiled_loop.py`) call
these same functions; each keeps only its own events and its own heap of finishes.
A step prefills within the token budget (the part-way prompt first, then
newcomers in line order) beside one decode token per running request; a
request reserves its whole context (prompt + output) of KV memory at admission.
"""

from __future__ import annotations

from pathlib import Path

from numba import njit

from sim.engine import service_time
from sim.engine.numba_cache import drop_stale_cache
from sim.engine.service_time import (
    roofline_decode_span_s,
    roofline_decode_steps_within,
    roofline_step_s,
)

# ------------------------------------------------------------------ the step plan


@njit(cache=True)
def step_room_tokens(token_budget: int, decoders: int) -> int:
    """Prompt tokens a step may prefill: the budget less one token per decoding request."""
    return token_budget - decoders


@njit(cache=True)
def partial_chunk(prompt_tokens: int, left_tokens: int, room_tokens: int) -> tuple[int, float]:
    """(tokens, attention pairs) the part-way prompt prefills this step.

    Its `done` tokens already count once in the step's context (as a decoder's
    would), so a chunk of c tokens adds (c - 1) x done pairs against them, plus
    c (c + 1) / 2 among its own tokens.
    """
    done = prompt_tokens - left_tokens
    chunk = min(left_tokens, room_tokens)
    return chunk, (chunk - 1) * done + chunk * (chunk + 1) / 2


@njit(cache=True)
def may_admit(room_tokens: int, members: int, max_batch: int) -> bool:
    """The step may take one more newcomer: prefill room is left and the batch is not full."""
    return room_tokens > 0 and members < max_batch


@njit(cache=True)
def newcomer_chunk(prompt_tokens: int, room_tokens: int) -> tuple[int, float]:
    """(tokens, attention pairs) a newcomer prefills this step: as much of its prompt as
    the room allows, each token attending to itself and the ones before it."""
    chunk = min(prompt_tokens, room_tokens)
    return chunk, chunk * (chunk + 1) / 2


@njit(cache=True)
def finish_step(steps_done: int, output_tokens: int) -> int:
    """The step count at which a request whose prefill ends now has its last token: the
    prefill step gives its first token, each decode step one more."""
    return steps_done + output_tokens


@njit(cache=True)
def prompts_prefilled(completing: bool, admitted: int, newcomer_part_way: bool) -> int:
    """Prompts whose prefill this step finishes, each giving its first token: the
    part-way prompt if it completes, and every newcomer but one left part-way."""
    return int(completing) + admitted - int(newcomer_part_way)


# ------------------------------------------------------------------ the run of steps


@njit(cache=True)
def prefill_step(
    constants: tuple,
    prefill_tokens: int,
    prefill_pairs: float,
    decoders: int,
    context_tokens: int,
    prefilled: int,
) -> tuple[float, int]:
    """(duration, context after it) of a step that prefills `prefill_tokens` beside
    `decoders` decode tokens; `prefilled` prompts finish and give their first token."""
    step_s = roofline_step_s(constants, prefill_tokens, decoders, context_tokens, prefill_pairs)
    return step_s, context_tokens + decoders + prefill_tokens + prefilled


@njit(cache=True)
def decode_steps_planned(
    prefill_tokens: int, chunked: int, room_tokens: int, next_finish_step: int, steps_done: int
) -> int:
    """Decode steps to plan after this pass's step: up to the next finish, unless a
    prompt is still part-way (`chunked` >= 0) or the step used the whole budget, in
    which case newcomers are admitted at the next step."""
    if prefill_tokens == 0 or (chunked < 0 and room_tokens > 0):
        return next_finish_step - steps_done
    return 0


@njit(cache=True)
def run_span_s(
    constants: tuple, first_step_s: float, decode_steps: int, running: int, context_tokens: int
) -> float:
    """How long the planned run lasts: the prefill step (0 if none), then its decode steps."""
    return first_step_s + roofline_decode_span_s(constants, decode_steps, running, context_tokens)


@njit(cache=True)
def cut_at_next_step(
    constants: tuple,
    elapsed_s: float,
    first_step_s: float,
    decode_steps: int,
    running: int,
    context_tokens: int,
) -> tuple[int, float]:
    """Where a run `elapsed_s` in ends if cut at its next step boundary: (decode steps
    done by then, time until then); (-1, 0) if the run already ends there."""
    if elapsed_s < first_step_s:
        done = 0
    else:
        into_decode_s = elapsed_s - first_step_s
        done = roofline_decode_steps_within(constants, into_decode_s, running, context_tokens)
        done = min(done + 1, decode_steps)
    if done >= decode_steps:
        return -1, 0.0
    boundary_s = first_step_s + roofline_decode_span_s(constants, done, running, context_tokens)
    return done, max(0.0, boundary_s - elapsed_s)


# ------------------------------------------------------------------ finishing


@njit(cache=True)
def after_decode_steps(
    steps_done: int, context_tokens: int, running: int, decode_steps: int
) -> tuple[int, int]:
    """(steps done, context) once `decode_steps` more steps ran: each adds one token per
    running request."""
    return steps_done + decode_steps, context_tokens + running * decode_steps


@njit(cache=True)
def release_finished(
    kv_reserved_tokens: int, context_tokens: int, running: int, need_tokens: int
) -> tuple[int, int, int]:
    """(KV reserved, context, running) once a request that reserved `need_tokens` and
    holds that many in context has its last token."""
    return kv_reserved_tokens - need_tokens, context_tokens - need_tokens, running - 1


drop_stale_cache(
    Path(__file__).parent / "__pycache__", Path(__file__).stem, Path(service_time.__file__)
)
