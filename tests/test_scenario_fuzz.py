"""Mutated bundled scenarios: validation fails cleanly or the short run adds up.

Property (issue 10): for any mutant of a bundled scenario (keys dropped, extreme and
non-finite numbers, wrong types, unknown keys, flipped enums; see
tests/scenario_mutants.py), validation raises nothing but a CapsimError whose every
line names the file, and a mutant that validates finishes a short run (3 min, one
replication) within the time limit, with arrived = completed + dropped + timed_out +
lost + in_flight and every figure finite and non-negative. Each check runs in a
guarded worker process, so a hang fails the test instead of stalling the suite.

A fixed, derandomized budget keeps it repeatable and fast; benchmarks/fuzz_scenarios.py
runs the same strategy on 10,000+ mutants.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from scenario_mutants import (
    WARM_UP,
    GuardedChecker,
    Mutant,
    Mutation,
    Outcome,
    check_figures,
    check_message,
    mutants,
)

pytestmark = pytest.mark.fuzz

# A short run of at most 5,000 requests takes well under 2 s; over this it is a hang.
SUITE_RUN_TIMEOUT_S = 15.0

FUZZ_SETTINGS = settings(
    derandomize=True,
    max_examples=300,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a mutant is already small
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def checker():
    guarded = GuardedChecker(run_timeout_s=SUITE_RUN_TIMEOUT_S)
    yield guarded
    guarded.close()


def test_mutants_fail_cleanly_or_run_balanced(checker: GuardedChecker) -> None:
    """The whole budget runs (no stop at the first failure); every failure is listed."""
    found: list[str] = []

    @FUZZ_SETTINGS
    @given(mutant=mutants())
    def check(mutant: Mutant) -> None:
        outcome = checker.check(mutant)
        found.extend(f"{mutant.describe()}\n    {k}: {d}" for k, d in outcome.problems)

    check()
    assert not found, f"{len(found)} failures:\n" + "\n".join(found)


# ---------------------------------------------------------------- the checks themselves


def test_the_checker_runs_an_unmutated_scenario_balanced(checker: GuardedChecker) -> None:
    outcome = checker.check(WARM_UP)
    assert outcome.stage == "run" and outcome.ran, outcome
    assert outcome.problems == []


def test_the_checker_reports_a_clean_error_as_invalid(checker: GuardedChecker) -> None:
    data = {**WARM_UP.data, "fleet": {**WARM_UP.data["fleet"], "replicaz": 4}}
    outcome = checker.check(
        Mutant("mmc", (Mutation("unknown-key", ("fleet", "replicaz"), 4),), data)
    )
    assert outcome.stage == "invalid" and outcome.problems == [], outcome
    assert "unknown key 'fleet.replicaz'" in outcome.message


def test_a_run_over_the_time_limit_is_a_hang_and_the_worker_restarts(
    checker: GuardedChecker,
) -> None:
    restarts = checker.restarts
    checker.run_timeout_s = 0.0  # no answer can come back within no time
    try:
        outcome = checker.check(WARM_UP)
    finally:
        checker.run_timeout_s = SUITE_RUN_TIMEOUT_S
    assert outcome.stage == "hang-run", outcome
    assert [kind for kind, _ in outcome.problems] == ["hang"]
    assert checker.check(WARM_UP).ran
    assert checker.restarts == restarts + 1


def test_a_message_line_without_the_file_is_a_problem() -> None:
    outcome = Outcome("invalid")
    check_message("a.toml: fleet.gpu: unknown GPU\nsomething else", "a.toml", outcome)
    assert [kind for kind, _ in outcome.problems] == ["validate-bad-message"]
    assert [kind for kind, _ in outcome.advice] == ["error-multiline"]


def _summary(**requests: int) -> dict:
    counts = {"arrived": 10, "completed": 10, "dropped": 0, "timed_out": 0, "lost": 0}
    return {
        "requests": {**counts, "in_flight": 0, **requests},
        "latency_s": {"e2e": {"p99": 1.0}, "tpot": {"p99": math.nan}},
        "cost_usd": {"horizon": {"mean": 1.0}, "per_request": {"mean": 0.1}},
        "classes": {},
        "risk": {"share_completed": 1.0},
        "botec": {"savings_usd": -5.0},
    }


def test_balanced_finite_figures_pass_and_a_negative_botec_is_allowed() -> None:
    outcome = Outcome("run")
    check_figures(_summary(), outcome)
    assert outcome.problems == []


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ({"requests": {"completed": 9}}, "unbalanced"),
        ({"cost_usd": {"horizon": {"mean": math.inf}}}, "non-finite"),
        ({"cost_usd": {"per_request": {"mean": math.nan}}}, "non-finite"),
        ({"latency_s": {"e2e": {"p99": math.nan}}}, "non-finite"),
        ({"risk": {"share_completed": -0.5}}, "negative"),
    ],
)
def test_each_broken_figure_is_a_problem(change: dict, kind: str) -> None:
    summary = _summary()
    for section, value in change.items():
        if section == "requests":
            summary["requests"].update(value)
        else:
            summary[section] = {**summary[section], **value}
    outcome = Outcome("run")
    check_figures(summary, outcome)
    assert [k for k, _ in outcome.problems] == [kind]


def test_nan_latency_is_no_data_when_nothing_completed() -> None:
    summary = _summary(completed=0, dropped=10)
    summary["latency_s"]["e2e"]["p99"] = math.nan
    summary["cost_usd"]["per_request"]["mean"] = math.nan
    outcome = Outcome("run")
    check_figures(summary, outcome)
    assert outcome.problems == []
