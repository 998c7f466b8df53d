"""The fleet-scale (fast) engine: close to the exact engine on small runs, its model cache,
its refusals, and `--engine` on the command line.

Each comparison runs both engines on the same scenario and seeds. Targets are the
issue's: latency percentiles within 5%, cost within 1%, drop shares within 10%
(the exact runs here hold about 150k requests, whose p99 is known to about 1-2%, and
the model's probes 20k each).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from fleetscale_helpers import PROBE_REQUESTS, both_engines, relative, spot_chat_scenario
from typer.testing import CliRunner

from sim.cli import app
from sim.errors import CapsimError
from sim.fleetscale import latency_model
from sim.fleetscale.arrival_counts import renewal_counts
from sim.fleetscale.run import check_fast
from sim.montecarlo.engine_choice import choose_engine
from sim.scenario.file import load_scenario

pytestmark = pytest.mark.usefixtures("shared_model_cache")


def test_continuous_batching_fixed_fleet_matches_exact_latency_and_cost() -> None:
    scenario = load_scenario(
        "diurnal-chat", ["horizon=3600", 'traffic.profile="constant"', "replications=2"]
    )
    fast, exact = both_engines(scenario)
    for metric, p in (("e2e", "p50"), ("e2e", "p99"), ("ttft", "p99")):
        assert relative(fast["latency_s"][metric][p], exact["latency_s"][metric][p]) < 0.05
    cost = {name: s["cost_usd"]["monthly"]["mean"] for name, s in (("f", fast), ("e", exact))}
    assert relative(cost["f"], cost["e"]) < 0.01
    assert fast["requests"]["arrived"] == pytest.approx(exact["requests"]["arrived"], rel=0.01)


def test_overload_with_a_queue_cap_drops_the_share_the_exact_engine_drops() -> None:
    scenario = load_scenario(
        "diurnal-chat",
        [
            "horizon=3600",
            'traffic.profile="constant"',
            "traffic.rate_per_s=40",
            "fleet.replicas=3",
            "admission.max_queue=16",
        ],
    ).model_copy(update={"replications": 2})
    fast, exact = both_engines(scenario)
    share = {
        name: s["requests"]["dropped"] / s["requests"]["arrived"]
        for name, s in (("fast", fast), ("exact", exact))
    }
    assert share["exact"] > 0.05  # the row is really overloaded
    assert relative(share["fast"], share["exact"]) < 0.10


def test_target_tracking_keeps_the_fleet_the_exact_autoscaler_keeps() -> None:
    scenario = load_scenario("diurnal-api", ["horizon=21600", "replications=2"])
    fast, exact = both_engines(scenario)
    mean = {name: s["replicas"]["mean"]["mean"] for name, s in (("f", fast), ("e", exact))}
    assert relative(mean["f"], mean["e"]) < 0.10
    assert relative(fast["latency_s"]["e2e"]["p50"], exact["latency_s"]["e2e"]["p50"]) < 0.05


def test_the_latency_model_is_cached_under_its_key_and_rebuilt_when_the_service_changes(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("CAPSIM_CACHE_DIR", str(tmp_path / "cache"))  # a folder of its own
    scenario = load_scenario("mmc", ["horizon=600"])
    first = latency_model.latency_table(scenario, PROBE_REQUESTS)
    files = list((tmp_path / "cache").glob("latency-model-*.npz"))
    assert len(files) == 1

    def no_probes(*args, **kwargs):
        raise AssertionError("a cached model was measured again")

    monkeypatch.setattr(latency_model, "measure_table", no_probes)
    again = latency_model.latency_table(scenario, PROBE_REQUESTS)
    assert again.capacity_per_s == first.capacity_per_s
    assert np.array_equal(again.histograms["e2e"], first.histograms["e2e"])
    slower = load_scenario("mmc", ["horizon=600", 'service.latency={dist="fixed", value=2.0}'])
    with pytest.raises(AssertionError, match="measured again"):
        latency_model.latency_table(slower, PROBE_REQUESTS)


def test_the_saturated_throughput_is_what_the_service_time_allows() -> None:
    # Four replicas, 1 s exponential service: 1 request per second per replica.
    table = latency_model.latency_table(load_scenario("mmc", ["horizon=600"]), PROBE_REQUESTS)
    assert table.capacity_per_s == pytest.approx(1.0, rel=0.05)


def test_renewal_counts_have_the_variance_of_the_arrival_process() -> None:
    rng = np.random.default_rng(3)
    mean = np.full(200_000, 50.0)
    for cv in (0.5, 1.0, 2.0):
        counts = renewal_counts(mean, cv, rng)
        assert counts.mean() == pytest.approx(50.0, rel=0.01)
        assert counts.var() == pytest.approx(cv * cv * 50.0, rel=0.03)


def test_request_classes_are_refused_by_name() -> None:
    scenario = load_scenario("mmc", ['requests.classes=[{name="chat", share=1.0}]', "horizon=600"])
    with pytest.raises(CapsimError, match=r"requests\.classes"):
        check_fast(scenario)


def test_auto_picks_exact_for_a_small_run_and_fast_for_smartpal() -> None:
    assert choose_engine(load_scenario("mmc", []), "auto") == "exact"
    assert choose_engine(load_scenario("smartpal", []), "auto") == "fast"
    with pytest.raises(CapsimError, match="--engine"):
        choose_engine(load_scenario("mmc", []), "quick")


def test_run_json_says_which_engine_ran() -> None:
    runner = CliRunner()
    args = ["run", "mmc", "--set", "horizon=1800", "-n", "2", "--json"]
    fast = runner.invoke(app, [*args, "--engine", "fast"])
    assert fast.exit_code == 0, fast.output
    summary = json.loads(fast.stdout)
    assert summary["engine"] == "fast"
    assert summary["replications"] == 2
    exact = runner.invoke(app, args)
    assert json.loads(exact.stdout)["engine"] == "exact"
    refused = runner.invoke(
        app, [*args, "--engine", "fast", "--set", 'requests.classes=[{name="a", share=1.0}]']
    )
    assert refused.exit_code == 2
    assert "requests.classes" in refused.output


def test_a_spot_fleet_bills_its_reclaims_as_the_exact_engine_does() -> None:
    scenario = spot_chat_scenario(1.0, 2)
    fast, exact = both_engines(scenario)
    assert fast["events"]["interruptions"]["mean"] > 5  # reclaims really happen
    cost = {name: s["cost_usd"]["monthly"]["mean"] for name, s in (("f", fast), ("e", exact))}
    assert relative(cost["f"], cost["e"]) < 0.01
    assert relative(fast["latency_s"]["e2e"]["p99"], exact["latency_s"]["e2e"]["p99"]) < 0.05
