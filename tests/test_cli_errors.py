"""The `capsim` command line on bad input: exit 2, one clear line on stderr, nothing on stdout.

Most checks run in-process through typer's CliRunner (which keeps stderr apart from
stdout); a handful run `python -m sim.cli` in a subprocess to prove, end to end, that a
user never sees a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from classic_queue import CLASSIC_SHORT as CLASSIC
from typer.testing import CliRunner

from scenarios import bundled_scenario_names
from sim.cli import app

ROOT = Path(__file__).resolve().parents[1]

# Each bad file, and what its one-line error must say besides the file name.
BAD_FILES = {
    "unknown-key": (
        CLASSIC.replace("replicas = 4", "replicaz = 4"),
        ["unknown key 'fleet.replicaz'", "Did you mean 'replicas'?"],
    ),
    "wrong-type": (
        CLASSIC.replace("rate_per_s = 3.2", 'rate_per_s = "fast"'),
        ["traffic.rate_per_s", "must be a number", '"fast"'],
    ),
    "negative-rate": (
        CLASSIC.replace("rate_per_s = 3.2", "rate_per_s = -3"),
        ["traffic.rate_per_s", "greater than 0", "-3"],
    ),
    "zero-rate": (
        CLASSIC.replace("rate_per_s = 3.2", "rate_per_s = 0"),
        ["traffic.rate_per_s", "greater than 0", "got 0"],
    ),
    "peak-to-mean": (
        CLASSIC.replace('profile = "constant"', 'profile = "diurnal"\npeak_to_mean = 0.5'),
        ["traffic.peak_to_mean", "at least 1", "0.5"],
    ),
    "unknown-gpu": (
        CLASSIC.replace("[fleet]\n", '[fleet]\ngpu = "A100-80"\n'),
        ["fleet.gpu", "'A100-80'", "Did you mean 'A100-80GB'?"],
    ),
    "unknown-provider": (
        CLASSIC.replace("[fleet]\n", '[fleet]\nprovider = "awz"\n'),
        ["fleet.provider", "'awz'", "Did you mean 'aws'?"],
    ),
    "unknown-market": (
        CLASSIC.replace("[fleet]\n", '[fleet]\nmarket = "spot-ish"\n'),
        ["fleet.market", '"spot-ish"', '"on-demand", "spot", "reserved", "serverless"'],
    ),
    "malformed-toml": (
        CLASSIC.replace("rate_per_s = 3.2", "rate_per_s = = 3.2"),  # line 5
        ["not valid TOML", "line 5"],
    ),
}


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "250"})


def assert_clean_error(result, *fragments: str) -> str:
    """Exit 2, nothing on stdout, one line on stderr carrying every fragment."""
    stderr = result.stderr
    assert result.exit_code == 2, (result.exit_code, result.stdout, stderr)
    assert isinstance(result.exception, SystemExit | None), result.exception
    assert result.stdout == ""
    assert "Traceback" not in stderr
    assert "Input should" not in stderr
    assert stderr.startswith("capsim: ")
    assert len(stderr.strip().splitlines()) == 1, stderr
    for fragment in fragments:
        assert fragment in stderr, f"{fragment!r} not in {stderr!r}"
    return stderr


# ---------------------------------------------------------------- bad files, in-process


@pytest.mark.parametrize("kind", list(BAD_FILES))
@pytest.mark.parametrize(
    "verb", [("validate",), ("botec",), ("run", "-n", "1"), ("traffic",)], ids=" ".join
)
def test_bad_file_is_one_clean_error_on_every_verb(runner, tmp_path, kind, verb):
    text, fragments = BAD_FILES[kind]
    path = tmp_path / f"{kind}.toml"
    path.write_text(text, encoding="utf-8")
    result = invoke(runner, verb[0], str(path), *verb[1:])
    assert_clean_error(result, str(path), *fragments)


@pytest.mark.parametrize("verb", ["validate", "botec", "run"])
def test_missing_file(runner, tmp_path, verb):
    path = tmp_path / "absent.toml"
    result = invoke(runner, verb, str(path))
    assert_clean_error(result, str(path), "no such file")


def test_unknown_bundled_name_suggests_a_close_match(runner):
    result = invoke(runner, "validate", "smartpall")
    assert_clean_error(result, "smartpall", "Did you mean 'smartpal'?")


# ---------------------------------------------------------------- --set


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("fleet.market=spot-ish", ["fleet.market", '"spot-ish"', '"on-demand"']),
        ("traffic.rate_per_s=-1", ["traffic.rate_per_s", "greater than 0", "-1"]),
        ("traffic.peak_to_mean=0.5", ["traffic.peak_to_mean", "at least 1", "0.5"]),
        ("fleet.gpu=T5", ["fleet.gpu", "'T5'", "T4"]),
        ("fleet.routr=random", ["unknown key 'fleet.routr'", "Did you mean 'router'?"]),
        ("fleet.replicas", ["--set 'fleet.replicas'", "key.path=value"]),
    ],
)
@pytest.mark.parametrize("verb", [("validate",), ("run", "-n", "1")], ids=" ".join)
def test_bad_set_gives_the_same_clean_error(runner, tmp_path, override, fragments, verb):
    path = tmp_path / "base.toml"
    path.write_text(CLASSIC, encoding="utf-8")
    result = invoke(runner, verb[0], str(path), *verb[1:], "--set", override)
    assert_clean_error(result, *fragments)


def test_set_overrides_are_applied(runner, tmp_path):
    path = tmp_path / "base.toml"
    path.write_text(CLASSIC, encoding="utf-8")
    result = invoke(
        runner,
        "validate",
        str(path),
        "--set",
        "name=tuned",
        "--set",
        'service.latency={ dist = "fixed", value = 0.5 }',
    )
    assert result.exit_code == 0, result.stderr
    assert "valid scenario 'tuned'" in result.stdout


# ---------------------------------------------------------------- good input


def test_classic_queue_file_validates(runner, tmp_path):
    path = tmp_path / "mmc.toml"
    path.write_text(CLASSIC, encoding="utf-8")
    result = invoke(runner, "validate", str(path))
    assert result.exit_code == 0, result.stderr
    assert "valid scenario" in result.stdout


@pytest.mark.parametrize("name", bundled_scenario_names())
def test_every_bundled_scenario_validates(runner, name):
    result = invoke(runner, "validate", name)
    assert result.exit_code == 0, result.stderr
    assert f"{name}: valid scenario" in result.stdout


def test_scenarios_lists_every_bundled_scenario_with_a_description(runner):
    result = invoke(runner, "scenarios")
    assert result.exit_code == 0, result.stderr
    for name in bundled_scenario_names():
        assert name in result.stdout
    listed = json.loads(invoke(runner, "scenarios", "--json").stdout)
    assert sorted(listed) == bundled_scenario_names()
    for name, description in listed.items():
        assert description and "\n" not in description, name


# ---------------------------------------------------------------- rich markup in messages


def test_square_brackets_in_messages_survive(runner, tmp_path):
    path = tmp_path / "base.toml"
    path.write_text(CLASSIC, encoding="utf-8")
    result = invoke(runner, "validate", str(path), "--set", "autoscaling.policy=scheduled")
    assert_clean_error(result, "schedule = [[time, replicas], ...]")


# ---------------------------------------------------------------- end to end, no traceback


def run_capsim(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "250"},
    )


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("validate", "unknown-market.toml"), ["unknown-market.toml", "fleet.market"]),
        (("validate", "malformed-toml.toml"), ["malformed-toml.toml", "line 5"]),
        (("validate", "absent.toml"), ["absent.toml", "no such file"]),
        (("run", "zero-rate.toml", "-n", "1"), ["zero-rate.toml", "traffic.rate_per_s"]),
        (("botec", "base.toml", "--set", "fleet.replicas"), ["--set", "key.path=value"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_subprocess_errors_are_one_line_without_traceback(tmp_path, args, fragments):
    (tmp_path / "base.toml").write_text(CLASSIC, encoding="utf-8")
    for kind in ("unknown-market", "malformed-toml", "zero-rate"):
        (tmp_path / f"{kind}.toml").write_text(BAD_FILES[kind][0], encoding="utf-8")
    proc = run_capsim(*args, cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr


def test_subprocess_run_of_the_classic_queue_succeeds(tmp_path):
    (tmp_path / "mmc.toml").write_text(CLASSIC, encoding="utf-8")
    proc = run_capsim("run", "mmc.toml", "-n", "1", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["replications"] == 1
