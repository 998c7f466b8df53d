"""`capsim run` and `capsim compare` end to end: the JSON contract, result files, run plans."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from engine_helpers import run_once
from typer.testing import CliRunner

from sim.cli import app
from sim.errors import CapsimError
from sim.montecarlo.run_plan import (
    BYTES_PER_BATCH_SLOT,
    BYTES_PER_REPLICA,
    BYTES_PER_REQUEST,
    REQUESTS_PER_S,
    SECONDS_PER_REPLICA,
    STARTUP_S,
    RunPlan,
    check_plan,
    plan_run,
)
from sim.scenario.file import load_scenario

SMALL = ["--set", 'horizon="2h"', "-n", "2"]


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def test_run_json_carries_the_design_contract(runner: CliRunner) -> None:
    result = runner.invoke(app, ["run", "diurnal-api", *SMALL, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["scenario"] == "diurnal-api"
    assert summary["replications"] == 2
    assert summary["seed"] == 7
    assert "botec" in summary
    for metric in ("wait", "e2e"):
        assert set(summary["latency_s"][metric]) >= {"mean", "p50", "p90", "p99"}
    assert set(summary["replication_p99_e2e_s"]) >= {"p5", "p50", "p95"}
    for key in ("horizon", "monthly", "per_1k_requests"):
        assert set(summary["cost_usd"][key]) >= {"p5", "p50", "p95"}
    requests = summary["requests"]
    assert set(requests) >= {"arrived", "completed", "dropped", "timed_out", "in_flight", "retried"}
    outcomes = ("completed", "dropped", "timed_out", "in_flight", "lost")
    assert requests["arrived"] == sum(requests[k] for k in outcomes)
    assert set(summary["risk"]) >= {"p_over_budget", "p_slo_violation", "cvar95_monthly_usd"}


def test_run_out_writes_tables_figures_and_summary(runner: CliRunner, tmp_path) -> None:
    out = tmp_path / "results"
    result = runner.invoke(app, ["run", "diurnal-api", *SMALL, "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = pd.read_parquet(out / "replications.parquet")
    assert list(rows["replication"]) == [0, 1]
    assert {"seed", "requests_arrived", "cost_monthly_total_usd", "e2e_p99_s"} <= set(rows)
    fleet = pd.read_parquet(out / "fleet.parquet")
    assert set(fleet["replication"]) == {0, 1}
    assert {"time_s", "replicas_up", "replicas_serving", "arrival_rate_per_s"} <= set(fleet)
    latency = pd.read_parquet(out / "latency_by_hour.parquet")
    assert len(latency) == 2 * 2  # two hours, two replications
    for name in ("fleet_replication_000.png", "fleet_replication_001.png", "latency_by_hour.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["requests"]["arrived"] == int(rows["requests_arrived"].sum())
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_a_run_too_big_for_memory_is_refused_even_with_yes() -> None:
    plan = RunPlan(requests=1e9, replications=1, workers=1, wall_s=10.0, memory_bytes=1e15)
    with pytest.raises(CapsimError, match="more than this machine"):
        check_plan(plan, yes=True)


def test_a_run_over_an_hour_needs_yes() -> None:
    plan = RunPlan(requests=1e8, replications=1, workers=1, wall_s=7200.0, memory_bytes=1e6)
    with pytest.raises(CapsimError, match="--yes"):
        check_plan(plan, yes=False)
    check_plan(plan, yes=True)


def test_the_plan_counts_requests_from_the_traffic_integral() -> None:
    scenario = load_scenario("redai-1k")
    plan = plan_run(scenario, workers=1)
    assert plan.requests == pytest.approx(1000 * scenario.replications)


def test_the_plan_prices_each_run_at_the_speed_and_memory_of_its_engine() -> None:
    fixed = plan_run(load_scenario("mmc"), workers=1)  # the compiled kernel
    spot = plan_run(load_scenario("mmc", ['fleet.market="spot"']), 1)  # compiled too, now
    assert (fixed.engine, spot.engine) == ("kernel", "kernel")
    assert fixed.requests == pytest.approx(spot.requests)
    tracking = plan_run(load_scenario("mmc", ['autoscaling={policy="target-tracking"}']), 1)
    assert tracking.engine == "kernel"
    per_replication = fixed.requests / fixed.replications  # one worker holds one at a time
    for plan in (fixed, spot):
        launch_s = plan.replicas * SECONDS_PER_REPLICA["kernel"]  # spot adds replacements
        replication_s = per_replication / REQUESTS_PER_S["kernel"] + launch_s
        assert plan.wall_s == pytest.approx(STARTUP_S + plan.replications * replication_s)
    kernel_replica = BYTES_PER_REPLICA["kernel"] + BYTES_PER_BATCH_SLOT  # max_batch 1
    assert fixed.memory_bytes == pytest.approx(
        per_replication * BYTES_PER_REQUEST["kernel"] + 4 * kernel_replica
    )
    assert spot.memory_bytes == pytest.approx(
        per_replication * BYTES_PER_REQUEST["kernel"] + spot.replicas * kernel_replica
    )
    assert spot.replicas > fixed.replicas  # the replacements


def test_the_plan_counts_a_container_per_request_without_an_idle_timeout() -> None:
    """redai-100k (idle_timeout = 0) launched 100,000 containers a day its plan did not count."""
    plan = plan_run(load_scenario("redai-100k"), workers=1)
    per_replication = plan.requests / plan.replications
    assert plan.replicas == pytest.approx(per_replication)
    assert plan.engine == "kernel"  # serverless runs compiled
    containers_s = plan.replications * per_replication * SECONDS_PER_REPLICA["kernel"]
    assert plan.wall_s > containers_s  # 20 s of the estimate
    warm = plan_run(load_scenario("redai-100k", ["autoscaling.idle_timeout=60"]), workers=1)
    assert warm.replicas < 0.01 * per_replication


def test_the_plan_counts_the_launches_a_run_makes() -> None:
    """Containers per request, then spot replacements under target tracking: the estimate
    against one replication's count, within a factor of 2."""
    cases = [
        ("redai-100k", ['traffic.profile="constant"', 'horizon="30m"']),
        (
            "diurnal-api",
            [
                'fleet.market="spot"',
                "spot.interruptions_per_hour=20",
                "spot.notice=30",
                'traffic.profile="constant"',
                'horizon="2h"',
            ],
        ),
    ]
    for base, sets in cases:
        scenario = load_scenario(base, sets)
        estimate = plan_run(scenario, workers=1).replicas
        launched = run_once(sets, base=base, seed=5).replicas["started"]
        assert 0.5 < launched / estimate < 2.0, (base, launched, estimate)


def test_compare_runs_every_policy_on_the_same_traffic(runner: CliRunner) -> None:
    args = ["compare", "diurnal-api", *SMALL, "--policies", "fixed,target-tracking", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["policies"]
    assert [row["policy"] for row in rows] == ["fixed", "target-tracking"]
    assert rows[0]["requests_arrived"] == rows[1]["requests_arrived"]  # same traffic, same seeds
    assert rows[0]["replicas_mean"] == pytest.approx(8.0)


def test_compare_rejects_an_unknown_policy(runner: CliRunner) -> None:
    result = runner.invoke(app, ["compare", "diurnal-api", "--policies", "fixed,magic"])
    assert result.exit_code == 2
    assert "magic" in result.stderr and "target-tracking" in result.stderr
