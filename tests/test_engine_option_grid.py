"""`--engine` on `sweep` and `size`: the chosen engine runs every point, and the output says so."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.fleetscale.run import run_fast
from sim.montecarlo.sizing import Candidate, candidate_scenario
from sim.scenario.file import load_scenario

SETS = ['horizon="30m"']
SWEEP = ["sweep", "mmc", "--set", SETS[0], "--vary", "fleet.replicas=4,5", "-n", "3", "--json"]
SIZE = ["size", "mmc", "--set", SETS[0], "--set", 'slo.latency_p99="6s"', "--gpus", "T4"]
SIZE += ["--confidence", "0.8", "-n", "20", "--json"]


pytestmark = pytest.mark.usefixtures("model_cache_in_tmp")


def rows_of(folder) -> pd.DataFrame:
    frames = [pd.read_parquet(p) for p in sorted((folder / "rows").glob("*.parquet"))]
    return pd.concat(frames).sort_values(["point", "replication"]).reset_index(drop=True)


def test_a_fast_sweep_runs_every_point_on_the_fast_engine_and_says_so(tmp_path) -> None:
    runner = CliRunner()
    out = tmp_path / "sweep"
    result = runner.invoke(app, [*SWEEP, "--out", str(out), "--engine", "fast"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["engine"] == "fast"
    rows = rows_of(out)
    for point, replicas in ((0, 4), (1, 5)):
        scenario = load_scenario("mmc", [*SETS, f"fleet.replicas={replicas}"])
        fast = run_fast(scenario.model_copy(update={"replications": 3}))
        found = rows[rows["point"] == point]
        assert list(found["e2e_p99_s"]) == [r.latency_s["e2e"]["p99"] for r in fast]
        assert list(found["cost_monthly_total_usd"]) == [r.cost_usd["monthly_total"] for r in fast]
    # The folder holds a fast sweep: rerunning it on the exact engine is refused, not mixed.
    again = runner.invoke(app, [*SWEEP, "--out", str(out), "--engine", "exact"])
    assert again.exit_code == 2 and "engine" in again.output


def test_a_small_sweep_stays_exact_under_auto(tmp_path) -> None:
    result = CliRunner().invoke(app, [*SWEEP, "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["engine"] == "exact"


def test_a_fast_size_evaluates_its_settings_on_the_fast_engine(tmp_path) -> None:
    runner = CliRunner()
    out = tmp_path / "size"
    result = runner.invoke(app, [*SIZE, "--engine", "fast", "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["engine"] == "fast"
    chosen = document["candidates"][0]["chosen"]
    assert chosen is not None
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["engine"] == "fast"
    point = next(p for p in manifest["points"] if p["settings"]["fleet.replicas"] == 4)
    found = rows_of(out)
    found = found[found["point"] == point["point"]]
    base = load_scenario("mmc", [*SETS, 'slo.latency_p99="6s"'])
    fast = run_fast(candidate_scenario(base, Candidate("T4", 1), 4), len(found))
    assert list(found["e2e_p99_s"]) == [r.latency_s["e2e"]["p99"] for r in fast]
    exact = runner.invoke(app, [*SIZE, "--engine", "exact"])
    assert json.loads(exact.stdout)["engine"] == "exact"


@pytest.mark.parametrize("verb", [SWEEP, SIZE])
def test_a_setting_the_fast_engine_cannot_honour_is_refused_by_name(verb, tmp_path) -> None:
    classes = ["--set", 'requests.classes=[{name="a", share=1.0}]']
    command = [*verb, *classes, "--engine", "fast"]
    if verb is SWEEP:
        command += ["--out", str(tmp_path / "s")]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2
    assert "requests.classes" in result.output
    assert not (tmp_path / "s").exists()  # nothing written


@pytest.mark.parametrize("verb", [SWEEP, SIZE])
def test_the_simpy_oracle_is_refused_on_a_grid_not_replaced(verb, tmp_path) -> None:
    command = [*verb, "--engine", "simpy"]
    if verb is SWEEP:
        command += ["--out", str(tmp_path / "s")]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2
    assert "--engine simpy" in result.output and "run, compare and levers" in result.output
    assert not (tmp_path / "s").exists()
