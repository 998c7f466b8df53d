"""How many requests per second one replica serves with every batch slot busy.

Used by the predictive autoscaler to turn a forecast rate into replicas. It is a
steady-state estimate by Little's law (slots / time in service), not a limit the
engine enforces: the engine simulates the batch step by step.
"""

from __future__ import annotations

from distributions.traffic import output_tokens_mean, prompt_tokens_mean
from sim.engine.service_time import LatencyModel, ServiceModel
from sim.scenario.plugins import BATCHING
from sim.scenario.schema import Scenario


def replica_capacity_per_s(scenario: Scenario, service: ServiceModel) -> float:
    """Requests per second one replica completes with its batch full."""
    batching = scenario.batching
    slots = batching.max_batch if BATCHING[batching.policy].batches else 1
    if isinstance(service, LatencyModel):
        from distributions.tokens import dist_mean_cv

        latency_s, _ = dist_mean_cv(scenario.service.latency)
        return slots / (latency_s * service.stretch(slots) + service.step_overhead_s)
    prompt = prompt_tokens_mean(scenario)
    output = output_tokens_mean(scenario)
    slots = max(1, min(slots, int(service.kv_capacity_tokens // max(1.0, prompt + output))))
    decode_steps = max(0, round(output) - 1)
    if BATCHING[batching.policy].per_token_steps:
        # A full batch at its mean context: each request's prefill shares one step,
        # then it decodes one token a step.
        context = slots * (prompt + output / 2)
        step_s = service.decode_span_s(1, slots, context)
        in_service_s = service.step_s(prompt, slots - 1, context) + decode_steps * step_s
        return slots / in_service_s
    first_s = service.step_s(prompt * slots, 0, 0.0)
    batch_s = first_s + service.decode_span_s(decode_steps, slots, slots * prompt)
    return slots / batch_s
