"""`service.kv_cache_memory_fraction`: the share of the memory the weights leave that holds
the KV cache, checked against hand arithmetic, its bounds, and the same capacity in the
BOTEC and both engines."""

from __future__ import annotations

import math

import pytest
from behaviour_helpers import LLAMA_7B_T4, assert_conserved, max_in_service
from engine_helpers import run_once
from typer.testing import CliRunner

from sim.baseline.botec import botec
from sim.cli import app
from sim.engine.service_time import RooflineModel, build_service_model
from sim.errors import CapsimError
from sim.montecarlo.sizing import tensor_parallel_degree
from sim.scenario.file import load_scenario

# Llama-3.1-8B (BF16, 8 KV heads of 128, 32 layers) on one A100-40GB: datasheet figures.
LLAMA_8B_A100 = [
    'service={model="roofline"}',
    "model={parameters=8.03e9, layers=32, hidden_size=4096, kv_heads=8, head_dim=128, "
    "bytes_per_param=2}",
    'fleet.gpu="A100-40GB"',
]
KV_BYTES_PER_TOKEN = 2 * 32 * 8 * 128 * 2  # 131,072
LEFT_BYTES = 40e9 - 8.03e9 * 2  # 23.94 GB after the weights


def roofline(*sets: str) -> RooflineModel:
    model = build_service_model(load_scenario("mmc", [*LLAMA_8B_A100, *sets]))
    assert isinstance(model, RooflineModel)
    return model


def test_default_is_ninety_percent_of_the_memory_the_weights_leave() -> None:
    # 0.9 x 23.94e9 / 131,072 = 164,382.9 tokens, against 182,647 with all of it.
    assert roofline().kv_capacity_tokens == 164_382
    assert math.floor(0.9 * LEFT_BYTES / KV_BYTES_PER_TOKEN) == 164_382


@pytest.mark.parametrize(("fraction", "tokens"), [(1.0, 182_647), (0.5, 91_323), (0.05, 9_132)])
def test_capacity_scales_with_the_fraction(fraction: float, tokens: int) -> None:
    model = roofline(f"service.kv_cache_memory_fraction={fraction}")
    assert model.kv_capacity_tokens == tokens == math.floor(fraction * LEFT_BYTES / 131_072)


def test_tensor_parallel_replica_gets_the_fraction_of_all_its_gpus_memory() -> None:
    model = roofline("fleet.gpus_per_replica=2", "service.kv_cache_memory_fraction=0.8")
    assert model.kv_capacity_tokens == math.floor(0.8 * (80e9 - 16.06e9) / KV_BYTES_PER_TOKEN)


@pytest.mark.parametrize("bad", ["0", "-0.1", "1.01", "nan"])
def test_a_fraction_outside_zero_to_one_is_refused(bad: str) -> None:
    with pytest.raises(CapsimError) as error:
        load_scenario("mmc", [*LLAMA_8B_A100, f"service.kv_cache_memory_fraction={bad}"])
    message = str(error.value)
    assert "service.kv_cache_memory_fraction" in message
    assert "greater than 0 and at most 1" in message


def test_the_cli_names_the_file_and_key_and_writes_nothing(tmp_path) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text(
        '[traffic]\nrate_per_s = 1\n[service]\nmodel = "roofline"\nkv_cache_memory_fraction = 1.5\n'
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(scenario), "-n", "1", "--out", str(out)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "bad.toml" in lines[0] and "service.kv_cache_memory_fraction" in lines[0]
    assert "at most 1" in lines[0] and result.stdout == ""
    assert not out.exists()


@pytest.mark.parametrize("fraction", [0.9, 0.5])
def test_botec_sees_the_engines_capacity(fraction: float) -> None:
    scenario = load_scenario(
        "mmc", [*LLAMA_8B_A100, f"service.kv_cache_memory_fraction={fraction}"]
    )
    batched = botec(scenario)["inference_roofline"]["batched"]
    capacity = build_service_model(scenario).kv_capacity_tokens
    assert math.floor(batched["kv_capacity_tokens"]) == capacity


@pytest.mark.parametrize(("fraction", "concurrent"), [(1.0, 7), (0.9, 6), (0.5, 3)])
def test_both_engines_admit_what_the_fraction_holds(fraction: float, concurrent: int) -> None:
    """7B on a T4: fraction x 2 GB / 512 KiB per token holds 7, 6 or 3 requests of 500
    tokens; overloaded, each replica runs exactly that many at once on either engine."""
    sets = [*LLAMA_7B_T4, 'batching={policy="continuous", max_batch=16}']
    sets += ["fleet.replicas=2", 'fleet.router="least-loaded"', "admission.max_queue=20"]
    sets += ["traffic.rate_per_s=5", "horizon=300", f"service.kv_cache_memory_fraction={fraction}"]
    capacity = math.floor(fraction * (16e9 - 14e9) / (2 * 32 * 32 * 128 * 2))
    assert capacity // 500 == concurrent
    for use_simpy in (False, True):
        result = run_once(sets, use_simpy=use_simpy)
        assert_conserved(result)
        for replica in range(2):
            assert max_in_service(result, replica) == concurrent, (use_simpy, replica)


def test_sizing_needs_room_for_one_request_in_the_kv_share() -> None:
    """70B BF16 (141.2 GB) on 80 GB GPUs: 2 GPUs leave 18.8 GB, whose 0.9 is 16.9 GB; a
    request of 50k tokens at 327,680 bytes a token needs 16.4 GB (fits), 55k needs 18.0 GB."""
    sets = [
        'service={model="roofline"}',
        "model={parameters=70.6e9, layers=80, hidden_size=8192, kv_heads=8, head_dim=128}",
        'fleet.gpu="H100-SXM"',
        "fleet.gpus_per_replica=8",  # any degree the weights fit in: sizing picks its own
        'requests.output_tokens={dist="fixed", value=1000}',
        "requests.max_context_tokens=100000",
    ]
    fits = load_scenario("mmc", [*sets, 'requests.prompt_tokens={dist="fixed", value=49000}'])
    assert tensor_parallel_degree(fits, "H100-SXM") == 2
    # 55k tokens (18.0 GB) fit in all 18.8 GB left but not in its 0.9 share.
    tight = [*sets, 'requests.prompt_tokens={dist="fixed", value=54000}']
    assert tensor_parallel_degree(load_scenario("mmc", tight), "H100-SXM") == 4
    whole = load_scenario("mmc", [*tight, "service.kv_cache_memory_fraction=1"])
    assert tensor_parallel_degree(whole, "H100-SXM") == 2
