"""The BOTEC baseline reproduces every figure the seeds got right, exactly, at their precision."""

from __future__ import annotations

import json
import math
import re

import pytest
from botec_helpers import month, row, run
from rich.console import Console

from reports.botec_table import SEED_FIGURES, botec_tables, seed_rows
from sim.baseline.botec import batch_stretch
from sim.engine.service_time import LatencyModel, build_service_model
from sim.scenario.file import load_scenario

BUNDLED = ("smartpal", "redai-1k", "redai-10k", "redai-100k", "chat-sizing", "marketplace-1b")


# ---------------------------------------------------------------- scenarios


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_scenario_loads_with_a_description(name):
    scenario = load_scenario(name)
    assert scenario.name == name
    assert scenario.description and "\n" not in scenario.description


def test_redai_pins_the_seed_serverless_idealisation():
    s = load_scenario("redai-1k")
    assert s.autoscaling.policy == "serverless" and s.autoscaling.billed_only_busy
    assert s.fleet.replicas == 0 and s.autoscaling.min_replicas == 0
    assert s.autoscaling.idle_timeout == 0 and s.autoscaling.cold_start.value == 0
    assert s.pricing.serverless_usd_per_s == 0.000165 and s.pricing.gpu_usd_per_hour == 0.31
    assert s.slo.latency_p99 == 10.0


def test_redai_100k_dedicated_variant_from_the_comment_loads():
    s = load_scenario(
        "redai-100k",
        [
            "fleet.gpu=A10",
            "fleet.market=on-demand",
            "autoscaling.policy=fixed",
            "fleet.replicas=1",
        ],
    )
    assert s.fleet.gpu == "A10" and s.fleet.replicas == 1


# ---------------------------------------------------------------- seed 000, right figures


def test_smartpal_storage(smartpal):
    assert smartpal["model"]["model_storage_gb"] == 6.0
    st = smartpal["storage"]
    assert st["user_profile_storage_tb"] == 1.0
    assert st["interaction_raw_tb_per_day"] == 2.0
    assert st["index_overhead_tb_per_day"] == 0.5
    assert st["interaction_storage_tb_per_day"] == 2.5
    assert st["interaction_storage_tb_per_month"] == 75.0


def test_smartpal_inference_seed_formula(smartpal):
    assert round(smartpal["traffic"]["requests_per_s"]) == 11574
    seed = smartpal["inference_seed"]
    assert f"{seed['inference_time_s'] * 1e3:.1f}" == "9.6"
    assert round(seed["queries_per_s_per_gpu"]) == 104
    assert seed["gpus_needed"] == 112


def test_smartpal_bandwidth(smartpal):
    bw = smartpal["bandwidth"]
    assert f"{bw['ingress_mb_per_s']:.2f}" == "23.15"
    assert f"{bw['egress_mb_per_s']:.2f}" == "115.74"
    assert round(bw["egress_mbps"]) == 926


def test_smartpal_plain_api_cost(smartpal):
    plain = smartpal["api"]["plain"]
    assert plain["tokens_per_request"] == 750
    assert math.isclose(plain["prompt_tokens_per_day"], 250e9)
    assert math.isclose(plain["output_tokens_per_day"], 500e9)
    assert math.isclose(plain["input_usd_per_day"], 2.5e6)
    assert math.isclose(plain["output_usd_per_day"], 15e6)
    assert f"{plain['api_cost_usd_per_request']:.4f}" == "0.0175"
    assert math.isclose(plain["api_cost_usd_per_day"], 17.5e6)
    assert math.isclose(plain["api_cost_usd_per_month"], 525e6)
    assert smartpal["api"]["rag"]["tokens_per_request"] == 400


# ---------------------------------------------------------------- seed 000, capsim's corrections


def test_roofline_decode_is_memory_bound_and_far_slower(smartpal):
    roof = smartpal["inference_roofline"]
    # per token: 6 GB of weights / (1555 GB/s x 0.77)
    assert math.isclose(roof["decode_time_s_per_token"], 6e9 / (1555e9 * 0.77))
    # prefill: 2 x 3e9 x 250 / (312e12 x 0.5)
    assert math.isclose(roof["prefill_time_s"], 2 * 3e9 * 250 / (312e12 * 0.5))
    assert math.isclose(
        roof["inference_time_s"], roof["prefill_time_s"] + 500 * roof["decode_time_s_per_token"]
    )
    assert roof["slowdown_vs_seed_ratio"] > 150
    assert roof["gpus_needed_at_peak"] == math.ceil(2 * 1e9 / 86400 * roof["inference_time_s"])
    batched = roof["batched"]
    assert 1 < batched["batch_size_requests"] <= 64
    assert batched["gpus_needed_at_peak"] < roof["gpus_needed_at_peak"]
    assert batched["gpus_needed_at_peak"] > smartpal["inference_seed"]["gpus_needed"]


def test_roofline_with_full_bandwidth_on_a100_80gb_is_about_150x():
    roof = run("smartpal", "fleet.gpu=A100-80GB", "service.mbu=1.0", "service.mfu=1.0")[
        "inference_roofline"
    ]
    assert 145 < roof["slowdown_vs_seed_ratio"] < 160


def test_seed_gpus_at_the_peak(smartpal):
    assert smartpal["inference_seed"]["capsim_gpus_needed_at_peak"] == 223


# ---------------------------------------------------------------- seed 001, right figures


def test_redai_serverless_at_1k(redai):
    sls = redai["serverless"]
    assert redai["traffic"]["requests_per_month"] == 30000
    assert sls["busy_gpu_s_per_day"] == 2000
    assert f"{sls['serverless_usd_per_day']:.2f}" == "0.33"
    assert f"{sls['serverless_usd_per_month']:.2f}" == "9.90"
    assert f"{sls['serverless_usd_per_request']:.5f}" == "0.00033"


def test_redai_scaling_to_10k_and_100k(redai):
    assert f"{row(redai, 10000)['serverless_usd_per_month']:.2f}" == "99.00"
    assert f"{row(redai, 100000)['serverless_usd_per_month']:.2f}" == "990.00"
    assert f"{run('redai-10k')['serverless']['serverless_usd_per_month']:.2f}" == "99.00"
    assert f"{run('redai-100k')['serverless']['serverless_usd_per_month']:.2f}" == "990.00"


def test_redai_dedicated_a10(redai):
    ded = redai["dedicated"]
    assert f"{ded['dedicated_usd_per_month']:.2f}" == "223.20"
    assert f"{ded['dedicated_usd_per_request']:.5f}" == "0.00744"
    assert math.floor(redai["comparison"]["dedicated_over_serverless_ratio"]) == 22


def test_redai_busy_hours_and_10k_utilisation(redai):
    assert f"{redai['capacity']['busy_gpu_hours_per_day']:.1f}" == "0.6"
    cap10 = run("redai-10k")["capacity"]
    assert f"{cap10['busy_gpu_hours_per_day']:.1f}" == "5.6"
    assert round(cap10["utilisation_of_one_gpu_fraction"] * 100) == 23
    assert f"{run('redai-100k')['capacity']['busy_gpu_hours_per_day']:.1f}" == "55.6"


def test_redai_batching(redai):
    b = redai["batch"]
    assert f"{b['batch_time_s']:.1f}" == "2.3"
    assert f"{b['gpu_s_per_request_batched']:.2f}" == "0.23"
    assert f"{b['serverless_usd_per_month']:.2f}" == "1.14"
    assert f"{b['serverless_usd_per_request']:.6f}" == "0.000038"
    assert f"{b['savings_usd_per_month']:.2f}" == "8.76"
    assert math.floor(b["savings_fraction"] * 100) == 88
    assert redai["capacity"]["throughput_requests_per_s_per_gpu"] == 0.5


def test_batch_rule_matches_the_engine_latency_model():
    model = build_service_model(load_scenario("redai-1k", ["batching.policy=static"]))
    assert isinstance(model, LatencyModel)
    for n in (1, 2, 5, 10, 20):
        assert math.isclose(model.stretch(n), batch_stretch(n, 0.15, 10))


def test_redai_threshold_rows_the_seed_got_right(redai):
    assert round(row(redai, 500)["serverless_usd_per_month"]) == 5
    assert round(row(redai, 1000)["serverless_usd_per_month"]) == 10
    assert round(row(redai, 2500)["serverless_usd_per_month"]) == 25
    assert math.floor(row(redai, 500)["dedicated_one_gpu_over_serverless_ratio"]) == 45
    assert math.floor(row(redai, 2500)["dedicated_one_gpu_over_serverless_ratio"]) == 9


def test_redai_projection_months_2_to_6(redai):
    shown = [f"{month(redai, m)['unbatched_usd_per_month']:.2f}" for m in range(2, 7)]
    assert shown == ["9.90", "14.85", "24.75", "39.60", "49.50"]


def test_redai_100k_switch_arithmetic():
    cmp100 = run("redai-100k")["comparison"]
    assert f"{cmp100['switch_to_dedicated_savings_usd_per_month']:.2f}" == "766.80"
    assert round(cmp100["switch_to_dedicated_savings_fraction"] * 100) == 77


def test_runpod_row_is_consistent_with_0_000168_per_second():
    sls = run("redai-1k", "pricing.serverless_usd_per_s=0.000168")["serverless"]
    assert f"{sls['serverless_usd_per_month']:.2f}" == "10.08"
    assert f"{sls['serverless_usd_per_request']:.5f}" == "0.00034"


def test_idle_timeout_correction_reduces_to_the_seed_when_pinned(redai):
    sls = redai["serverless"]
    assert sls["capsim_with_idle_and_cold_start_usd_per_month"] == sls["serverless_usd_per_month"]
    idle = run("redai-1k", "autoscaling.idle_timeout=60")["serverless"]
    lam = 1000 / 86400
    assert math.isclose(idle["capsim_idle_billed_s_per_request"], (1 - math.exp(-lam * 60)) / lam)


# ---------------------------------------------------------------- the dict and the tables

UNIT_WORDS = {
    "s", "ms", "gb", "tb", "mb", "bytes", "mbps", "usd", "tokens", "count", "fraction",
    "ratio", "gpus", "gpu", "replicas", "requests", "queries", "flops", "day", "days",
    "month", "hours", "param", "percent", "cores", "year",
}  # fmt: skip


def _numeric_keys(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                yield f"{path}.{key}", key
            else:
                yield from _numeric_keys(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _numeric_keys(value, f"{path}[{i}]")


@pytest.mark.parametrize("name", BUNDLED)
def test_result_is_json_and_every_number_names_its_unit(name):
    result = run(name)
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    missing = [p for p, key in _numeric_keys(result) if not UNIT_WORDS & set(re.split(r"_", key))]
    assert not missing, f"numeric keys without a unit in the name: {missing}"


@pytest.mark.parametrize("name", BUNDLED)
def test_tables_render_with_the_seed_column(name):
    result = run(name)
    console = Console(width=200, record=True)
    for table in botec_tables(result):
        console.print(table)
    text = console.export_text()
    assert "seed" in text
    assert len(seed_rows(result)) == len(SEED_FIGURES[name])


def test_seed_rows_match_the_audit(smartpal, redai):
    wrong = {f.label for f, _, verdict in seed_rows(smartpal) if verdict == "wrong"}
    assert wrong == {
        "RAG cost per request ($)",
        "RAG cost ($M/day)",
        "RAG savings vs direct API (%)",
    }
    rounding = {f.label for f, _, verdict in seed_rows(smartpal) if verdict == "rounding"}
    assert rounding == {"Ingress (Mbps)"}  # 186 for 185.19: docs/seed-audit.md, Rounding
    right = [f.label for f, _, verdict in seed_rows(redai) if verdict == "agrees"]
    assert "Serverless ($/month)" in right and "Batched ($/month)" in right
