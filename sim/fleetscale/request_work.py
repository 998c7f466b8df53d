"""What a request costs a saturated replica, for a trace replay whose request sizes drift.

The latency model's throughput is for the trace's average request; a replay's sizes
drift along the file (long prompts for a while, then short ones), so a step's capacity
in requests scales by the inverse of its requests' mean cost over the average's.
On the roofline, a full continuous batch of B spends per request its prefill (compute:
prompt x 2 params / FLOPs) and a 1/B share of each of its decode steps (the larger of
compute, with attention over its context, and of the weights read over B plus its
own KV read, plus the all-reduces and the step overhead over B; `roofline_step_s`'s
terms). Per-request latency models have no sizes: every request costs the same.
"""

from __future__ import annotations

import numpy as np

from sim.engine.service_time import RooflineModel, ServiceModel


def saturated_cost_s(
    service: ServiceModel, prompt_tokens: np.ndarray, output_tokens: np.ndarray, batch: int
) -> np.ndarray:
    """Replica-seconds each request takes out of a saturated replica (ones if no roofline)."""
    prompt = np.asarray(prompt_tokens, float)
    output = np.asarray(output_tokens, float)
    if not isinstance(service, RooflineModel):
        return np.ones_like(prompt)
    b = max(1, batch)
    per_token, weights_s, kv_s, overhead_s, pair_s, allreduce_s, allreduce_per_token = (
        service.constants
    )
    context = prompt + output / 2  # a decode step's mean context over the request's life
    prefill_s = prompt * (per_token + allreduce_per_token) + pair_s * prompt * (prompt + 1) / 2
    decode_step_s = (
        np.maximum(per_token + pair_s * context, weights_s / b + kv_s * context)
        + (allreduce_s + overhead_s) / b
        + allreduce_per_token
    )
    return prefill_s + output * decode_step_s
