"""Shared checks for the CLI error tests: one clean line on stderr, exit 2, no stdout."""

from __future__ import annotations

from typer.testing import CliRunner

from sim.cli import app

VERBS = [("validate",), ("botec",), ("run", "-n", "1"), ("traffic",)]


def invoke(runner: CliRunner, *args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "250"})


def assert_clean_error(result, *fragments: str) -> str:
    """Exit 2, nothing on stdout, one line on stderr carrying every fragment."""
    stderr = result.stderr
    assert result.exit_code == 2, (result.exit_code, result.stdout, stderr, result.exception)
    assert isinstance(result.exception, SystemExit | None), result.exception
    assert result.stdout == ""
    assert "Traceback" not in stderr
    assert stderr.startswith("capsim: "), stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    for fragment in fragments:
        assert fragment in stderr, f"{fragment!r} not in {stderr!r}"
    return stderr
