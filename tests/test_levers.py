"""Each cost lever of seed 002 as a scenario setting: its effect on the simulated
requests and bill, and on the BOTEC, checked against counts and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from distributions.tokens import capped_mean
from distributions.traffic import traffic_summary
from sim.baseline.botec import botec
from sim.baseline.lever_botec import lever_botec
from sim.engine.service_time import build_service_model
from sim.errors import CapsimError
from sim.montecarlo.replications import run_replication
from sim.scenario.file import validate_scenario
from sim.scenario.lever_prices import api_price
from sim.scenario.levers import ttl_hit_share
from sim.scenario.schema import LogNormal

HORIZON_S = 7200.0


def queue(**sections) -> dict:
    """M/M/4 at 3.2 requests/s for two hours, exponential 1 s service."""
    data = {
        "name": "levers-test",
        "horizon": HORIZON_S,
        "seed": 3,
        "traffic": {"rate_per_s": 3.2},
        "service": {"model": "latency", "latency": {"dist": "exponential", "mean": 1.0}},
        "fleet": {"gpu": "T4", "replicas": 4, "router": "shared-queue"},
        "pricing": {"minimum_billed": 0.0},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return data


def run(data: dict):
    scenario = validate_scenario(data, source="test")
    return scenario, run_replication(scenario, 0)


def conserved(result) -> bool:
    r = result.requests
    return (
        r["arrived"] == r["completed"] + r["dropped"] + r["timed_out"] + r["lost"] + r["in_flight"]
    )


def test_cache_hits_skip_the_gpu_and_bill_the_cache():
    _, base = run(queue())
    scenario, cached = run(queue(levers={"cache": {"hit_rate": 0.4}}))
    n = base.requests["arrived"]
    assert cached.requests["arrived"] == n  # the same traffic, split
    assert conserved(cached)
    hits = cached.events["cache_hits"]
    assert abs(hits / n - 0.4) < 4 * math.sqrt(0.24 / n)
    busy_ratio = cached.billing["busy_replica_hours"] / base.billing["busy_replica_hours"]
    # Busy time is the misses' service: (1 - 0.4) of it, within the sum's sampling error.
    assert abs(busy_ratio - 0.6) < 4 * math.sqrt(2 * 0.4 / (0.6 * n))
    assert cached.cost_usd["horizon_cache"] > 0
    assert botec(scenario)["levers"]["main_fleet_fraction"] == pytest.approx(0.6)
    # Hits answer in 5 ms, so the pooled median falls below the queue's own.
    assert cached.latency_s["e2e"]["p50"] < base.latency_s["e2e"]["p50"]


def test_ttl_cache_hit_share_matches_the_renewal_formula():
    cache = {"hit_rate": 0.5, "ttl": 30.0, "distinct_prompts": 100}
    _, result = run(queue(levers={"cache": cache}))
    n = result.requests["arrived"]
    expected = ttl_hit_share(3.2, 0.5, 100, 30.0)
    assert 0.1 < expected < 0.3
    assert abs(result.events["cache_hits"] / n - expected) < 5 * math.sqrt(expected / n)


def test_ttl_needs_distinct_prompts():
    with pytest.raises(CapsimError, match=r"levers\.cache"):
        validate_scenario(queue(levers={"cache": {"hit_rate": 0.5, "ttl": 30.0}}), source="t")


def test_max_output_tokens_caps_replies_and_the_botec_mean():
    output = {"dist": "lognormal", "mean": 300, "cv": 0.8}
    data = queue(requests={"output_tokens": output, "max_output_tokens": 256})
    scenario = validate_scenario(data, source="t")
    summary = traffic_summary(scenario)
    assert summary["output_tokens"]["p99"] <= 256
    exact = capped_mean(LogNormal(dist="lognormal", mean=300, cv=0.8), 256)
    # The sample mean of whole, capped tokens is the capped mean within four standard
    # errors (a capped reply's sd is under 90 tokens) plus half a token of rounding.
    n = summary["total"]
    assert abs(summary["output_tokens"]["mean"] - exact) < 4 * 90 / math.sqrt(n) + 0.5
    assert lever_botec(scenario)["output_tokens_mean"] == pytest.approx(exact)


def test_prompt_compression_cuts_api_cost_by_its_share_of_prompt_tokens():
    api = {"use": True, "input_usd_per_1k_tokens": 0.01, "output_usd_per_1k_tokens": 0.03}
    tokens = {"prompt_tokens": {"dist": "fixed", "value": 1000}}
    _, base = run(queue(api=api, requests=tokens))
    _, short = run(queue(api=api, requests={**tokens, "prompt_compression": 0.5}))
    n = base.requests["completed"]
    assert short.requests["completed"] == n
    # 1000 -> 500 prompt tokens at $0.01/1k: $0.005 less per request, exactly.
    saved = base.cost_usd["horizon_api_tokens"] - short.cost_usd["horizon_api_tokens"]
    assert saved == pytest.approx(n * 0.005)


def test_quantization_shortens_decode_and_frees_kv_memory():
    data = queue(
        service={"model": "roofline"},
        model={"parameters": 8.03e9, "bytes_per_param": 2.0},
        fleet={"gpu": "A10G"},
    )
    data["service"] = {"model": "roofline"}
    full = build_service_model(validate_scenario(data, source="t"))
    data["model"]["bytes_per_param"] = 1.0
    half = build_service_model(validate_scenario(data, source="t"))
    assert half.weights_read_s == pytest.approx(full.weights_read_s / 2)
    assert half.kv_capacity_tokens > full.kv_capacity_tokens


def test_batch_share_goes_to_the_batch_api_at_its_discount():
    scenario, result = run(queue(levers={"batch": {"share": 0.3, "api": "gpt-4o-mini"}}))
    n = result.requests["arrived"]
    batched = result.events["batch_requests"]
    assert abs(batched / n - 0.3) < 4 * math.sqrt(0.21 / n)
    assert conserved(result)
    price = api_price("gpt-4o-mini")
    per_request = (250 * price.input_usd_per_1k_tokens + 500 * price.output_usd_per_1k_tokens) / 1e3
    assert result.cost_usd["horizon_batch_api_tokens"] == pytest.approx(batched * per_request * 0.5)
    # The batch requests carry no real-time latency: the histogram counts the rest.
    assert int(result.latency_histograms["e2e"].sum()) == result.requests["completed"] - batched
    assert lever_botec(scenario)["batch_delay_s"] == 86400.0


def test_routing_to_an_api_prices_and_times_the_routed_share():
    levers = {"routing": {"share": 0.7, "ttft": 0.5, "output_tokens_per_s": 100.0}}
    _, result = run(queue(levers=levers))
    routed = result.events["routed_requests"]
    price = api_price("gpt-4o-mini")
    per_request = (250 * price.input_usd_per_1k_tokens + 500 * price.output_usd_per_1k_tokens) / 1e3
    assert result.cost_usd["horizon_routed_api_tokens"] == pytest.approx(routed * per_request)
    # 70% of requests take 0.5 + 499/100 s exactly, so the pooled median is that.
    assert result.latency_s["e2e"]["p50"] == pytest.approx(0.5 + 4.99, rel=1e-6)


def test_routing_to_a_second_fleet_bills_it_and_serves_its_share():
    levers = {
        "routing": {
            "share": 0.5,
            "to": "fleet",
            "gpu": "A10G",
            "replicas": 3,
            "latency": {"dist": "exponential", "mean": 0.5},
        }
    }
    _, result = run(queue(levers=levers))
    assert conserved(result)
    assert result.requests["completed"] == result.requests["arrived"]
    # A fixed fleet of 3 A10G for the horizon, on-demand, no minimum.
    assert result.cost_usd["horizon_routed_gpu_on-demand"] == pytest.approx(
        3 * 1.006 * HORIZON_S / 3600, rel=1e-9
    )
    assert result.events["routed_fleet_replicas"] == 3


def test_levers_draw_the_same_split_in_every_variant():
    """Common random numbers: adding a batch share leaves the cache's hits as they were."""
    _, cache_only = run(queue(levers={"cache": {"hit_rate": 0.4}}))
    _, both = run(queue(levers={"cache": {"hit_rate": 0.4}, "batch": {"share": 0.3}}))
    assert both.events["cache_hits"] == cache_only.events["cache_hits"]


def test_unknown_lever_price_row_is_one_clear_error():
    bad = queue(levers={"batch": {"share": 0.3, "api": "gpt-9"}})
    with pytest.raises(CapsimError, match=r"levers.batch.api: unknown API 'gpt-9'"):
        validate_scenario(bad, source="f.toml")


def test_no_levers_leaves_the_replication_untouched():
    scenario = validate_scenario(queue(), source="t")
    assert not scenario.levers.splits
    assert np.isclose(
        run_replication(scenario, 0).cost_usd["horizon_total"],
        run(queue())[1].cost_usd["horizon_total"],
    )


def test_the_fast_engine_runs_the_main_share_on_thinned_traffic():
    from sim.fleetscale.run import check_fast
    from sim.montecarlo.levers import thinned

    levers = {"cache": {"hit_rate": 0.4}, "batch": {"share": 0.5}}
    scenario = validate_scenario(queue(levers=levers), source="t")
    with pytest.raises(CapsimError, match="needs the exact engine"):
        check_fast(scenario)
    main = thinned(scenario)
    # Poisson thinning: the main fleet sees 3.2 x (1 - 0.4) x (1 - 0.5) requests/s.
    assert main.traffic.rate_per_s == pytest.approx(3.2 * 0.6 * 0.5)
    assert not main.levers.splits
    check_fast(main)
