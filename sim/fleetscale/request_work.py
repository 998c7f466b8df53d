"""What a request costs a replica, for a trace replay whose request sizes drift.

The latency model is for the trace's average request; a replay's sizes drift along
the file (long prompts for a while, then long replies), so a step's capacity in
requests scales by the inverse of its requests' mean cost over the average's, and
its latencies by their own service times over the average's (`alone_times_s`).
A full continuous batch of B spends per request its prefill (what its prompt adds to
a step of B decodes) and a 1/B share of each of its decode steps, the batch's contexts
taken as its own mean context. Step times are the engine's own (`roofline_step_s`).
Per-request latency models have no sizes: every request costs the same.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.engine.service_time import (
    RooflineModel,
    ServiceModel,
    roofline_alone_times_s,
    roofline_step_s,
)


def saturated_cost_s(
    service: ServiceModel, prompt_tokens: np.ndarray, output_tokens: np.ndarray, batch: int
) -> np.ndarray:
    """Replica-seconds each request takes out of a saturated replica (ones if no roofline)."""
    prompt = np.asarray(prompt_tokens, float)
    output = np.asarray(output_tokens, float)
    if not isinstance(service, RooflineModel):
        return np.ones_like(prompt)
    return _costs_s(service.constants, prompt, output, float(max(1, batch))).sum(axis=0)


def prefill_s(
    service: ServiceModel, prompt_tokens: np.ndarray, output_tokens: np.ndarray, batch: int
) -> np.ndarray:
    """The part of `saturated_cost_s` that is the request's prefill (zeros if no roofline):
    what its prompt adds to the steps of the batch it joins."""
    prompt = np.asarray(prompt_tokens, float)
    output = np.asarray(output_tokens, float)
    if not isinstance(service, RooflineModel):
        return np.zeros_like(prompt)
    return _costs_s(service.constants, prompt, output, float(max(1, batch)))[0]


@njit(cache=True)
def _costs_s(constants, prompt, output, batch):
    """(2, n): each request's prefill, and its share of its decode steps."""
    out = np.empty((2, len(prompt)))
    for i in range(len(prompt)):
        p, o = prompt[i], output[i]
        context = batch * (p + o / 2)  # a decode step's contexts over the request's life
        decode_s = roofline_step_s(constants, 0.0, batch, context, 0.0)
        with_prompt_s = roofline_step_s(constants, p, batch, context, p * (p + 1) / 2)
        out[0, i] = with_prompt_s - decode_s
        out[1, i] = o * decode_s / batch
    return out


def alone_times_s(
    service: ServiceModel, prompt_tokens: np.ndarray, output_tokens: np.ndarray
) -> np.ndarray:
    """(2, n): each request's time to first token and end-to-end time served alone
    (ones if no roofline: a given latency does not depend on sizes)."""
    prompt = np.asarray(prompt_tokens, np.int64)
    output = np.asarray(output_tokens, np.int64)
    if not isinstance(service, RooflineModel):
        return np.ones((2, len(prompt)))
    return _alone_s(service.constants, prompt, output)


@njit(cache=True)
def _alone_s(constants, prompt, output):
    out = np.empty((2, len(prompt)))
    for i in range(len(prompt)):
        out[0, i], out[1, i] = roofline_alone_times_s(constants, prompt[i], output[i])
    return out
