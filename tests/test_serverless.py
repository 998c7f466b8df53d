"""Serverless: seed 001's idealised bill, then warm containers, cold starts, scale to zero.

redai-1k pins the seed's assumptions (bill busy seconds only, no cold start, no
idle timeout): 1,000 requests/day x 2 s x $0.000165/s x 30 days = $9.90/month.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import run_once

PRICE_PER_S = 0.000165  # redai-1k's Modal T4 price
REALISTIC = [
    "autoscaling.billed_only_busy=false",
    "autoscaling.idle_timeout=60",
    'autoscaling.cold_start={dist="fixed", value=10}',
    "pricing.minimum_billed=0",
]
SEED = 42
REPLICATIONS = 10


def no_request_lost(result) -> bool:
    r = result.requests
    return r["completed"] == r["arrived"] and r["dropped"] == r["timed_out"] == r["lost"] == 0


@pytest.fixture(scope="module")
def seed_runs():
    return [run_once([], base="redai-1k", seed=SEED, replication=r) for r in range(REPLICATIONS)]


@pytest.fixture(scope="module")
def realistic():
    return run_once(REALISTIC, base="redai-1k", seed=SEED)


def test_seed_assumptions_reproduce_the_9_90_monthly_bill(seed_runs) -> None:
    monthly = []
    for result in seed_runs:
        assert no_request_lost(result)
        completed = result.requests["completed"]
        # Busy seconds only: exactly 2 s per request at $0.000165/s, times 30 days.
        bill = result.cost_usd["monthly_serverless"]
        assert bill == pytest.approx(completed * 2.0 * PRICE_PER_S * 30, rel=1e-9)
        assert result.cost_usd["horizon_serverless"] / completed == pytest.approx(0.00033)
        e2e = result.log.finish_s - result.log.arrival_s
        assert np.allclose(e2e, 2.0)  # no cold start, never a wait
        monthly.append(bill)
    # Poisson(1000) requests a day: one day's bill has a 3.2% standard deviation, the
    # mean of ten 1%; 3% is three standard errors. Measured: mean $9.87.
    assert np.mean(monthly) == pytest.approx(9.90, rel=0.03)


def test_realistic_semantics_bill_warm_and_cold_container_seconds(seed_runs, realistic) -> None:
    assert no_request_lost(realistic)
    completed = realistic.requests["completed"]
    launches = realistic.events["launches"]
    assert realistic.events["cold_starts"] == launches
    container_s = realistic.cost_usd["horizon_serverless"] / PRICE_PER_S
    # Every container pays its 10 s cold start and a 60 s idle timeout before it stops,
    # plus 2 s per request served; reuse gaps (each < 60 s) come on top. With no
    # overlap at all each request would cost 10 + 2 + 60 = 72 s.
    up_at_end = realistic.replicas["max"]
    lower = launches * (10 + 60) + 2.0 * completed - 72 * up_at_end
    upper = launches * (10 + 60) + (2 + 60) * completed
    assert lower <= container_s <= upper, (lower, container_s, upper)
    assert container_s <= 72 * completed
    # Measured: ~47,000 container-seconds ($7.77/day) against 1,980 busy seconds ($0.33).
    idealised = seed_runs[0].cost_usd["horizon_serverless"]
    assert realistic.requests["arrived"] == seed_runs[0].requests["arrived"]  # same traffic
    assert realistic.cost_usd["horizon_serverless"] > 10 * idealised


def test_requests_to_a_cold_fleet_wait_for_the_cold_start(realistic) -> None:
    log = realistic.log
    e2e = log.finish_s - log.arrival_s
    first = int(np.argmin(log.arrival_s))
    assert e2e[first] == pytest.approx(10.0 + 2.0)  # nobody warm at the start of the day
    assert e2e.max() >= 12.0 - 1e-9
    waited = e2e > 2.0 + 1e-9
    assert waited.sum() > 100  # hundreds of cold starts a day at this volume
    assert np.all(e2e[waited] <= 12.0 + 1e-9)  # a wait is at most one cold start


def test_the_fleet_scales_to_zero_at_quiet_times(realistic, seed_runs) -> None:
    for result in (realistic, seed_runs[0]):
        up = np.asarray(result.fleet_series["replicas_up"])
        assert result.replicas["min"] == 0
        busy = np.flatnonzero(up > 0)
        assert len(busy) > 0
        # Zero again after the first busy bin: containers went away, not just never came.
        assert np.any(up[busy[0] :] == 0)
    night = np.asarray(realistic.fleet_series["replicas_up"])[: 3 * 12]
    assert np.mean(night == 0) > 0.5  # 00:00-03:00 mostly nothing up


def test_concurrency_lets_a_container_take_several_inputs() -> None:
    def run(concurrency: int):
        sets = [
            *REALISTIC,
            'batching.policy="static"',
            f"autoscaling.concurrency_per_replica={concurrency}",
        ]
        return run_once(sets, base="redai-10k", seed=SEED)

    single, quad = run(1), run(4)
    for result, limit in ((single, 1), (quad, 4)):
        assert no_request_lost(result)
        log = result.log
        _, per_batch = np.unique(np.stack([log.replica, log.start_s]), axis=1, return_counts=True)
        assert per_batch.max() == limit  # never more at once than the concurrency
    # Fewer containers start: a batch of four absorbs what would have needed four.
    # (A running static batch takes nothing more, so arrivals during it still launch.)
    assert quad.events["launches"] < single.events["launches"]
    assert quad.replicas["max"] < single.replicas["max"]
    assert quad.cost_usd["horizon_serverless"] < single.cost_usd["horizon_serverless"]


def test_minimum_billed_applies_to_serverless_containers() -> None:
    sets = [
        "autoscaling.billed_only_busy=false",
        "autoscaling.idle_timeout=0",  # one short-lived container per request
        "pricing.minimum_billed=60",
    ]
    result = run_once(sets, base="redai-1k", seed=SEED)
    launches = result.events["launches"]
    assert launches > 500
    assert result.cost_usd["horizon_serverless"] >= launches * 60 * PRICE_PER_S
