"""`--engine simpy`: the SimPy oracle from the command line, the same JSON as `exact`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.errors import CapsimError
from sim.montecarlo.engine_choice import choose_engine
from sim.scenario.file import load_scenario


def _json(args: list[str]) -> dict:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("verb", "scenario", "sets"),
    [
        ("run", "redai-1k", ["horizon=3h"]),  # serverless containers from zero
        ("run", "diurnal-api", ["horizon=1h", "traffic.requests_per_day=50000"]),
        ("compare", "mmc", ["horizon=5m"]),
    ],
)
def test_simpy_gives_the_compiled_loops_json(verb: str, scenario: str, sets: list[str]) -> None:
    """The compiled loop and its oracle agree on every figure; only `engine` differs."""
    args = [verb, scenario, "--json", "--seed", "3", "-n", "2"]
    for item in sets:
        args += ["--set", item]
    exact = _json([*args, "--engine", "exact"])
    simpy = _json([*args, "--engine", "simpy"])
    assert (exact.pop("engine"), simpy.pop("engine")) == ("exact", "simpy")
    assert exact == simpy


def test_an_unknown_engine_names_the_choices() -> None:
    with pytest.raises(CapsimError, match="allowed: exact, fast, auto, simpy"):
        choose_engine(load_scenario("mmc"), "simpy2")
