"""Scenario to requests: chunks, summaries, bundled scenarios, schema errors, reports."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from rich.console import Console

from distributions.traffic import (
    bin_counts,
    expected_request_count,
    generate_requests,
    iter_request_chunks,
    traffic_profile,
    traffic_summary,
)
from reports.traffic_figure import plot_traffic
from reports.traffic_table import traffic_table
from sim.errors import CapsimError
from sim.scenario.file import load_scenario, validate_scenario

DAY = 86400.0


def scenario(traffic: dict, requests: dict | None = None, horizon: str = "2h"):
    data = {
        "horizon": horizon,
        "traffic": traffic,
        "service": {"model": "latency", "latency": {"dist": "exponential", "mean": 1.0}},
    }
    if requests is not None:
        data["requests"] = requests
    return validate_scenario(data, source="test.toml")


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])


def test_generate_requests_gives_sorted_equal_length_arrays():
    s = load_scenario("diurnal-chat", overrides=['horizon = "3h"'])
    requests = generate_requests(s, rng(1))
    n = len(requests)
    assert n > 0
    assert requests.arrival_s.dtype == np.float64
    assert requests.prompt_tokens.dtype == np.int64 and requests.output_tokens.dtype == np.int64
    assert requests.class_index.dtype == np.int16
    assert {
        requests.prompt_tokens.size,
        requests.output_tokens.size,
        requests.class_index.size,
    } == {n}
    assert np.all(np.diff(requests.arrival_s) >= 0)
    assert requests.arrival_s[0] >= 0 and requests.arrival_s[-1] < s.horizon
    assert requests.prompt_tokens.min() >= 1
    assert requests.output_tokens.max() <= s.requests.max_context_tokens
    expected = expected_request_count(s)
    assert abs(n - expected) <= 4 * math.sqrt(expected)


def test_same_seed_same_requests_and_arrivals_independent_of_token_dists():
    s = load_scenario("diurnal-chat", overrides=['horizon = "1h"'])
    a, b = generate_requests(s, rng(2)), generate_requests(s, rng(2))
    for name in ("arrival_s", "prompt_tokens", "output_tokens", "class_index"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    other = load_scenario(
        "diurnal-chat",
        overrides=['horizon = "1h"', 'requests.output_tokens = {dist = "fixed", value = 7}'],
    )
    c = generate_requests(other, rng(2))
    np.testing.assert_array_equal(a.arrival_s, c.arrival_s)  # common random numbers
    assert np.all(c.output_tokens == 7)


def test_chunks_concatenate_to_sorted_traffic_with_the_same_statistics():
    s = scenario({"rate_per_s": 30.0, "profile": "diurnal", "peak_to_mean": 3.0}, horizon="1d")
    chunks = list(iter_request_chunks(s, rng(3), chunk_size=100_000))
    assert len(chunks) >= 26
    arrival_s = np.concatenate([c.arrival_s for c in chunks])
    assert np.all(np.diff(arrival_s) >= 0)
    assert all(len(c) > 0 and len(c) < 110_000 for c in chunks)
    edges = np.arange(25) * 3600.0
    expected = traffic_profile(s).integral(edges[:-1], edges[1:])
    counts = bin_counts(arrival_s, 3600.0, DAY)
    assert np.all(np.abs(counts - expected) <= 4 * np.sqrt(expected))


def test_expected_count_is_the_exact_integral():
    s = scenario({"requests_per_day": 864_000, "profile": "constant"}, horizon="1d")
    assert expected_request_count(s) == pytest.approx(864_000, rel=1e-12)
    burst = scenario(
        {
            "rate_per_s": 2.0,
            "profile": "diurnal",
            "bursts": [{"start": "19:00", "duration": "1h", "multiplier": 3.0}],
        },
        horizon="1d",
    )
    profile = traffic_profile(burst)
    extra = 2.0 * float(profile.integral(19 * 3600, 20 * 3600)) / 3.0
    assert expected_request_count(burst) == pytest.approx(2.0 * DAY + extra, rel=1e-12)


def test_gamma_arrivals_from_a_scenario():
    s = scenario({"rate_per_s": 5.0, "arrival": "gamma", "cv": 2.0}, horizon="1d")
    requests = generate_requests(s, rng(4))
    gaps = np.diff(requests.arrival_s) * 5.0
    assert gaps.std() / gaps.mean() > 1.8  # bursty; the exact cv test is in test_arrivals


def test_bin_counts_has_a_short_last_bin():
    counts = bin_counts(np.array([0.0, 0.5, 1.0, 2.9, 3.0, 9.99]), bin_s=3.0, horizon_s=10.0)
    np.testing.assert_array_equal(counts, [4, 1, 0, 1])


def test_traffic_summary_is_consistent_and_json_ready():
    s = scenario(
        {"rate_per_s": 3.0, "profile": "diurnal", "peak_to_mean": 2.0},
        requests={
            "classes": [
                {"name": "chat", "share": 0.7},
                {"name": "code", "share": 0.3, "prompt_tokens": {"dist": "fixed", "value": 2000}},
            ]
        },
        horizon="1d",
    )
    summary = traffic_summary(s, seed=5, bin_s=3600.0)
    for key in (
        "bin_s", "counts", "total", "mean_rate_per_s", "peak_rate_per_s", "expected_total",
        "target_rate_per_s", "prompt_tokens", "output_tokens", "classes",
    ):  # fmt: skip
        assert key in summary
    assert len(summary["counts"]) == len(summary["target_rate_per_s"]) == 24
    assert sum(summary["counts"]) == summary["total"] == sum(summary["classes"].values())
    assert summary["mean_rate_per_s"] == pytest.approx(summary["total"] / DAY)
    assert summary["peak_rate_per_s"] == pytest.approx(max(summary["counts"]) / 3600.0)
    assert np.mean(summary["target_rate_per_s"]) == pytest.approx(3.0, rel=1e-12)
    share = summary["classes"]["code"] / summary["total"]
    assert abs(share - 0.3) <= 4 * math.sqrt(0.21 / summary["total"])
    assert set(summary["prompt_tokens"]) == {"mean", "p50", "p90", "p99", "cv"}
    json.dumps(summary)
    again = traffic_summary(s, seed=5, bin_s=3600.0)
    assert again["counts"] == summary["counts"]
    replication0 = generate_requests(s, rng(5))
    assert len(replication0) == summary["total"]  # replication 0's stream


def test_bundled_trace_scenario_replays_the_trace_tokens():
    s = load_scenario("azure-conv")
    requests = generate_requests(s, rng(6))
    assert len(requests) == expected_request_count(s)
    assert requests.arrival_s[0] == 0.0
    np.testing.assert_array_equal(requests.prompt_tokens[:4], [374, 396, 879, 91])
    np.testing.assert_array_equal(requests.output_tokens[:4], [44, 109, 55, 16])
    summary = traffic_summary(s, bin_s=600.0)
    assert summary["total"] == len(requests)
    assert summary["expected_total"] == len(requests)


def test_bundled_scenarios_validate():
    chat = load_scenario("diurnal-chat")
    assert chat.traffic.profile == "diurnal" and chat.traffic.peak_to_mean == 2.0
    assert chat.traffic.bursts[0].start == 19 * 3600 and chat.traffic.bursts[0].multiplier == 1.5
    burst_hour = float(traffic_profile(chat).integral(19 * 3600, 20 * 3600))
    extra = burst_hour * (1.5 - 1.0) / 1.5  # the 19:00 hour carries 1.5x its base rate
    assert expected_request_count(chat) == pytest.approx(20.0 * DAY + extra, rel=1e-9)
    conv = load_scenario("azure-conv")
    assert conv.fleet.replicas == 2 and conv.batching.max_batch == 64


def test_negative_hourly_weight_is_a_schema_error_naming_the_key():
    weights = [1.0] * 24
    weights[5] = -1.0
    with pytest.raises(CapsimError, match=r"traffic\.hourly_weights"):
        scenario({"rate_per_s": 1.0, "profile": "hourly", "hourly_weights": weights})


def test_23_hourly_weights_is_a_schema_error_naming_the_key():
    with pytest.raises(CapsimError, match=r"hourly_weights needs 24.*got 23"):
        scenario({"rate_per_s": 1.0, "profile": "hourly", "hourly_weights": [1.0] * 23})


def test_trace_scenario_with_a_missing_file_is_a_clear_error(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        'horizon = "1h"\n[traffic]\nprofile = "trace"\narrival = "trace"\n'
        '[traffic.trace]\nfile = "nope.csv"\n[service]\nmodel = "roofline"\n'
    )
    with pytest.raises(CapsimError, match=r"traffic\.trace\.file"):
        load_scenario(path)


def test_reports_draw_and_render(tmp_path):
    s = scenario({"rate_per_s": 2.0, "profile": "diurnal"}, horizon="1d")
    summary = traffic_summary(s, seed=1, bin_s=3600.0)
    out = plot_traffic(summary, tmp_path / "traffic.png")
    assert out.stat().st_size > 10_000
    console = Console(record=True, width=120)
    console.print(traffic_table(summary, max_rows=10))
    text = console.export_text()
    assert "Traffic summary" in text and "..." in text and f"{summary['total']:,}" in text
