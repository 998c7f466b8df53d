"""Service-time models: how long a batch or a decode step takes on one replica.

`RooflineModel` derives step times from the model size and the GPU's FLOP/s and
memory bandwidth; `LatencyModel` takes a given per-request latency and stretches
it for batches. Both are plain frozen dataclasses built once per scenario.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from sim.scenario.catalog import gpu_spec
from sim.scenario.memory import kv_bytes_per_token, kv_memory_bytes
from sim.scenario.plugins import SERVICE_MODELS, implementation
from sim.scenario.schema import Scenario


@dataclass(frozen=True)
class RooflineModel:
    """Step times on the roofline of one replica (all its GPUs, tensor parallel).

    A step prefills `prefill_tokens` new prompt tokens and decodes one token for
    each of `batch` running requests whose contexts sum to `context_tokens`. It is
    bound by compute (2 x params FLOPs per token at peak x MFU) or by memory
    (weights plus the KV cache read once at bandwidth x MBU), whichever is longer.
    """

    parameters: float
    weight_bytes: float
    kv_bytes_per_token: float
    peak_flops_per_s: float
    bandwidth_bytes_per_s: float
    mfu: float
    mbu: float
    step_overhead_s: float
    kv_capacity_tokens: int
    compute_s_per_token: float = field(init=False)
    weights_read_s: float = field(init=False)
    kv_read_s_per_token: float = field(init=False)
    constants: tuple[float, float, float, float] = field(init=False)

    def __post_init__(self) -> None:
        # Per-token constants, computed once: step times are on the engine's hot path.
        set_constant = object.__setattr__
        set_constant(
            self, "compute_s_per_token", 2.0 * self.parameters / (self.peak_flops_per_s * self.mfu)
        )
        set_constant(
            self, "weights_read_s", self.weight_bytes / (self.bandwidth_bytes_per_s * self.mbu)
        )
        set_constant(
            self,
            "kv_read_s_per_token",
            self.kv_bytes_per_token / (self.bandwidth_bytes_per_s * self.mbu),
        )
        set_constant(
            self,
            "constants",
            (
                self.compute_s_per_token,
                self.weights_read_s,
                self.kv_read_s_per_token,
                float(self.step_overhead_s),
            ),
        )

    def step_s(self, prefill_tokens: float, batch: int, context_tokens: float) -> float:
        """Duration of one step: prefill new tokens and decode one token per running request."""
        return roofline_step_s(self.constants, prefill_tokens, batch, context_tokens)

    def decode_span_s(self, steps: int, batch: int, context_tokens: float) -> float:
        """Time of `steps` decode steps of a fixed batch whose context grows by `batch` a step."""
        return roofline_decode_span_s(self.constants, steps, batch, context_tokens)

    def decode_steps_within(self, span_s: float, batch: int, context_tokens: float) -> int:
        """How many whole decode steps of a fixed batch fit in `span_s`."""
        return roofline_decode_steps_within(self.constants, span_s, batch, context_tokens)

    def alone_times_s(self, prompt_tokens: int, output_tokens: int) -> tuple[float, float]:
        """(time to first token, end-to-end time) of one request served alone (batch 1)."""
        return roofline_alone_times_s(self.constants, prompt_tokens, output_tokens)

    def request_alone_s(self, prompt_tokens: int, output_tokens: int) -> float:
        """End-to-end time of one request served alone (batch 1)."""
        return self.alone_times_s(prompt_tokens, output_tokens)[1]


# The roofline's arithmetic as compiled functions of `RooflineModel.constants`:
# (compute s per token, weight-read s per step, KV-read s per context token, step
# overhead s). The model's methods and the compiled loop both call them.


@njit(cache=True)
def roofline_step_s(constants, prefill_tokens, batch, context_tokens):
    """One step: bound by compute for prefill plus one token per request, or by memory."""
    compute_s_per_token, weights_read_s, kv_read_s_per_token, step_overhead_s = constants
    compute_s = compute_s_per_token * (prefill_tokens + batch)
    memory_s = weights_read_s + kv_read_s_per_token * (context_tokens + prefill_tokens)
    return max(compute_s, memory_s) + step_overhead_s


@njit(cache=True)
def roofline_decode_span_s(constants, steps, batch, context_tokens):
    """Sum of `steps` decode steps; step k takes max(a + b k, c) + overhead.

    a and b are the memory terms and c the compute term; the sum has a closed form
    on each side of the crossover.
    """
    if steps <= 0:
        return 0.0
    compute_s_per_token, weights_read_s, kv_read_s_per_token, step_overhead_s = constants
    a = weights_read_s + kv_read_s_per_token * context_tokens
    b = kv_read_s_per_token * batch
    c = compute_s_per_token * batch
    if c <= a:
        return steps * (a + step_overhead_s) + b * steps * (steps - 1) / 2
    compute_steps = steps if b == 0 else min(steps, math.ceil((c - a) / b))
    rest = steps - compute_steps
    memory_sum = rest * a + b * (compute_steps * rest + rest * (rest - 1) / 2)
    return compute_steps * c + memory_sum + steps * step_overhead_s


@njit(cache=True)
def roofline_decode_steps_within(constants, span_s, batch, context_tokens):
    """Whole decode steps that fit in `span_s`: a closed-form guess, then corrected."""
    compute_s_per_token, weights_read_s, kv_read_s_per_token, step_overhead_s = constants
    a = weights_read_s + kv_read_s_per_token * context_tokens + step_overhead_s
    b = kv_read_s_per_token * batch
    if compute_s_per_token * batch <= a - step_overhead_s:
        # Memory-bound throughout: solve b/2 n^2 + (a - b/2) n = span for n.
        if b == 0:
            guess = int(span_s / a)
        else:
            linear = a - b / 2
            guess = int((-linear + math.sqrt(linear * linear + 2 * b * span_s)) / b)
    else:
        guess = int(span_s / roofline_decode_span_s(constants, 1, batch, context_tokens))
    guess = max(0, guess)
    while guess > 0 and roofline_decode_span_s(constants, guess, batch, context_tokens) > span_s:
        guess -= 1
    while roofline_decode_span_s(constants, guess + 1, batch, context_tokens) <= span_s:
        guess += 1
    return guess


@njit(cache=True)
def roofline_alone_times_s(constants, prompt_tokens, output_tokens):
    """(time to first token, end-to-end time) of one request alone: prefill, then decode."""
    first_s = roofline_step_s(constants, prompt_tokens, 0, 0.0)
    return first_s, first_s + roofline_decode_span_s(
        constants, output_tokens - 1, 1, prompt_tokens + 1
    )


@dataclass(frozen=True)
class LatencyModel:
    """A given per-request latency; a batch of n takes the longest latency in it, stretched.

    stretch(n) = 1 + batch_overhead x (n - 1) / (batch_overhead_at - 1): the batch
    takes `batch_overhead` longer at `batch_overhead_at` requests than alone, so
    seed 001's "10 requests take 2.3 s instead of 2 s" is overhead 0.15 at 10.
    """

    batch_overhead: float
    batch_overhead_at: int
    step_overhead_s: float

    def stretch(self, batch: int) -> float:
        if batch <= 1:
            return 1.0
        return 1.0 + self.batch_overhead * (batch - 1) / (self.batch_overhead_at - 1)

    def batch_s(self, latencies_s: np.ndarray | list[float]) -> float:
        return max(latencies_s) * self.stretch(len(latencies_s)) + self.step_overhead_s

    def alone_s(self, latency_s: float | np.ndarray) -> float | np.ndarray:
        """Time of a request served alone (elementwise over an array of latencies)."""
        return latency_s + self.step_overhead_s


ServiceModel = RooflineModel | LatencyModel


def batch_times_s(
    service: ServiceModel,
    batch: list[int],
    prompt_tokens: list[int],
    output_tokens: list[int],
    latency_s: list[float] | None,
) -> tuple[float, float]:
    """(time to first token, duration) of a batch of requests run as one unit.

    Under the roofline, one prefill step for every prompt, then decode steps until
    the longest output is done, all members decoding together.
    """
    if isinstance(service, LatencyModel):
        if len(batch) == 1:
            duration_s = service.alone_s(latency_s[batch[0]])
        else:
            duration_s = service.batch_s([latency_s[r] for r in batch])
        return duration_s, duration_s
    n = len(batch)
    if n == 1:
        return service.alone_times_s(prompt_tokens[batch[0]], output_tokens[batch[0]])
    prompt_sum = sum(prompt_tokens[r] for r in batch)
    longest = max(output_tokens[r] for r in batch)
    first_s = service.step_s(prompt_sum, 0, 0.0)
    return first_s, first_s + service.decode_span_s(longest - 1, n, prompt_sum + n)


def build_service_model(scenario: Scenario) -> ServiceModel:
    """The service model a scenario asks for (`service.model`, registered in
    `sim/scenario/plugins.py`), checked to fit in GPU memory."""
    return implementation(SERVICE_MODELS[scenario.service.model])(scenario)


def latency_model(scenario: Scenario) -> LatencyModel:
    """`service.model = "latency"`: the given per-request latency, stretched for batches."""
    service = scenario.service
    at = service.batch_overhead_at or max(2, scenario.batching.max_batch)
    return LatencyModel(service.batch_overhead, at, service.step_overhead)


def roofline_model(scenario: Scenario) -> RooflineModel:
    """`service.model = "roofline"`: step times from the GPU's specs, with the KV memory left."""
    service = scenario.service
    gpu = gpu_spec(scenario.fleet.gpu)
    n_gpus = scenario.fleet.gpus_per_replica
    model = scenario.model
    kv_per_token = kv_bytes_per_token(model)
    free_bytes = kv_memory_bytes(scenario)
    return RooflineModel(
        parameters=model.parameters,
        weight_bytes=model.weight_bytes,
        kv_bytes_per_token=kv_per_token,
        peak_flops_per_s=gpu.peak_flops_per_s * n_gpus,
        bandwidth_bytes_per_s=gpu.memory_bandwidth_bytes_per_s * n_gpus,
        mfu=service.mfu,
        mbu=service.mbu,
        step_overhead_s=service.step_overhead,
        kv_capacity_tokens=int(free_bytes // kv_per_token),
    )
