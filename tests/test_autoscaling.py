"""Autoscaling: the pure decision rules, then policies running in the engine.

The simulated checks use diurnal-api (2 req/s mean, 2x peak at 14:00, a x1.5
burst from 09:00, ~1 s per request on a T4) with fixed seeds. Where two runs
are compared they share the seed, so they see the same arrivals.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from engine_helpers import run_once

from sim.fleet.autoscaler import (
    Observation,
    Stabilizer,
    hpa_desired,
    limit_step,
    next_schedule_change_s,
    predictive_desired,
    queue_depth_desired,
    scheduled_desired,
    target_tracking_desired,
)
from sim.scenario.schema import Autoscaling

HOUR = 3600.0
BINS_PER_HOUR = 12  # fleet_series has five-minute bins


# ------------------------------------------------------------------ HPA rule


@pytest.mark.parametrize(
    ("current", "metric", "target", "tolerance", "desired"),
    [
        (4, 0.9, 0.6, 0.1, 6),  # ceil(4 x 1.5)
        (4, 0.61, 0.6, 0.1, 4),  # inside the tolerance band: unchanged
        (4, 0.65, 0.6, 0.1, 4),  # ratio 1.083: still inside
        (4, 0.67, 0.6, 0.1, 5),  # ratio 1.117: ceil(4.47)
        (10, 0.3, 0.6, 0.1, 5),  # half the target: half the replicas
        (10, 0.31, 0.6, 0.1, 6),  # ceil(5.17)
        (3, 0.0, 0.7, 0.1, 0),  # no load at all
        (0, 0.5, 0.7, 0.1, 1),  # from zero: one replica as soon as there is load
        (0, 0.0, 0.7, 0.1, 0),
        (5, 1.4, 0.7, 0.0, 10),  # exact multiple: no spurious extra replica from rounding
    ],
)
def test_hpa_desired(current, metric, target, tolerance, desired) -> None:
    assert hpa_desired(current, metric, target, tolerance) == desired


def observation(replicas, in_flight=0.0, busy_slots=0.0, slots=1) -> Observation:
    return Observation(
        time_s=0.0,
        replicas=replicas,
        in_flight=in_flight,
        busy_slots=busy_slots,
        slots_per_replica=slots,
    )


def test_target_tracking_on_utilisation_and_on_in_flight() -> None:
    utilisation = Autoscaling(metric="utilization", target=0.6)
    # 4 replicas of 8 slots, 28.8 slots busy: utilisation 0.9 -> ceil(4 x 0.9 / 0.6) = 6
    assert target_tracking_desired(observation(4, busy_slots=28.8, slots=8), utilisation) == 6
    in_flight = Autoscaling(metric="in-flight", target=2.0)
    # 12 in flight over 3 replicas: 4 each, target 2 -> 6
    assert target_tracking_desired(observation(3, in_flight=12.0), in_flight) == 6
    assert target_tracking_desired(observation(3, in_flight=6.1), in_flight) == 3  # in band


# ------------------------------------------------------------------ stabilisation


def test_scale_down_goes_to_the_highest_recommendation_in_the_down_window() -> None:
    stabilizer = Stabilizer(up_window_s=0.0, down_window_s=300.0)
    assert stabilizer.stabilize(0.0, 10, 10) == 10
    assert stabilizer.stabilize(15.0, 10, 4) == 10  # 10 is still in the window
    assert stabilizer.stabilize(30.0, 10, 6) == 10
    assert stabilizer.stabilize(301.0, 10, 5) == 6  # 10 left the window; 6 (t=30) is highest
    assert stabilizer.stabilize(331.0, 6, 5) == 5  # all in the window now say at most 5


def test_scale_up_goes_to_the_lowest_recommendation_in_the_up_window() -> None:
    stabilizer = Stabilizer(up_window_s=60.0, down_window_s=0.0)
    assert stabilizer.stabilize(0.0, 4, 4) == 4
    assert stabilizer.stabilize(15.0, 4, 9) == 4  # the 4 at t=0 holds it
    assert stabilizer.stabilize(30.0, 4, 7) == 4
    assert stabilizer.stabilize(61.0, 4, 8) == 7  # lowest of 9, 7, 8 in (1, 61]
    assert stabilizer.stabilize(91.0, 7, 12) == 8  # lowest of 8 and 12


def test_without_windows_the_stabiliser_follows_each_recommendation() -> None:
    stabilizer = Stabilizer(up_window_s=0.0, down_window_s=0.0)
    for t, rec in enumerate([3, 9, 2, 2, 5]):
        assert stabilizer.stabilize(15.0 * t, 4, rec) == rec


def test_a_short_dip_is_ignored_within_the_down_window() -> None:
    stabilizer = Stabilizer(up_window_s=0.0, down_window_s=300.0)
    decisions = [stabilizer.stabilize(15.0 * k, 8, rec) for k, rec in enumerate([8, 8, 3, 8, 8])]
    assert decisions == [8] * 5


# ------------------------------------------------------------------ limits and other rules


def test_step_limits_then_min_and_max() -> None:
    config = Autoscaling(min_replicas=2, max_replicas=10, max_step_up=3, max_step_down=1)
    assert limit_step(4, 12, config) == 7  # +3 at most
    assert limit_step(9, 12, config) == 10  # and no more than max
    assert limit_step(6, 1, config) == 5  # -1 at most
    assert limit_step(3, 0, config) == 2  # and no fewer than min
    assert limit_step(4, 5, config) == 5
    unlimited = Autoscaling(min_replicas=0, max_replicas=1000)
    assert limit_step(4, 400, unlimited) == 400
    assert limit_step(400, 0, unlimited) == 0


def test_queue_depth_sizes_for_queue_per_replica() -> None:
    config = Autoscaling(policy="queue-depth", queue_per_replica=5.0)
    assert queue_depth_desired(observation(2, in_flight=12.0), config) == 3
    assert queue_depth_desired(observation(2, in_flight=10.0), config) == 2  # exactly 2 x 5
    assert queue_depth_desired(observation(2, in_flight=0.0), config) == 0
    assert queue_depth_desired(observation(2, in_flight=0.01), config) == 1


def test_predictive_sizes_the_forecast_at_target_with_headroom() -> None:
    config = Autoscaling(policy="predictive", target=0.5, headroom=0.2)
    # 10 req/s x 1.2 headroom / (1 req/s per replica x 0.5 target) = 24
    assert predictive_desired(10.0, 1.0, config) == 24
    assert predictive_desired(10.0, 4.0, config) == 6
    assert predictive_desired(0.0, 1.0, config) == 0
    no_headroom = Autoscaling(policy="predictive", target=0.8, headroom=0.0)
    assert predictive_desired(8.0, 1.0, no_headroom) == 10  # exact: not 11


SCHEDULE = [(6 * HOUR, 5), (22 * HOUR, 3), (9 * HOUR, 8)]  # unsorted, no midnight entry


@pytest.mark.parametrize(
    ("time_s", "desired"),
    [
        (0.0, 3),  # before the day's first entry: yesterday's last (22:00) holds
        (3 * HOUR, 3),
        (6 * HOUR, 5),  # an entry takes effect at its own time
        (8.99 * HOUR, 5),
        (9 * HOUR, 8),
        (21.5 * HOUR, 8),
        (23 * HOUR, 3),
        (86400.0 + 7 * HOUR, 5),  # the table repeats daily
        (3 * 86400.0 + 23.5 * HOUR, 3),
    ],
)
def test_scheduled_desired_wraps_around_midnight(time_s, desired) -> None:
    assert scheduled_desired(time_s, SCHEDULE) == desired


@pytest.mark.parametrize(
    ("time_s", "wait_s"),
    [
        (0.0, 6 * HOUR),
        (5 * HOUR, HOUR),
        (6 * HOUR, 3 * HOUR),  # at an entry: the next one
        (10 * HOUR, 12 * HOUR),
        (23 * HOUR, 7 * HOUR),  # past the last: tomorrow's first, across midnight
        (86400.0 + 21 * HOUR, HOUR),
    ],
)
def test_next_schedule_change(time_s, wait_s) -> None:
    assert next_schedule_change_s(time_s, SCHEDULE) == pytest.approx(wait_s)


# ------------------------------------------------------------------ in the engine

SEED = 7


@pytest.fixture(scope="module")
def target_tracking():
    return run_once([], base="diurnal-api", seed=SEED)


@pytest.fixture(scope="module")
def fixed_for_peak():
    return {
        n: run_once(['autoscaling.policy="fixed"', f"fleet.replicas={n}"], "diurnal-api", SEED)
        for n in (8, 10)
    }


def hour_mean(series: list[float], hour: int) -> float:
    return float(np.mean(series[hour * BINS_PER_HOUR : (hour + 1) * BINS_PER_HOUR]))


def test_target_tracking_costs_less_than_a_fleet_sized_for_the_peak(
    target_tracking, fixed_for_peak
) -> None:
    scaled = target_tracking.cost_usd["horizon_total"]
    for n, fixed in fixed_for_peak.items():
        # The same arrivals: the fixed fleet is billed n x 24 h, the scaled one its replica-hours.
        assert fixed.requests["arrived"] == target_tracking.requests["arrived"]
        assert scaled < 0.8 * fixed.cost_usd["horizon_total"], (n, scaled)
    assert target_tracking.latency_s["e2e"]["p99"] < 10.0  # the scenario's SLO
    assert target_tracking.requests["completed"] == target_tracking.requests["arrived"]
    # Billed replica-hours are the time-mean fleet over the day (per-second billing).
    mean_up = target_tracking.replicas["mean"]
    assert target_tracking.billing["billed_replica_hours"] == pytest.approx(24 * mean_up, rel=2e-3)


def test_replicas_follow_the_arrival_rate(target_tracking) -> None:
    series = target_tracking.fleet_series
    up = series["replicas_up"]
    assert hour_mean(up, 14) > 2.5 * hour_mean(up, 3)
    assert hour_mean(up, 3) == pytest.approx(2.0, abs=0.5)  # the floor: min_replicas = 2
    correlation = np.corrcoef(up, series["arrival_rate_per_s"])[0, 1]
    assert correlation > 0.8
    serving = np.asarray(series["replicas_serving"])
    assert np.all(serving <= np.asarray(up) + 1e-9)  # a cold start is up but not serving


def test_scaling_events_are_counted(target_tracking) -> None:
    events = target_tracking.events
    assert events["scale_ups"] > 5
    assert events["scale_downs"] > 5
    assert events["launches"] >= events["scale_ups"]
    assert events["cold_starts"] == events["launches"]  # every launch pays a cold start
    assert target_tracking.replicas["started"] == 8 + events["launches"]  # 8 warm at t = 0
    assert target_tracking.replicas["min"] == 2
    assert target_tracking.replicas["max"] <= 16


def worst_hour_p99(result) -> float:
    return max(v for v in result.latency_series["e2e_p99_s"] if not math.isnan(v))


@pytest.mark.parametrize("replication", [0, 1])
def test_a_slow_cold_start_hurts_the_morning_ramp(replication) -> None:
    def run(cold_start_s: float):
        sets = [
            "autoscaling.target=0.8",
            f'autoscaling.cold_start={{dist="fixed", value={cold_start_s}}}',
        ]
        return run_once(sets, base="diurnal-api", seed=SEED, replication=replication)

    fast, slow = run(30), run(600)
    assert fast.requests["arrived"] == slow.requests["arrived"]
    # Measured: worst hour 3.6-3.9 s with 30 s cold starts, 8-11 s with 600 s.
    assert worst_hour_p99(slow) > 1.5 * worst_hour_p99(fast)
    hours = slow.latency_series["e2e_p99_s"]
    assert int(np.nanargmax(hours)) == 9  # the 09:00 burst is where it shows


def test_scheduled_policy_follows_its_table() -> None:
    result = run_once(['autoscaling.policy="scheduled"'], base="diurnal-api", seed=SEED)
    table = [(0, 2), (6, 5), (9, 8), (20, 5), (22, 3)]  # the scenario's schedule
    changes_s = [hour * HOUR for hour, _ in table]
    up = result.fleet_series["replicas_up"]
    serving = result.fleet_series["replicas_serving"]
    starts = result.fleet_series["time_s"]
    checked = 0
    for start, mean_up in zip(starts, up, strict=True):
        end = start + 300.0
        if any(start <= t <= end for t in changes_s):
            continue  # a change (and its drains) falls in this bin
        expected = scheduled_desired(start, [(h * HOUR, n) for h, n in table])
        assert mean_up == pytest.approx(expected, abs=1e-9), start / HOUR
        checked += 1
    assert checked > 270
    # Scale-ups pay a cold start (lognormal, mean 60 s): up at once, serving a minute later.
    at_six = 6 * BINS_PER_HOUR
    assert serving[at_six] < up[at_six]
    assert result.events["scale_downs"] == 3  # 00:00 (8 -> 2), 20:00, 22:00
    assert result.events["scale_ups"] == 2  # 06:00, 09:00
    assert result.events["launches"] == 3 + 3


def test_predictive_policy_provisions_for_the_day() -> None:
    result = run_once(['autoscaling.policy="predictive"'], base="diurnal-api", seed=SEED)
    up = result.fleet_series["replicas_up"]
    assert hour_mean(up, 14) > 2.5 * hour_mean(up, 3)
    assert result.latency_s["e2e"]["p99"] < 10.0


def test_cold_started_replicas_are_billed_from_their_start() -> None:
    """A schedule without a midnight entry; every replica-second from launch is billed.

    Up: 3 (00:00-01:00, yesterday's 23:00 entry holds), 5 (01:00-23:00), 3 (23:00-24:00)
    = 116 replica-hours. Billing from readiness instead would miss the two 120 s
    cold starts at 01:00.
    """
    sets = [
        "traffic.rate_per_s=0.5",
        'horizon="1d"',
        'autoscaling.policy="scheduled"',
        'autoscaling.schedule=[["01:00", 5], ["23:00", 3]]',
        "autoscaling.min_replicas=1",
        "autoscaling.max_replicas=10",
        'autoscaling.cold_start={dist="fixed", value=120}',
    ]
    result = run_once(sets, base="mmc", seed=SEED)
    events = result.events
    assert events["launches"] == 2 and events["cold_starts"] == 2
    billed_h = result.billing["billed_replica_hours"]
    # Drained replicas finish their request (exponential, mean 1 s) before they stop.
    assert 116.0 <= billed_h < 116.0 + 30 / 3600, billed_h
    price_per_h = 0.526  # T4, AWS on-demand (catalog)
    assert result.cost_usd["horizon_gpu_on-demand"] == pytest.approx(billed_h * price_per_h)
    up = result.fleet_series["replicas_up"]
    serving = result.fleet_series["replicas_serving"]
    assert up[BINS_PER_HOUR] == pytest.approx(5.0)  # 01:00-01:05, billed from 01:00
    assert serving[BINS_PER_HOUR] == pytest.approx(3 + 2 * (300 - 120) / 300)
    assert up[BINS_PER_HOUR - 1] == pytest.approx(3.0)
    assert result.replicas["min"] == 3 and result.replicas["max"] == 5
