"""`capsim compare`: the default policies are those the scenario can run (the rest are
skipped with the reason), `scheduled` needs a schedule, and rows show every outcome."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from scenarios import bundled_scenario_names
from sim.cli import app
from sim.errors import CapsimError
from sim.montecarlo.compare import DEFAULT_POLICIES, runnable_variants
from sim.scenario.file import load_scenario

OUTCOMES = ("completed", "dropped", "timed_out", "lost", "in_flight")
SHORT = ["--set", 'horizon="20m"', "-n", "1"]


@pytest.mark.parametrize("name", bundled_scenario_names())
def test_every_bundled_scenario_has_default_policies_it_can_run(name: str) -> None:
    variants, skipped = runnable_variants(load_scenario(name), None)
    ran = [policy for policy, _ in variants]
    assert ran, f"{name}: nothing to compare"
    assert sorted([*ran, *skipped]) == sorted(DEFAULT_POLICIES)
    for policy, variant in variants:
        assert variant.autoscaling.policy == policy
    for reason in skipped.values():
        assert reason and name not in reason.split(":")[0]


def test_the_reasons_say_what_is_missing() -> None:
    _, mmc = runnable_variants(load_scenario("mmc"), None)
    assert (
        "no serverless price" in mmc["serverless"]
        and "pricing.serverless_usd_per_s" in (mmc["serverless"])
    )
    assert "autoscaling.schedule" in mmc["scheduled"]
    _, redai = runnable_variants(load_scenario("redai-1k"), None)
    assert "fleet.replicas >= 1" in redai["fixed"]


def test_scheduled_without_a_schedule_is_refused_when_named() -> None:
    with pytest.raises(CapsimError, match=r"autoscaling\.schedule is empty"):
        runnable_variants(load_scenario("redai-1k"), ["scheduled"])
    args = ["compare", "redai-1k", "--policies", "scheduled", *SHORT]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "autoscaling.schedule" in result.stderr and result.stdout == ""


def test_default_compare_runs_and_lists_the_skipped_in_json() -> None:
    result = CliRunner().invoke(app, ["compare", "mmc", *SHORT, "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [row["policy"] for row in document["policies"]] == [
        "fixed",
        "target-tracking",
        "predictive",
    ]
    assert set(document["skipped"]) == {"scheduled", "serverless"}
    for row in document["policies"]:
        assert sum(row[f"requests_{k}"] for k in OUTCOMES) == row["requests_arrived"] > 0


def test_the_table_view_says_on_stderr_what_was_skipped_and_shows_every_outcome() -> None:
    result = CliRunner().invoke(app, ["compare", "redai-1k", *SHORT])
    assert result.exit_code == 0, result.output
    assert "skipped fixed: a fixed fleet needs fleet.replicas >= 1" in result.stderr
    assert "skipped scheduled:" in result.stderr
    assert "skipped" not in result.stdout
    assert "completed / dropped / timed out / lost / in flight" in result.stdout


def test_named_policies_are_all_run_and_have_no_skipped() -> None:
    args = ["compare", "mmc", *SHORT, "--policies", "fixed", "--json"]
    document = json.loads(CliRunner().invoke(app, args).stdout)
    assert [row["policy"] for row in document["policies"]] == ["fixed"]
    assert document["skipped"] == {}
