"""`capsim sweep`: the grid, common random numbers, skipped points, resuming after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.errors import CapsimError
from sim.montecarlo.sweep_grid import grid_points, parse_vary

# 3 x 2 = 6 points of a SimPy-engine scenario (target tracking), 4 replications each.
SWEEP = [
    "sweep",
    "diurnal-api",
    "--set",
    'horizon="3h"',
    "--vary",
    "fleet.replicas=4:6",
    "--vary",
    "fleet.router=least-loaded,round-robin",
    "-n",
    "4",
]


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def whole_sweep(tmp_path_factory, runner: CliRunner) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("whole") / "sweep"
    result = runner.invoke(app, [*SWEEP, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return read_rows(out)


def read_rows(out: Path) -> pd.DataFrame:
    rows = pd.read_parquet(out / "rows")  # the folder reads as one Parquet dataset
    return rows.sort_values(["point", "replication"]).reset_index(drop=True)


def test_a_list_and_a_range_with_its_stop_included() -> None:
    assert parse_vary("fleet.gpu=T4,A10G,A100-80GB").values == ["T4", "A10G", "A100-80GB"]
    assert parse_vary("fleet.replicas=4:16:2").values == [4, 6, 8, 10, 12, 14, 16]
    assert parse_vary("fleet.replicas=4:7").values == [4, 5, 6, 7]
    assert parse_vary("autoscaling.target=0.5:0.8:0.1").values == [0.5, 0.6, 0.7, 0.8]
    points = grid_points([parse_vary("a.b=1,2"), parse_vary("c=x,y,z")])
    assert [p.settings for p in points[:4]] == [
        {"a.b": 1, "c": "x"},
        {"a.b": 1, "c": "y"},
        {"a.b": 1, "c": "z"},
        {"a.b": 2, "c": "x"},
    ]


@pytest.mark.parametrize(
    ("vary", "says"),
    [
        ("fleet.replicas", "expected key.path=a,b,c"),
        ("fleet.replicas=4:16:0", "step"),
        ("fleet.replicas=16:4:2", "never goes from 16 to 4"),
        ("fleet.replicas=1,2,1", "listed twice"),
        ("seed=1,2", "--seed"),
        ("fleet.gpu=T4,,A10G", "empty value"),
    ],
)
def test_a_bad_vary_is_one_line_naming_it(vary: str, says: str) -> None:
    with pytest.raises(CapsimError, match=says) as caught:
        parse_vary(vary)
    assert f"--vary {vary!r}" in str(caught.value)


def test_rows_carry_settings_seed_and_figures_on_common_random_numbers(
    whole_sweep: pd.DataFrame, runner: CliRunner, tmp_path
) -> None:
    rows = whole_sweep
    assert len(rows) == 24
    assert not rows.duplicated(["point", "replication"]).any()
    for column in ("fleet.replicas", "fleet.router", "replication", "seed", "e2e_p99_s"):
        assert column in rows
    for column in ("cost_monthly_total_usd", "slo_met", "over_budget", "requests_dropped"):
        assert column in rows
    assert sorted(set(rows["fleet.replicas"])) == [4, 5, 6]
    # Common random numbers: replication r of every point sees the same arrivals.
    arrivals = rows.pivot(index="replication", columns="point", values="requests_arrived")
    assert (arrivals.nunique(axis=1) == 1).all()
    assert arrivals.iloc[:, 0].nunique() == 4  # ...and the replications differ from each other
    # A point's rows are the rows `capsim run` gives for its settings.
    out = tmp_path / "run"
    args = ["run", "diurnal-api", "--set", 'horizon="3h"', "--set", "fleet.replicas=5"]
    args += ["--set", 'fleet.router="round-robin"', "-n", "4", "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    run_rows = pd.read_parquet(out / "replications.parquet")
    point = rows[(rows["fleet.replicas"] == 5) & (rows["fleet.router"] == "round-robin")]
    for column in ("requests_completed", "e2e_p99_s", "cost_monthly_total_usd", "utilization"):
        assert list(point[column]) == list(run_rows[column])


def test_a_sweep_killed_part_way_resumes_to_the_same_rows(
    whole_sweep: pd.DataFrame, tmp_path
) -> None:
    out = tmp_path / "sweep"
    capsim = [sys.executable, "-m", "sim.cli", *SWEEP, "--out", str(out)]
    process = subprocess.Popen(capsim, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(list((out / "rows").glob("*.parquet"))) < 3 and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    done_before = {p: p.stat().st_mtime_ns for p in (out / "rows").glob("*.parquet")}
    assert 3 <= len(done_before) < 24
    # A temporary file as a killed writer leaves it: never read, cleaned up.
    (out / "rows" / ".point-0005_rep-00003-00003.parquet.x.tmp").write_bytes(b"PAR1 half")
    result = subprocess.run([*capsim, "--json"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    # Only the missing tasks ran: the finished ones' files were left as they were.
    assert {p: p.stat().st_mtime_ns for p in done_before} == done_before
    rows = read_rows(out)
    assert len(rows) == 24
    assert not rows.duplicated(["point", "replication"]).any()
    pd.testing.assert_frame_equal(rows, whole_sweep)
    assert not [p for p in (out / "rows").iterdir() if p.name.startswith(".")]
    summary = json.loads(result.stdout)
    assert [p["replications"] for p in summary["points"]] == [4] * 6


def test_rerunning_a_finished_sweep_computes_nothing(runner: CliRunner, tmp_path) -> None:
    out = tmp_path / "sweep"
    small = ["sweep", "mmc", "--set", 'horizon="10m"', "--vary", "fleet.replicas=4,5", "-n", "2"]
    assert runner.invoke(app, [*small, "--out", str(out)]).exit_code == 0
    files = {p: p.stat().st_mtime_ns for p in (out / "rows").glob("*.parquet")}
    again = runner.invoke(app, [*small, "--out", str(out)])
    assert again.exit_code == 0
    assert "0 of 4 tasks to run" in again.stderr
    assert {p: p.stat().st_mtime_ns for p in (out / "rows").glob("*.parquet")} == files


def test_an_invalid_point_is_named_and_skipped(runner: CliRunner, tmp_path) -> None:
    out = tmp_path / "sweep"
    args = ["sweep", "mmc", "--set", 'horizon="10m"', "--vary", "fleet.gpu=T4,B200X,A10G"]
    result = runner.invoke(app, [*args, "-n", "2", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert "skipped point fleet.gpu=B200X" in result.stderr and "unknown GPU" in result.stderr
    rows = read_rows(out)
    assert sorted(set(rows["fleet.gpu"])) == ["A10G", "T4"]
    points = json.loads(result.stdout)["points"]
    assert [p["replications"] for p in points] == [2, 0, 2]
    assert "unknown GPU" in points[1]["error"]


@pytest.mark.parametrize(
    "change",
    [
        ["--vary", "fleet.replicas=4,6"],  # another grid
        ["--vary", "fleet.replicas=4,5", "--set", "traffic.rate_per_s=3.0"],  # another scenario
        ["--vary", "fleet.replicas=4,5", "--seed", "8"],  # another seed
    ],
)
def test_a_different_sweep_in_the_same_folder_is_refused(
    runner: CliRunner, tmp_path, change: list[str]
) -> None:
    out = tmp_path / "sweep"
    base = ["sweep", "mmc", "--set", 'horizon="10m"', "-n", "2", "--out", str(out)]
    assert runner.invoke(app, [*base, "--vary", "fleet.replicas=4,5"]).exit_code == 0
    before = sorted(p.name for p in (out / "rows").iterdir())
    result = runner.invoke(app, [*base, *change])
    assert result.exit_code == 2
    assert "holds another sweep" in result.stderr and "new --out folder" in result.stderr
    assert sorted(p.name for p in (out / "rows").iterdir()) == before


def test_bad_input_leaves_no_folder_behind(runner: CliRunner, tmp_path) -> None:
    out = tmp_path / "sweep"
    result = runner.invoke(app, ["sweep", "mmc", "--vary", "fleet.replicas=4:2", "--out", str(out)])
    assert result.exit_code == 2
    assert "--vary 'fleet.replicas=4:2'" in result.stderr
    nothing_valid = ["sweep", "mmc", "--vary", "fleet.gpu=X1,X2", "--out", str(out)]
    result = runner.invoke(app, nothing_valid)
    assert result.exit_code == 2 and "no point of the grid is valid" in result.stderr
    assert not out.exists()


def test_a_folder_of_something_else_is_refused(runner: CliRunner, tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = runner.invoke(
        app, ["sweep", "mmc", "--vary", "fleet.replicas=4,5", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "holds no sweep.json" in result.stderr


def test_two_local_processes_give_the_rows_of_one(runner: CliRunner, tmp_path) -> None:
    small = ["sweep", "mmc", "--set", 'horizon="10m"', "--vary", "fleet.replicas=4,5", "-n", "4"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert runner.invoke(app, [*small, "--out", str(one)]).exit_code == 0
    assert runner.invoke(app, [*small, "--out", str(two), "--workers", "2"]).exit_code == 0
    pd.testing.assert_frame_equal(read_rows(two), read_rows(one))
