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

from sim.scenario.catalog import Gpu, gpu_spec
from sim.scenario.memory import kv_bytes_per_token, kv_memory_bytes, layers_and_hidden
from sim.scenario.plugins import SERVICE_MODELS, implementation
from sim.scenario.precision import peak_flops_per_s
from sim.scenario.schema import Scenario


@dataclass(frozen=True)
class RooflineModel:
    """Step times on the roofline of one replica (all its GPUs, tensor parallel).

    A step prefills `prefill_tokens` new prompt tokens and decodes one token for
    each of `batch` running requests whose contexts sum to `context_tokens`. It is
    bound by compute (2 x params FLOPs per token, plus attention's 4 x layers x
    hidden FLOPs per (query, key) pair, at the precision's peak x MFU) or by memory
    (weights plus the KV cache read once at bandwidth x MBU), whichever is longer;
    then tensor parallelism's two all-reduces per layer and a fixed step overhead.
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
    attention_flops_per_pair: float = 0.0  # 4 x layers x hidden: QK^T and AV per pair
    allreduce_fixed_s: float = 0.0  # latency of a step's all-reduces (0: one GPU)
    allreduce_s_per_token: float = 0.0  # their bandwidth term, per token in the step
    token_budget: int = 2**62  # continuous batching: tokens a step may process
    compute_s_per_token: float = field(init=False)
    weights_read_s: float = field(init=False)
    kv_read_s_per_token: float = field(init=False)
    constants: tuple[float, float, float, float, float, float, float] = field(init=False)

    def __post_init__(self) -> None:
        # Per-token constants, computed once: step times are on the engine's hot path.
        set_constant = object.__setattr__
        flops_per_s = self.peak_flops_per_s * self.mfu
        set_constant(self, "compute_s_per_token", 2.0 * self.parameters / flops_per_s)
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
                self.attention_flops_per_pair / flops_per_s,
                float(self.allreduce_fixed_s),
                float(self.allreduce_s_per_token),
            ),
        )

    def step_s(
        self, prefill_tokens: float, batch: int, context_tokens: float, prefill_pairs: float = 0.0
    ) -> float:
        """Duration of one step: prefill new tokens and decode one token per running request.

        `prefill_pairs` counts the (query, key) pairs of the prefill's attention: a whole
        prompt of p tokens has p (p + 1) / 2.
        """
        return roofline_step_s(self.constants, prefill_tokens, batch, context_tokens, prefill_pairs)

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
# overhead s, attention compute s per (query, key) pair, all-reduce latency s per step,
# all-reduce s per token). The model's methods and the compiled loop both call them.


@njit(cache=True)
def roofline_step_s(constants, prefill_tokens, batch, context_tokens, prefill_pairs):
    """One step: bound by compute for prefill plus one token per request, or by memory,
    then the tensor-parallel all-reduces and the overhead."""
    per_token, weights_s, kv_s, overhead_s, pair_s, allreduce_s, allreduce_per_token = constants
    tokens = prefill_tokens + batch
    compute_s = per_token * tokens + pair_s * (context_tokens + prefill_pairs)
    memory_s = weights_s + kv_s * (context_tokens + prefill_tokens)
    return max(compute_s, memory_s) + allreduce_s + allreduce_per_token * tokens + overhead_s


@njit(cache=True)
def _line_sum(start, slope, first, last):
    """Sum over k = first .. last - 1 of start + slope x k."""
    count = last - first
    return count * start + slope * (first + last - 1) * count / 2


@njit(cache=True)
def roofline_decode_span_s(constants, steps, batch, context_tokens):
    """Sum of `steps` decode steps; step k takes max(compute_k, memory_k) + fixed costs.

    Both bounds grow linearly in k (attention and KV reads follow the context, which
    grows by `batch` a step), so they cross at most once and the sum has a closed form
    on each side of the crossover.
    """
    if steps <= 0:
        return 0.0
    per_token, weights_s, kv_s, overhead_s, pair_s, allreduce_s, allreduce_per_token = constants
    compute_0 = per_token * batch + pair_s * context_tokens
    compute_slope = pair_s * batch
    memory_0 = weights_s + kv_s * context_tokens
    memory_slope = kv_s * batch
    fixed_s = steps * (allreduce_s + allreduce_per_token * batch + overhead_s)
    if compute_0 >= memory_0:
        top_0, top_slope, low_0, low_slope = compute_0, compute_slope, memory_0, memory_slope
    else:
        top_0, top_slope, low_0, low_slope = memory_0, memory_slope, compute_0, compute_slope
    if top_slope >= low_slope:
        return _line_sum(top_0, top_slope, 0, steps) + fixed_s
    crossover = min(steps, math.ceil((top_0 - low_0) / (low_slope - top_slope)))
    return (
        _line_sum(top_0, top_slope, 0, crossover)
        + _line_sum(low_0, low_slope, crossover, steps)
        + fixed_s
    )


@njit(cache=True)
def roofline_decode_steps_within(constants, span_s, batch, context_tokens):
    """Whole decode steps that fit in `span_s`: the span grows with every step, so
    double to bracket the answer, then halve the bracket."""
    if roofline_decode_span_s(constants, 1, batch, context_tokens) > span_s:
        return 0
    fits, beyond = 1, 2
    while roofline_decode_span_s(constants, beyond, batch, context_tokens) <= span_s:
        fits, beyond = beyond, 2 * beyond
    while beyond - fits > 1:
        middle = (fits + beyond) // 2
        if roofline_decode_span_s(constants, middle, batch, context_tokens) <= span_s:
            fits = middle
        else:
            beyond = middle
    return fits


@njit(cache=True)
def roofline_alone_times_s(constants, prompt_tokens, output_tokens):
    """(time to first token, end-to-end time) of one request alone: prefill, then decode."""
    pairs = prompt_tokens * (prompt_tokens + 1) / 2
    first_s = roofline_step_s(constants, prompt_tokens, 0, 0.0, pairs)
    return first_s, first_s + roofline_decode_span_s(
        constants, output_tokens - 1, 1, prompt_tokens + 1
    )


@njit(cache=True)
def latency_stretch(batch: int, batch_overhead: float, batch_overhead_at: float) -> float:
    """How much longer a batch of `batch` takes than its longest member alone (`LatencyModel`)."""
    if batch <= 1:
        return 1.0
    return 1.0 + batch_overhead * (batch - 1) / (batch_overhead_at - 1)


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
        return latency_stretch(batch, self.batch_overhead, float(self.batch_overhead_at))

    def alone_s(self, latency_s: float | np.ndarray) -> float | np.ndarray:
        """Time of a request served alone (elementwise over an array of latencies)."""
        return latency_s + self.step_overhead_s


ServiceModel = RooflineModel | LatencyModel


def build_service_model(scenario: Scenario) -> ServiceModel:
    """The service model a scenario asks for (`service.model`, registered in
    `sim/scenario/plugins.py`), checked to fit in GPU memory."""
    return implementation(SERVICE_MODELS[scenario.service.model])(scenario)


def latency_model(scenario: Scenario) -> LatencyModel:
    """`service.model = "latency"`: the given per-request latency, stretched for batches."""
    service = scenario.service
    at = service.batch_overhead_at or max(2, scenario.batching.max_batch)
    return LatencyModel(service.batch_overhead, at, service.step_overhead_s)


def roofline_model(scenario: Scenario) -> RooflineModel:
    """`service.model = "roofline"`: step times from the GPU's specs, with the KV memory left."""
    service = scenario.service
    gpu = gpu_spec(scenario.fleet.gpu)
    n_gpus = scenario.fleet.gpus_per_replica
    model = scenario.model
    kv_per_token = kv_bytes_per_token(model)
    free_bytes = kv_memory_bytes(scenario)
    layers, hidden = layers_and_hidden(model)
    allreduce_fixed_s, allreduce_s_per_token = allreduce_costs_s(
        gpu, n_gpus, layers, hidden, service.link_efficiency
    )
    return RooflineModel(
        parameters=model.parameters,
        weight_bytes=model.weight_bytes,
        kv_bytes_per_token=kv_per_token,
        peak_flops_per_s=peak_flops_per_s(scenario) * n_gpus,
        bandwidth_bytes_per_s=gpu.memory_bandwidth_bytes_per_s * n_gpus,
        mfu=service.mfu,
        mbu=service.mbu,
        step_overhead_s=service.step_overhead_s,
        kv_capacity_tokens=int(free_bytes // kv_per_token),
        attention_flops_per_pair=4.0 * layers * hidden,
        allreduce_fixed_s=allreduce_fixed_s,
        allreduce_s_per_token=allreduce_s_per_token,
        token_budget=token_budget(scenario),
    )


# Activations are all-reduced in BF16 whatever the weights' precision.
ACTIVATION_BYTES = 2.0


def allreduce_costs_s(
    gpu: Gpu, n_gpus: int, layers: float, hidden: float, link_efficiency: float
) -> tuple[float, float]:
    """(latency s, s per token) of one step's tensor-parallel all-reduces.

    Megatron-style tensor parallelism all-reduces the activations twice a layer
    (after attention and after the MLP). A ring all-reduce of S bytes sends
    2 (n - 1) / n x S bytes a GPU over its link; each one also costs the link's latency.
    One GPU needs none.
    """
    if n_gpus <= 1:
        return 0.0, 0.0
    allreduces = 2.0 * layers
    bandwidth = gpu.link_gb_per_s * 1e9 * link_efficiency
    bytes_per_token = 2.0 * (n_gpus - 1) / n_gpus * hidden * ACTIVATION_BYTES
    return allreduces * gpu.link_latency_us * 1e-6, allreduces * bytes_per_token / bandwidth


def token_budget(scenario: Scenario) -> int:
    """Tokens one continuous-batching step may process: batching.max_num_batched_tokens,
    else vLLM's default for its OpenAI server (8192 on GPUs of 70 GiB or more other than
    the A100, else 2048), and never below max_batch."""
    batching = scenario.batching
    if batching.max_num_batched_tokens is not None:
        return batching.max_num_batched_tokens
    gpu = gpu_spec(scenario.fleet.gpu)
    large = gpu.memory_bytes >= 70 * 2**30 and not gpu.name.startswith("A100")
    return max(8192 if large else 2048, batching.max_batch)
