"""`capsim size` on the command line: the table, --json, --out as a sweep folder, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.montecarlo.executors import LocalExecutor
from sim.montecarlo.sizing import ACCEPTED, Candidate, SettingRunner
from sim.scenario.file import load_scenario

SIZE = ["size", "mmc", "--set", 'horizon="20m"', "--set", 'slo.latency_p99="6s"']
SIZE += ["--gpus", "T4,L4", "--confidence", "0.8", "-n", "40"]


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def document(runner: CliRunner) -> dict:
    result = runner.invoke(app, [*SIZE, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_ranks_the_candidates_by_cost_and_marks_the_cheapest(document: dict) -> None:
    rows = document["candidates"]
    assert [row["gpu"] for row in rows] == ["T4", "L4"]  # T4 is the cheaper GPU
    assert [row["cheapest"] for row in rows] == [True, False]
    for row in rows:
        chosen, fewer = row["chosen"], row["next_cheaper"]
        assert row["status"] == ACCEPTED
        assert fewer["replicas"] == chosen["replicas"] - 1
        assert fewer["status"] != ACCEPTED
        assert chosen["good_share_ci95"][0] >= 0.8
        assert row["replicas_over_botec_ratio"] == chosen["replicas"] / row["botec_replicas"]
    costs = [row["chosen"]["cost_monthly_usd"]["p50"] for row in rows]
    assert costs == sorted(costs)


def test_the_table_shows_each_candidate_and_the_botec(runner: CliRunner, document: dict) -> None:
    result = runner.invoke(app, SIZE)
    assert result.exit_code == 0, result.output
    for row in document["candidates"]:
        assert f"replicas={row['chosen']['replicas']}" in result.stdout
    assert "BOTEC" in result.stdout and "*" in result.stdout


def test_out_writes_a_sweep_folder_that_report_draws(
    runner: CliRunner, document: dict, tmp_path: Path
) -> None:
    out = tmp_path / "sized"
    result = runner.invoke(app, [*SIZE, "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == document  # --out does not change the answer
    manifest = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
    evaluated = sum(row["settings_evaluated"] for row in document["candidates"])
    assert manifest["kind"] == "sweep" and len(manifest["points"]) == evaluated
    rows = pd.read_parquet(out / "rows")
    assert len(rows) == sum(row["replications_run"] for row in document["candidates"])
    chosen = document["candidates"][0]["chosen"]
    mine = rows[(rows["fleet.gpu"] == "T4") & (rows["fleet.replicas"] == chosen["replicas"])]
    assert int(mine["slo_met"].sum()) == chosen["good_days"]
    report = runner.invoke(app, ["report", str(out)])
    assert report.exit_code == 0, report.output
    assert "Cost against p99" in (out / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--gpus", "X1"], "unknown GPU 'X1'"),
        (["--markets", "reserved"], "--markets: unknown value 'reserved'"),
        (["--policies", "serverless"], "--policies: 'serverless' is not sized yet"),
        (["-n", "10"], "raise -n to at least 16"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    runner: CliRunner, tmp_path: Path, extra: list[str], message: str
) -> None:
    out = tmp_path / "never"
    result = runner.invoke(app, [*SIZE, *extra, "--out", str(out)])
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_a_non_empty_out_folder_is_refused_before_anything_runs(
    runner: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "other.txt").write_text("x", encoding="utf-8")
    result = runner.invoke(app, [*SIZE, "--out", str(tmp_path)])
    assert result.exit_code == 2 and "is not an empty folder" in result.stderr


def test_diurnal_chat_on_a_short_horizon_matches_a_brute_force() -> None:
    """The bundled chat service (half an hour at its 14:00 peak) on an H100: every N from 1."""
    base = load_scenario("diurnal-chat", ['horizon="30m"', 'traffic.peak_time="00:15"'])
    candidate = Candidate("H100-SXM", 1)
    statuses = {
        n: SettingRunner(base, LocalExecutor(1), 0.8, 40).evaluate(candidate, n).status
        for n in range(1, 7)
    }
    expected = min(n for n, status in statuses.items() if status == ACCEPTED)
    sets = ["--set", 'horizon="30m"', "--set", 'traffic.peak_time="00:15"']
    command = ["size", "diurnal-chat", *sets, "--gpus", "H100-SXM", "--confidence", "0.8"]
    result = CliRunner().invoke(app, [*command, "-n", "40", "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["candidates"][0]
    assert row["chosen"]["replicas"] == expected
    assert expected > 1 and statuses[expected - 1] != ACCEPTED


def test_a_dask_local_cluster_gives_the_same_answer(runner: CliRunner, document: dict) -> None:
    result = runner.invoke(app, [*SIZE, "--json", "--executor", "dask", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == document


def test_redai_100k_on_a_short_horizon_matches_a_brute_force(runner: CliRunner) -> None:
    """The seed-001 classifier (2 s a request, two peak hours) on dedicated T4s, every N."""
    sets = ['horizon="2h"', 'traffic.peak_time="01:00"']
    base = load_scenario("redai-100k", sets)
    candidate = Candidate("T4", 1)
    statuses = {
        n: SettingRunner(base, LocalExecutor(1), 0.8, 40).evaluate(candidate, n).status
        for n in range(1, 10)
    }
    expected = min(n for n, status in statuses.items() if status == ACCEPTED)
    command = ["size", "redai-100k", "--set", sets[0], "--set", sets[1], "--gpus", "T4,A10G"]
    result = runner.invoke(app, [*command, "--confidence", "0.8", "-n", "40", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [row["chosen"]["replicas"] for row in document["candidates"]] == [expected] * 2
    assert expected > 1 and statuses[expected - 1] != ACCEPTED
    assert any("prices every GPU type alike" in w for w in document["warnings"])
