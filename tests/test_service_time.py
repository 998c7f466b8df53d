"""The roofline service-time model against its own formula, worked out independently.

Reference figures come straight from the catalog's datasheet numbers for the
A100-40GB (312 TFLOP/s dense FP16, 1555 GB/s, 40 GB) and Llama-3.1-8B's
architecture (8.03e9 parameters, 32 layers, 8 KV heads of dimension 128, BF16),
not from the model's precomputed constants.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.engine.rules.static_batch import latency_batch_s
from sim.engine.service_time import LatencyModel, RooflineModel, build_service_model
from sim.errors import CapsimError
from sim.scenario.file import load_scenario

LLAMA_8B_A100 = [
    'service={model="roofline"}',
    "model={parameters=8.03e9, layers=32, hidden_size=4096, kv_heads=8, head_dim=128, "
    "bytes_per_param=2}",
    'fleet.gpu="A100-40GB"',
]
PARAMS = 8.03e9
WEIGHT_BYTES = PARAMS * 2
KV_BYTES = 2 * 32 * 8 * 128 * 2  # K and V, 32 layers, 8 heads x 128, 2 bytes
PEAK_FLOPS = 312e12
BANDWIDTH = 1555e9
MEMORY_BYTES = 40e9
MFU, MBU = 0.5, 0.77  # the schema's defaults
KV_FRACTION = 0.9  # the KV cache's default share of the memory the weights leave
OVERHEAD_S = 0.17e-3  # the roofline's default step overhead (see schema.ROOFLINE_STEP_OVERHEAD_S)
ATTENTION_FLOPS_PER_PAIR = 4 * 32 * 4096  # QK^T and AV: 2 x 2 x hidden FLOPs a layer


def llama_8b(*sets: str) -> RooflineModel:
    model = build_service_model(load_scenario("mmc", [*LLAMA_8B_A100, *sets]))
    assert isinstance(model, RooflineModel)
    return model


def formula_step_s(
    prefill: float,
    batch: int,
    context: float,
    overhead_s: float = OVERHEAD_S,
    mfu: float = MFU,
    pairs: float = 0.0,
) -> float:
    """One step from first principles: max(compute, memory) + overhead. Compute counts
    2 x params FLOPs a token and attention's FLOPs for every (query, key) pair: each
    decoding request's context, and the prefill's `pairs`."""
    linear_flops = 2 * PARAMS * (prefill + batch)
    compute_s = (linear_flops + ATTENTION_FLOPS_PER_PAIR * (context + pairs)) / (PEAK_FLOPS * mfu)
    memory_s = (WEIGHT_BYTES + KV_BYTES * (context + prefill)) / (BANDWIDTH * MBU)
    return max(compute_s, memory_s) + overhead_s


def formula_decode_span_s(
    steps: int, batch: int, context: float, overhead_s: float = OVERHEAD_S, mfu: float = MFU
) -> float:
    """Explicit sum of decode steps; each step adds one token per request to the context."""
    return sum(formula_step_s(0, batch, context + k * batch, overhead_s, mfu) for k in range(steps))


def test_kv_bytes_per_token_from_the_architecture() -> None:
    assert llama_8b().kv_bytes_per_token == 131072 == KV_BYTES


def test_batch_one_decodes_about_75_tokens_per_second() -> None:
    model = llama_8b()
    # 300 tokens after a 200-token prompt: the context barely matters at batch 1.
    tokens_per_s = 299 / model.decode_span_s(299, 1, 201)
    assert tokens_per_s == pytest.approx(75, rel=0.03), tokens_per_s  # measured 74.3
    # The memory bound: all 16.06 GB of weights read once per token at 77% of 1555 GB/s.
    assert model.weights_read_s == pytest.approx(WEIGHT_BYTES / (BANDWIDTH * MBU), rel=1e-12)


def test_kv_capacity_is_the_kv_share_of_free_memory_over_kv_bytes_per_token() -> None:
    model = llama_8b()
    free_bytes = KV_FRACTION * (MEMORY_BYTES - WEIGHT_BYTES)
    assert model.kv_capacity_tokens == int(free_bytes // KV_BYTES) == 164382


def test_two_gpus_per_replica_double_flops_bandwidth_and_memory() -> None:
    one, two = llama_8b(), llama_8b("fleet.gpus_per_replica=2")
    assert two.peak_flops_per_s == 2 * one.peak_flops_per_s
    assert two.bandwidth_bytes_per_s == 2 * one.bandwidth_bytes_per_s
    free_bytes = KV_FRACTION * (2 * MEMORY_BYTES - WEIGHT_BYTES)
    assert two.kv_capacity_tokens == int(free_bytes // KV_BYTES)


def test_a_model_too_large_for_the_gpu_is_an_error() -> None:
    with pytest.raises(CapsimError, match="do not fit"):
        load_scenario("mmc", [*LLAMA_8B_A100, "model.parameters=70e9"])
    # build_service_model itself refuses, not only the file validation.
    scenario = load_scenario("mmc", LLAMA_8B_A100)
    too_big = scenario.model_copy(
        update={"model": scenario.model.model_copy(update={"parameters": 21e9})}
    )
    with pytest.raises(CapsimError, match="do not fit"):
        build_service_model(too_big)


@pytest.mark.parametrize("overhead_s", [0.0, 0.003])
def test_step_time_follows_the_formula_and_grows_with_batch_and_context(overhead_s) -> None:
    model = llama_8b(f"service.step_overhead={overhead_s}")
    rng = np.random.default_rng(5)
    for _ in range(500):
        prefill = int(rng.integers(0, 4000)) if rng.random() < 0.5 else 0
        batch = int(rng.integers(0, 600))
        context = float(rng.integers(0, 200_000))
        assert model.step_s(prefill, batch, context) == pytest.approx(
            formula_step_s(prefill, batch, context, overhead_s), rel=1e-12
        )
    # Decode steps of requests holding 1000 tokens each: longer with every added request.
    times = [model.step_s(0, b, 1000.0 * b) for b in range(1, 300)]
    assert np.all(np.diff(times) > 0)
    # And with context at a fixed batch: every token of context is read each step.
    times = [model.step_s(0, 8, float(c)) for c in range(0, 100_000, 1000)]
    assert np.all(np.diff(times) > 0)
    assert times[1] - times[0] == pytest.approx(1000 * KV_BYTES / (BANDWIDTH * MBU), rel=1e-9)


def test_compute_bound_regime_kicks_in_at_large_batches() -> None:
    model = llama_8b("service.step_overhead=0")
    # With no context, decode is memory-bound until 2 P b / (peak MFU) > W / (bw MBU):
    # b* = (peak MFU) (bytes per param) / (2 bw MBU) = 130.3 on an A100-40GB.
    crossover = PEAK_FLOPS * MFU * 2 / (2 * BANDWIDTH * MBU)
    assert 130 < crossover < 131
    weights_s = WEIGHT_BYTES / (BANDWIDTH * MBU)
    for batch in (1, 64, 130):
        assert model.step_s(0, batch, 0.0) == pytest.approx(weights_s, rel=1e-12)
    for batch in (131, 512, 4096):
        compute_s = 2 * PARAMS * batch / (PEAK_FLOPS * MFU)
        assert model.step_s(0, batch, 0.0) == pytest.approx(compute_s, rel=1e-12)
        assert compute_s > weights_s
    # Past the crossover, throughput saturates at peak x MFU / 2P tokens per second.
    tokens_per_s = 4096 / model.step_s(0, 4096, 0.0)
    assert tokens_per_s == pytest.approx(PEAK_FLOPS * MFU / (2 * PARAMS), rel=1e-12)


@pytest.mark.parametrize(("mfu", "overhead_s"), [(0.5, 0.0), (0.5, 0.002), (0.2, 0.0)])
def test_decode_span_is_the_sum_of_its_steps(mfu: float, overhead_s: float) -> None:
    """Closed form against an explicit sum, in the memory-bound, compute-bound and mixed cases.

    A batch starts compute-bound when its context is small, then turns memory-bound
    as the context grows by `batch` tokens a step: the mixed case the closed form
    splits at the crossover.
    """
    model = llama_8b(f"service.mfu={mfu}", f"service.step_overhead={overhead_s}")
    rng = np.random.default_rng(17)
    regimes = set()
    for _ in range(300):
        batch = int(rng.integers(1, 400))
        context = float(rng.integers(0, 50_000))
        steps = int(rng.integers(0, 400))
        expected = formula_decode_span_s(steps, batch, context, overhead_s, mfu)
        got = model.decode_span_s(steps, batch, context)
        assert got == pytest.approx(expected, rel=1e-10, abs=1e-15), (steps, batch, context)
        if steps:
            first = formula_step_s(0, batch, context, 0.0, mfu)
            last = formula_step_s(0, batch, context + (steps - 1) * batch, 0.0, mfu)
            memory_first = (WEIGHT_BYTES + KV_BYTES * context) / (BANDWIDTH * MBU)
            memory_last = memory_first + KV_BYTES * (steps - 1) * batch / (BANDWIDTH * MBU)
            regimes.add(
                ("compute" if first > memory_first else "memory")
                + ("-compute" if last > memory_last else "-memory")
            )
    if mfu == 0.2:  # a low MFU moves the crossover down to batch ~52: all three regimes occur
        assert {"memory-memory", "compute-compute", "compute-memory"} <= regimes, regimes


@pytest.mark.parametrize("overhead_s", [0.0, 0.002])
def test_decode_steps_within_inverts_decode_span(overhead_s: float) -> None:
    model = llama_8b("service.mfu=0.2", f"service.step_overhead={overhead_s}")
    rng = np.random.default_rng(23)
    for _ in range(400):
        batch = int(rng.integers(1, 400))
        context = float(rng.integers(0, 50_000))
        span_s = float(rng.uniform(0, 20))
        n = model.decode_steps_within(span_s, batch, context)
        assert model.decode_span_s(n, batch, context) <= span_s
        assert model.decode_span_s(n + 1, batch, context) > span_s
        steps = int(rng.integers(0, 500))
        exact = model.decode_span_s(steps, batch, context)
        assert model.decode_steps_within(exact, batch, context) == steps


def test_request_alone_is_one_prefill_then_decode_steps_at_batch_one() -> None:
    model = llama_8b()
    # Compute-bound: 200 tokens x 2P FLOPs, and attention over 200 x 201 / 2 pairs.
    prefill_s = formula_step_s(200, 0, 0, pairs=200 * 201 / 2)
    flops = 2 * PARAMS * 200 + ATTENTION_FLOPS_PER_PAIR * 200 * 201 / 2
    assert prefill_s == pytest.approx(flops / (PEAK_FLOPS * MFU) + OVERHEAD_S, rel=1e-12)
    expected = prefill_s + formula_decode_span_s(299, 1, 201)
    assert model.request_alone_s(200, 300) == pytest.approx(expected, rel=1e-12)


def test_latency_model_batch_stretch() -> None:
    """Seed 001's "10 requests take 2.3 s instead of 2 s": overhead 0.15 at 10."""
    model = LatencyModel(batch_overhead=0.15, batch_overhead_at=10, step_overhead_s=0.0)
    assert model.stretch(1) == 1.0
    assert latency_batch_s(2.0, 10, 0.15, 10.0, 0.0) == pytest.approx(2.3, rel=1e-12)
    three = latency_batch_s(max(1.0, 2.0, 0.5), 3, 0.15, 10.0, 0.0)
    assert three == pytest.approx(2.0 * (1 + 0.15 * 2 / 9), rel=1e-12)
