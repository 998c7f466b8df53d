"""`capsim size`'s search: bracket and bisection find what a brute force over every N finds."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.errors import CapsimError
from sim.montecarlo.aggregate import good_day, wilson_interval
from sim.montecarlo.executors import LocalExecutor
from sim.montecarlo.replications import run_replication
from sim.montecarlo.sizing import (
    ACCEPTED,
    REJECTED,
    UNDECIDED,
    Candidate,
    SettingRunner,
    analytic_replicas,
    candidate_scenario,
    decide,
    replications_to_accept,
    size_candidate,
    tensor_parallel_degree,
)
from sim.scenario.file import load_scenario

CONFIDENCE = 0.8  # 16 good days of 16 clear it, so a test needs few replications
CAP = 40
T4 = Candidate("T4", 1)

# An M/M/c queue at 3.2 req/s of 1 s mean service; p99 e2e within 6 s.
MMC = ["horizon=20m", "slo.latency_p99=6s"]

BURSTY = """
name = "bursty"
horizon = "30m"
seed = 3
[traffic]
rate_per_s = 3.0
profile = "constant"
arrival = "poisson"
bursts = [{ start = "00:10", duration = "10m", multiplier = 3.0 }]
[service]
model = "latency"
latency = { dist = "exponential", mean = 1.0 }
[fleet]
gpu = "T4"
router = "least-loaded"
[admission]
timeout = "3s"
[slo]
latency_p99 = "5s"
"""


def brute_force(base, candidate: Candidate, counts: range) -> dict[int, str]:
    """Every count's decision, each from a runner of its own (nothing shared with a search)."""
    return {
        n: SettingRunner(base, LocalExecutor(1), CONFIDENCE, CAP).evaluate(candidate, n).status
        for n in counts
    }


def smallest(statuses: dict[int, str]) -> int:
    return min(n for n, status in statuses.items() if status == ACCEPTED)


def test_the_decision_follows_the_wilson_interval() -> None:
    assert decide(16, 16, 0.8) == ACCEPTED  # lower end 0.806
    assert decide(15, 15, 0.8) == UNDECIDED  # lower end 0.796
    assert decide(0, 2, 0.8) == REJECTED
    assert replications_to_accept(0.8) == 16
    assert replications_to_accept(0.95) == 73
    assert wilson_interval(73, 73)[0] >= 0.95 > wilson_interval(72, 72)[0]


def test_a_replication_cap_that_cannot_show_the_confidence_is_refused() -> None:
    base = load_scenario("mmc", MMC)
    with pytest.raises(CapsimError, match="raise -n to at least 73"):
        SettingRunner(base, LocalExecutor(1), 0.95, 40)


def test_the_search_finds_the_brute_force_count_and_one_fewer_fails() -> None:
    base = load_scenario("mmc", MMC)
    statuses = brute_force(base, T4, range(1, 9))
    expected = smallest(statuses)
    assert all(statuses[n] == ACCEPTED for n in range(expected, 9))  # monotone on the same seeds
    sized = size_candidate(SettingRunner(base, LocalExecutor(1), CONFIDENCE, CAP), T4)
    assert sized.chosen is not None
    assert sized.chosen.replicas == expected
    assert sized.next_cheaper is not None
    assert sized.next_cheaper.replicas == expected - 1
    assert sized.next_cheaper.status != ACCEPTED
    # The chosen count's good days are the days `good_day` calls good, on the same seeds.
    chosen_scenario = candidate_scenario(base, T4, expected)
    days = [run_replication(chosen_scenario, r) for r in range(sized.chosen.replications)]
    assert sum(good_day(chosen_scenario, day) for day in days) == sized.chosen.good_days


@pytest.mark.parametrize("estimate", [1, 30])
def test_a_wrong_bracket_still_finds_the_count(estimate: int) -> None:
    base = load_scenario("mmc", MMC)
    expected = smallest(brute_force(base, T4, range(1, 9)))
    runner = SettingRunner(base, LocalExecutor(1), CONFIDENCE, CAP)
    sized = size_candidate(runner, T4, estimate=estimate)
    assert sized.chosen is not None and sized.chosen.replicas == expected


def test_a_bursty_timeout_heavy_case_beats_the_botec_and_matches_the_brute_force(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bursty.toml"
    path.write_text(BURSTY, encoding="utf-8")
    base = load_scenario(str(path), [])
    estimate = analytic_replicas(candidate_scenario(base, T4, 1))
    statuses = brute_force(base, T4, range(1, 16))
    expected = smallest(statuses)
    assert expected > estimate + 2  # the BOTEC (mean rate, no burst, 100% busy) is far too low
    sized = size_candidate(SettingRunner(base, LocalExecutor(1), CONFIDENCE, CAP), T4)
    assert sized.estimate_replicas == estimate
    assert sized.chosen is not None and sized.chosen.replicas == expected
    assert sized.next_cheaper is not None and sized.next_cheaper.status != ACCEPTED


def test_two_local_workers_give_the_same_answer() -> None:
    base = load_scenario("mmc", MMC)
    one = size_candidate(SettingRunner(base, LocalExecutor(1), CONFIDENCE, CAP), T4)
    pool = LocalExecutor(2)
    try:
        two = size_candidate(SettingRunner(base, pool, CONFIDENCE, CAP), T4)
    finally:
        pool.close()
    assert [(e.replicas, e.good_days, e.replications) for e in one.evaluations] == [
        (e.replicas, e.good_days, e.replications) for e in two.evaluations
    ]


def test_the_tensor_parallel_degree_is_the_fewest_gpus_that_hold_the_model() -> None:
    base = load_scenario(
        "diurnal-chat", ["model.parameters=70e9", "fleet.gpus_per_replica=2"]
    )  # 140 GB of weights
    assert tensor_parallel_degree(base, "A100-80GB") == 2
    assert tensor_parallel_degree(base, "H100-SXM") == 2
    with pytest.raises(CapsimError, match="do not fit in 8 x T4"):
        tensor_parallel_degree(base, "T4")  # 8 x 16 GB is less than 140 GB
    eight_b = load_scenario("diurnal-chat", [])  # 16.06 GB of weights
    assert tensor_parallel_degree(eight_b, "A10G") == 1  # 24 GB
    assert tensor_parallel_degree(eight_b, "T4") == 2  # 16 GB holds not even the weights


def test_a_budget_below_the_slo_count_is_reported_not_searched_past() -> None:
    unbounded = load_scenario("mmc", MMC)
    tight = load_scenario("mmc", [*MMC, "budget.monthly_usd=1500"])  # 5 T4s cost ~$1,900
    loose = load_scenario("mmc", [*MMC, "budget.monthly_usd=1e6"])
    sizes = [
        size_candidate(SettingRunner(base, LocalExecutor(1), CONFIDENCE, CAP), T4)
        for base in (unbounded, tight, loose)
    ]
    assert len({s.chosen.replicas for s in sizes}) == 1  # the SLO alone decides the count
    assert [s.over_budget for s in sizes] == [False, True, False]
    assert sizes[1].chosen.within_budget_days == 0
    assert "within the budget" in sizes[1].note


def test_an_slo_the_service_time_alone_misses_stops_the_search() -> None:
    # Exponential 1 s service: its own p99 is 4.6 s, so no fleet meets a 3 s p99.
    base = load_scenario("mmc", ["horizon=20m", "slo.latency_p99=3s"])
    sized = size_candidate(SettingRunner(base, LocalExecutor(1), CONFIDENCE, CAP), T4)
    assert sized.chosen is None
    assert "out of reach" in sized.note
    assert all(e.status == REJECTED for e in sized.evaluations)
    assert max(e.replicas for e in sized.evaluations) <= 4 * sized.estimate_replicas


def test_a_gpu_too_slow_for_the_slo_alone_is_out_of_reach_before_any_run() -> None:
    from sim.montecarlo.sizing import alone_p99_s, unreachable_slo

    base = load_scenario("diurnal-chat", ['horizon="20m"', 'traffic.peak_time="00:10"'])
    l4 = candidate_scenario(base, Candidate("L4", 1), 150)
    assert "out of reach" in unreachable_slo(l4)
    day = run_replication(l4, 0)  # 150 L4s for about 16 requests/s: queueing is not the cause
    assert day.latency_s["e2e"]["p99"] >= 0.95 * alone_p99_s(l4)[1] > 30.0
    assert unreachable_slo(candidate_scenario(base, Candidate("A100-80GB", 1), 1)) == ""


def test_target_tracking_minimum_matches_a_brute_force_and_the_cheapest_target_wins() -> None:
    from sim.montecarlo.sizing import TARGETS, size_targets

    sets = ['horizon="1h"', 'traffic.peak_time="00:30"', "budget.monthly_usd=1e7"]
    base = load_scenario("diurnal-api", sets)
    tracking = Candidate("T4", 1, policy="target-tracking", target=0.7)
    statuses = brute_force(base, tracking, range(1, 8))
    expected = smallest(statuses)
    sized = size_candidate(SettingRunner(base, LocalExecutor(1), CONFIDENCE, CAP), tracking)
    assert sized.chosen is not None and sized.chosen.replicas == expected
    assert sized.chosen.scenario.autoscaling.min_replicas == expected
    assert sized.chosen.scenario.autoscaling.target == 0.7
    best = size_targets(SettingRunner(base, LocalExecutor(1), CONFIDENCE, CAP), tracking)
    assert [s.candidate.target for s in best.alternatives] == list(TARGETS)
    costs = [
        s.chosen.summary()["cost_monthly_usd"]["p50"]
        for s in best.alternatives
        if s.chosen is not None and not s.over_budget
    ]
    assert best.chosen.summary()["cost_monthly_usd"]["p50"] == min(costs)
    # Minimality across targets: the next, hotter target at the same minimum, evaluated;
    # here the hottest target wins, so there is none above it.
    assert best.candidate.target == TARGETS[-1] and best.next_target is None


def test_the_next_target_is_the_grids_next_hotter_one() -> None:
    from sim.montecarlo.sizing import TARGETS, hotter_target

    assert [hotter_target(t) for t in TARGETS] == [*TARGETS[1:], None]
    assert hotter_target(None) is None and hotter_target(0.65) == 0.7


def test_a_spot_candidate_is_sized_on_spot_and_matches_its_brute_force() -> None:
    """Spot replicas are reclaimed and replaced, so spot can need more than on-demand."""
    base = load_scenario("mmc", [*MMC, "spot.interruptions_per_hour=6", 'spot.notice="30s"'])
    spot = Candidate("T4", 1, market="spot")
    expected = smallest(brute_force(base, spot, range(1, 10)))
    sized = size_candidate(SettingRunner(base, LocalExecutor(1), CONFIDENCE, CAP), spot)
    assert sized.chosen is not None and sized.chosen.replicas == expected
    assert sized.chosen.scenario.fleet.market == "spot"
    assert sum(r.events["interruptions"] for r in sized.chosen.results) > 0
    on_demand = size_candidate(SettingRunner(base, LocalExecutor(1), CONFIDENCE, CAP), T4)
    assert expected >= on_demand.chosen.replicas
