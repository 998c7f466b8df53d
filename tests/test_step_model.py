"""The richer step model: its default step overhead, compute precision, attention FLOPs,
tensor-parallel all-reduces and token budget, each against the catalog's datasheet
figures and the formula worked out here, not the model's precomputed constants."""

from __future__ import annotations

import pytest

from sim.engine.service_time import LatencyModel, RooflineModel, build_service_model
from sim.errors import CapsimError
from sim.scenario.file import load_scenario

LLAMA_8B = "model={parameters=8.03e9, layers=32, hidden_size=4096, kv_heads=8, head_dim=128}"
LLAMA_70B = "model={parameters=70.6e9, layers=80, hidden_size=8192, kv_heads=8, head_dim=128}"


def roofline(*sets: str) -> RooflineModel:
    base = ['service={model="roofline"}', 'fleet.gpu="A100-80GB"', "pricing.gpu_usd_per_hour=1"]
    scenario = load_scenario("mmc", [*base, *sets])
    model = build_service_model(scenario)
    assert isinstance(model, RooflineModel)
    return model


def test_default_step_overhead_is_the_published_idle_gap_under_the_roofline_only() -> None:
    # Hugging Face's overlapped loop: 234.5 s at 99.4% GPU busy over ~8,192 steps.
    published_s = (1 - 0.994) * 234.5 / 8192
    assert roofline(LLAMA_8B).step_overhead_s == pytest.approx(published_s, rel=0.02)
    latency = build_service_model(load_scenario("mmc"))
    assert isinstance(latency, LatencyModel) and latency.step_overhead_s == 0.0
    assert roofline(LLAMA_8B, "service.step_overhead=0.004").step_overhead_s == 0.004


def test_one_byte_weights_run_at_the_fp8_peak_on_a_gpu_that_has_it() -> None:
    gpu = 'fleet.gpu="H100-SXM"'
    bf16 = roofline(LLAMA_8B, gpu)
    fp8 = roofline(LLAMA_8B, gpu, "model.bytes_per_param=1")
    int4 = roofline(LLAMA_8B, gpu, "model.bytes_per_param=0.5")
    assert bf16.peak_flops_per_s == 989e12  # H100 SXM datasheet, dense BF16
    assert fp8.peak_flops_per_s == 1979e12  # dense FP8: 3,958 with sparsity / 2
    assert int4.peak_flops_per_s == 989e12  # weight-only INT4 dequantises to BF16
    # A compute-bound prefill of 4,000 tokens takes half as long at FP8 (less the overhead).
    overhead_s = bf16.step_overhead_s
    ratio = (fp8.step_s(4000, 0, 0.0) - overhead_s) / (bf16.step_s(4000, 0, 0.0) - overhead_s)
    assert ratio == pytest.approx(989 / 1979, rel=1e-12)
    # An Ampere GPU has no FP8: "auto" falls back to BF16, an explicit FP8 is refused.
    a100 = roofline(LLAMA_8B, 'fleet.gpu="A100-80GB"', "model.bytes_per_param=1")
    assert a100.peak_flops_per_s == 312e12
    assert (
        roofline(
            LLAMA_8B, 'fleet.gpu="A100-80GB"', 'model.compute_precision="int8"'
        ).peak_flops_per_s
        == 624e12
    )
    with pytest.raises(CapsimError, match="no fp8 tensor-core peak"):
        roofline(LLAMA_8B, 'fleet.gpu="A100-80GB"', 'model.compute_precision="fp8"')


def test_attention_flops_grow_with_context_when_compute_bound() -> None:
    model = roofline(LLAMA_8B, 'fleet.gpu="A100-80GB"', "service.step_overhead=0")
    batch = 1024  # compute-bound: 2 P b FLOPs outweigh the weights' read
    flops_per_s = 312e12 * 0.5
    extra_context = 100_000.0
    grown = model.step_s(0, batch, 10_000.0 + extra_context) - model.step_s(0, batch, 10_000.0)
    # Still compute-bound at 110,000 tokens of context (the weights and KV read take 25 ms):
    compute_s = (2 * 8.03e9 * batch + 4 * 32 * 4096 * 110_000) / flops_per_s
    assert model.step_s(0, batch, 110_000.0) == pytest.approx(compute_s, rel=1e-12)
    assert grown == pytest.approx(4 * 32 * 4096 * extra_context / flops_per_s, rel=1e-9)
    # A 20,000-token prompt: attention adds pairs = p (p + 1) / 2 to its 2 P p FLOPs.
    prompt = 20_000
    flops = 2 * 8.03e9 * prompt + 4 * 32 * 4096 * prompt * (prompt + 1) / 2
    assert model.alone_times_s(prompt, 1)[0] == pytest.approx(flops / flops_per_s, rel=1e-12)


def test_tensor_parallel_pays_two_all_reduces_a_layer() -> None:
    gpu = 'fleet.gpu="H100-SXM"'
    four = roofline(LLAMA_70B, gpu, "fleet.gpus_per_replica=4", "service.link_efficiency=0.5")
    # 2 all-reduces x 80 layers, 8 us each (catalog), and 2 (n - 1) / n x 8192 x 2 bytes
    # a token over 450 GB/s x link efficiency.
    latency_s = 160 * 8e-6
    per_token_s = 160 * 2 * 3 / 4 * 8192 * 2 / (450e9 * 0.5)
    kv_bytes = 2 * 80 * 8 * 128 * 2
    for batch in (1, 256):
        context = 5000.0 * batch
        memory_s = (70.6e9 * 2 + kv_bytes * context) / (4 * 3350e9 * 0.77)
        compute_s = (2 * 70.6e9 * batch + 4 * 80 * 8192 * context) / (4 * 989e12 * 0.5)
        expected = max(memory_s, compute_s) + latency_s + per_token_s * batch
        assert four.step_s(0, batch, context) == pytest.approx(
            expected + four.step_overhead_s, rel=1e-12
        )
    # So TP4 is not a free 4x over one GPU's weights read at batch 1.
    single = roofline(LLAMA_8B, gpu)
    tp4 = roofline(LLAMA_8B, gpu, "fleet.gpus_per_replica=4")
    assert single.allreduce_fixed_s == single.allreduce_s_per_token == 0.0
    speedup = single.step_s(0, 1, 1000.0) / tp4.step_s(0, 1, 1000.0)
    assert 2 < speedup < 3.5


def test_pcie_links_cost_more_than_nvlink() -> None:
    nvlink = roofline(LLAMA_8B, 'fleet.gpu="H100-SXM"', "fleet.gpus_per_replica=2")
    pcie = roofline(LLAMA_8B, 'fleet.gpu="H100-PCIe"', "fleet.gpus_per_replica=2")
    assert pcie.allreduce_s_per_token == pytest.approx(
        nvlink.allreduce_s_per_token * 450 / 64, rel=1e-12
    )
    assert pcie.allreduce_fixed_s > nvlink.allreduce_fixed_s


@pytest.mark.parametrize(
    ("sets", "budget"),
    [
        (['fleet.gpu="H100-SXM"'], 8192),
        (['fleet.gpu="H200"'], 8192),
        (['fleet.gpu="A100-80GB"'], 2048),  # vLLM keeps the A100 at the small default
        (['fleet.gpu="L4"'], 2048),
        (['fleet.gpu="L4"', 'batching={policy="continuous", max_batch=4096}'], 4096),
        (['fleet.gpu="L4"', "batching.max_num_batched_tokens=512"], 512),
    ],
)
def test_token_budget_defaults_as_vllm(sets: list[str], budget: int) -> None:
    assert roofline(LLAMA_8B, *sets).token_budget == budget


def test_a_token_budget_below_max_batch_is_refused() -> None:
    with pytest.raises(CapsimError, match="max_num_batched_tokens"):
        load_scenario(
            "mmc", ['batching={policy="continuous", max_batch=64, max_num_batched_tokens=32}']
        )


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ('model.compute_precision="fp8"', "no fp8 tensor-core peak"),
        ("batching.max_num_batched_tokens=8", "max_num_batched_tokens"),
    ],
)
def test_bad_step_settings_are_one_clean_cli_error(override: str, fragment: str) -> None:
    from cli_error_helpers import assert_clean_error, invoke
    from typer.testing import CliRunner

    batching = 'batching={policy="continuous", max_batch=16}'
    sets = ['service={model="roofline"}', 'fleet.gpu="A100-80GB"', batching, override]
    args = [item for s in sets for item in ("--set", s)]
    assert_clean_error(invoke(CliRunner(), "validate", "mmc", *args), "mmc.toml", fragment)
