"""`capsim run --out`: files get the umask's mode, and a rerun replaces the earlier run's files."""

from __future__ import annotations

import json
import os
import stat

import pytest
from typer.testing import CliRunner

from sim.cli import app

SHORT = ["--set", 'horizon="1h"']


@pytest.fixture
def umask_027():
    previous = os.umask(0o027)
    yield 0o027
    os.umask(previous)


def run_into(out, replications: int) -> None:
    args = ["run", "diurnal-api", *SHORT, "-n", str(replications), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output


def test_out_files_honour_the_umask(tmp_path, umask_027) -> None:
    out = tmp_path / "results"
    run_into(out, 1)
    files = sorted(p for p in out.iterdir())
    assert len(files) >= 6
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path.name


def test_a_rerun_removes_the_earlier_runs_files_but_not_the_users(tmp_path) -> None:
    out = tmp_path / "results"
    run_into(out, 3)
    assert (out / "fleet_replication_002.png").is_file()
    (out / "notes.txt").write_text("mine")
    (out / "fleet_replication_099.png").write_bytes(b"not capsim's")
    run_into(out, 1)
    names = {p.name for p in out.iterdir()}
    assert "fleet_replication_000.png" in names
    assert "fleet_replication_001.png" not in names
    assert "fleet_replication_002.png" not in names
    assert {"notes.txt", "fleet_replication_099.png"} <= names
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) == names - {
        "notes.txt",
        "fleet_replication_099.png",
        "manifest.json",
    }
    summary = json.loads((out / "summary.json").read_text())
    assert summary["replications"] == 1
