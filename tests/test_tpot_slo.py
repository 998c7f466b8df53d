"""A TPOT objective (`slo.tpot_p99`): counted per replication like the e2e and TTFT ones,
judged in a good day for `size`, and refused where a model has no token timing."""

from __future__ import annotations

import pytest
from engine_helpers import run_once

from sim.errors import CapsimError
from sim.montecarlo.aggregate import aggregate, good_day
from sim.scenario.file import load_scenario

SHORT = ['horizon="20m"', "replications=2"]


def _tpot_p99_s() -> float:
    return run_once(SHORT, base="diurnal-chat", seed=3).latency_s["tpot"]["p99"]


@pytest.mark.parametrize(("factor", "missed"), [(0.5, True), (2.0, False)])
def test_a_replication_misses_a_tpot_slo_by_its_own_p99(factor: float, missed: bool) -> None:
    target_s = factor * _tpot_p99_s()
    sets = [*SHORT, f"slo.tpot_p99={target_s!r}"]
    scenario = load_scenario("diurnal-chat", sets)
    results = [run_once(sets, base="diurnal-chat", seed=3)]
    risk = aggregate(scenario, results)["risk"]
    assert risk["p_tpot_slo_violation"] == (1.0 if missed else 0.0)
    assert risk["slo_tpot_p99_s"] == target_s
    assert good_day(scenario, results[0]) is not missed


def test_a_tpot_slo_needs_token_timing() -> None:
    with pytest.raises(CapsimError, match=r"slo\.tpot_p99: a given per-request latency"):
        load_scenario("mmc", ["slo.tpot_p99=0.05"])
