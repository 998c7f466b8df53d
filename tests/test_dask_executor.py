"""`--executor dask`: a LocalCluster and a separately started cluster give the local rows."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.cli import app

RUN = ["run", "redai-10k", "--set", 'horizon="2h"', "-n", "4", "--seed", "5", "--json"]
SWEEP = ["sweep", "mmc", "--set", 'horizon="20m"', "--vary", "fleet.replicas=4:6", "-n", "3"]
COMPARE = ["compare", "diurnal-api", "--set", 'horizon="1h"', "-n", "2", "--json"]
COMPARE += ["--policies", "fixed,target-tracking"]
DASK = str(Path(sys.executable).with_name("dask"))


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def local_run(runner: CliRunner) -> str:
    result = runner.invoke(app, [*RUN, "--executor", "local", "--workers", "1"])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def local_sweep(runner: CliRunner, tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("local") / "sweep"
    result = runner.invoke(app, [*SWEEP, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return pd.read_parquet(out / "rows").sort_values(["point", "replication"], ignore_index=True)


def test_a_two_worker_local_cluster_gives_the_local_json(runner: CliRunner, local_run: str) -> None:
    result = runner.invoke(app, [*RUN, "--executor", "dask", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert result.stdout == local_run
    assert json.loads(local_run)["replications"] == 4


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A real cluster: `dask scheduler` and two `dask worker` processes on 127.0.0.1."""
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("dask")
    scheduler = subprocess.Popen(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        stdout=subprocess.DEVNULL,
        stderr=(logs / "scheduler.log").open("w"),
    )
    workers = [
        subprocess.Popen(
            [
                DASK,
                "worker",
                address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--name",
                f"w{i}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(logs / f"worker{i}.log").open("w"),
        )
        for i in range(2)
    ]
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout="2s") as client:
                    client.wait_for_workers(2, timeout=60)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield address
    finally:
        for worker in workers:
            worker.kill()  # one process each (no nanny): nothing is left behind
        scheduler.terminate()
        for process in [*workers, scheduler]:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_a_separately_started_cluster_gives_the_local_json(
    runner: CliRunner, local_run: str, cluster: str
) -> None:
    result = runner.invoke(app, [*RUN, "--executor", "dask", "--scheduler", cluster])
    assert result.exit_code == 0, result.output
    assert result.stdout == local_run


def test_a_sweep_on_the_cluster_gives_the_local_rows(
    runner: CliRunner, local_sweep: pd.DataFrame, cluster: str, tmp_path
) -> None:
    out = tmp_path / "sweep"
    args = [*SWEEP, "--out", str(out), "--executor", "dask", "--scheduler", cluster]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = pd.read_parquet(out / "rows").sort_values(["point", "replication"], ignore_index=True)
    assert len(rows) == 9
    pd.testing.assert_frame_equal(rows, local_sweep)


def test_a_compare_on_the_cluster_gives_the_local_rows(runner: CliRunner, cluster: str) -> None:
    local = runner.invoke(app, COMPARE)
    remote = runner.invoke(app, [*COMPARE, "--executor", "dask", "--scheduler", cluster])
    assert local.exit_code == 0 and remote.exit_code == 0, remote.output
    assert remote.stdout == local.stdout


def test_an_unreachable_scheduler_is_one_line(runner: CliRunner) -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    result = runner.invoke(app, [*RUN, "--executor", "dask", "--scheduler", address])
    assert result.exit_code == 2
    assert f"--scheduler {address}: cannot reach the Dask scheduler" in result.stderr


def test_a_scheduler_needs_the_dask_executor(runner: CliRunner) -> None:
    result = runner.invoke(app, [*RUN, "--scheduler", "tcp://127.0.0.1:1"])
    assert result.exit_code == 2 and "only with --executor dask" in result.stderr
