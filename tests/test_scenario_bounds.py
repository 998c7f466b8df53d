"""Every number a scenario accepts is finite and in a range the model runs; free text is
short; a zero mean latency is refused. Checked through the CLI: exit 2, one line."""

from __future__ import annotations

import math
import typing

import pytest
from classic_queue import CLASSIC_SHORT
from cli_error_helpers import assert_clean_error, invoke
from pydantic import BaseModel
from typer.testing import CliRunner

from sim.scenario.schema import Range, Scenario

VERBS = [("validate",), ("botec",), ("run", "-n", "1")]

# An override that used to pass validation and crash a run, and what the error must say.
NON_FINITE = {
    "rate-inf": (
        "traffic.rate_per_s=inf",
        "traffic.rate_per_s: must be greater than 0 and at most 1e+06 (got inf)",
    ),
    "rate-nan": ("traffic.rate_per_s=nan", "traffic.rate_per_s: must be greater than 0"),
    "horizon-overflow": (
        "horizon=1e309",
        "horizon: must be greater than 0 and at most 3.1536e+08 s",
    ),
    "horizon-overflow-text": ('horizon="1e309s"', "horizon: must be greater than 0"),
    "latency-mean-inf": (
        'service.latency={ dist = "exponential", mean = inf }',
        "service.latency.mean: must be greater than 0 and at most 1e+07 (got inf)",
    ),
    "token-mean-inf": (
        'requests.output_tokens={ dist = "lognormal", mean = inf, cv = 1 }',
        "requests.output_tokens.mean: must be greater than 0 and at most 1e+07",
    ),
    "lognormal-cv-huge": (
        'service.latency={ dist = "lognormal", mean = 1, cv = 1e300 }',
        "service.latency.cv: must be at least 0.001 and at most 100 (got 1e+300)",
    ),
    "gamma-cv-huge": (
        'service.latency={ dist = "gamma", mean = 1, cv = 1e300 }',
        "service.latency.cv: must be at least 0.001 and at most 100",
    ),
    "gamma-cv-tiny": (
        'service.latency={ dist = "gamma", mean = 1, cv = 1e-300 }',
        "service.latency.cv: must be at least 0.001 and at most 100 (got 1e-300)",
    ),
    "sync-period-tiny": (
        "autoscaling.sync_period=1e-300",
        "autoscaling.sync_period: must be at least 1 and at most 3.1536e+08 s (got 1e-300)",
    ),
    "growth-overflow": (
        "traffic.growth_per_day=1",
        "traffic.growth_per_day = 1 over a 3650-day horizon",
    ),
}


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def scenario(tmp_path):
    path = tmp_path / "scenario.toml"
    path.write_text(CLASSIC_SHORT, encoding="utf-8")
    return path


@pytest.mark.parametrize("case", list(NON_FINITE))
@pytest.mark.parametrize("verb", VERBS, ids=" ".join)
def test_non_finite_and_overflowing_values_are_refused(runner, scenario, case, verb):
    override, fragment = NON_FINITE[case]
    args = ["--set", override]
    if case == "growth-overflow":
        args += ["--set", 'horizon="3650d"', "--set", "traffic.rate_per_s=1e-6"]
    result = invoke(runner, verb[0], str(scenario), *verb[1:], *args)
    assert_clean_error(result, str(scenario), fragment)


def _leaves(annotation: object, metadata: tuple = ()) -> list[tuple[object, tuple]]:
    """The innermost types of an annotation (through Annotated, Optional, unions, lists and
    tuples), each with the metadata of the Annotated that wraps it."""
    if typing.get_origin(annotation) is typing.Annotated:
        base, *more = typing.get_args(annotation)
        return _leaves(base, tuple(more))
    args = typing.get_args(annotation)
    if not args:
        return [(annotation, metadata)]
    return [leaf for arg in args for leaf in _leaves(arg)]


def _schema_numbers(model: type[BaseModel], path: str = "") -> list[tuple[str, tuple]]:
    """Every int or float the schema accepts, by key path, with its metadata."""
    found = []
    for name, field in model.model_fields.items():
        key = f"{path}.{name}" if path else name
        for leaf, metadata in _leaves(field.annotation, tuple(field.metadata)):
            if leaf in (int, float):
                found.append((key, metadata))
            elif isinstance(leaf, type) and issubclass(leaf, BaseModel):
                found += _schema_numbers(leaf, key)
    return found


def test_every_number_in_the_schema_has_finite_bounds():
    numbers = _schema_numbers(Scenario)
    assert len(numbers) > 80  # the walk reaches every section and distribution
    unbounded = []
    for key, metadata in numbers:
        ranges = [getattr(m, "func", None) for m in metadata]
        ranges = [r for r in ranges if isinstance(r, Range)]
        if not ranges or not all(math.isfinite(r.low) and math.isfinite(r.high) for r in ranges):
            unbounded.append(key)
    assert unbounded == []


def test_every_string_in_the_schema_has_a_length_limit():
    strings = [key for key, _ in _schema_strings(Scenario)]
    unlimited = [key for key, metadata in _schema_strings(Scenario) if not _max_length(metadata)]
    assert len(strings) >= 10
    assert unlimited == []


def _schema_strings(model: type[BaseModel], path: str = "") -> list[tuple[str, tuple]]:
    found = []
    for name, field in model.model_fields.items():
        key = f"{path}.{name}" if path else name
        for leaf, metadata in _leaves(field.annotation, tuple(field.metadata)):
            if leaf is str:
                found.append((key, metadata))
            elif isinstance(leaf, type) and issubclass(leaf, BaseModel):
                found += _schema_strings(leaf, key)
    return found


def _max_length(metadata: tuple) -> int | None:
    return next((m.max_length for m in metadata if getattr(m, "max_length", None)), None)


# ---------------------------------------------------------------- zero service time


@pytest.mark.parametrize(
    "latency",
    [
        '{ dist = "fixed", value = 0 }',
        '{ dist = "uniform", low = 0, high = 0 }',
        '{ dist = "empirical", values = [0, 0] }',
    ],
)
@pytest.mark.parametrize("verb", VERBS, ids=" ".join)
def test_a_zero_mean_latency_is_refused(runner, scenario, latency, verb):
    result = invoke(
        runner, verb[0], str(scenario), *verb[1:], "--set", f"service.latency={latency}"
    )
    message = "service.latency: the mean latency must be at least 1e-06 s (got 0)"
    assert_clean_error(result, str(scenario), message)


def test_a_latency_that_is_sometimes_zero_runs(runner, scenario):
    override = 'service.latency={ dist = "empirical", values = [0, 1] }'
    result = invoke(runner, "run", str(scenario), "-n", "1", "--json", "--set", override)
    assert result.exit_code == 0, result.stderr


# ---------------------------------------------------------------- free text


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("name={}", "name: is too long: at most 100 characters (got 200,000)"),
        ("description={}", "description: is too long: at most 1000 characters (got 200,000)"),
        ("model.name={}", "model.name: is too long: at most 100 characters"),
        ("fleet.gpu={}", "fleet.gpu: is too long: at most 100 characters"),
        ("requests.classes=[{{ name = {}, share = 1 }}]", "requests.classes.0.name: is too long"),
    ],
)
@pytest.mark.parametrize("verb", [("validate",), ("run", "-n", "1")], ids=" ".join)
def test_long_free_text_is_refused(runner, scenario, override, fragment, verb):
    long_text = '"' + "x" * 200_000 + '"'
    result = invoke(runner, verb[0], str(scenario), *verb[1:], "--set", override.format(long_text))
    message = assert_clean_error(result, str(scenario), fragment)
    assert len(message) < 300  # the text itself is not echoed
