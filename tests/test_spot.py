"""Spot: catalog price, reclaims with notice, replacements, retries or losses, shortages.

All runs are diurnal-api (a latency-model API on AWS T4s) cut to 12 h on a fixed
fleet of 6, so that 0.5 reclaims per replica-hour give ~36 reclaims a run.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
from engine_helpers import run_once

import sim.scenario.schema

FLEET = ['autoscaling.policy="fixed"', "fleet.replicas=6", 'horizon="12h"']
SPOT = [*FLEET, 'fleet.market="spot"', "spot.interruptions_per_hour=0.5"]
# A notice shorter than a request (lognormal, mean 1 s), so some are in service at the reclaim.
SHORT_NOTICE = [*SPOT, 'spot.notice="200ms"']
SEED = 9
REPLICA_HOURS = 6 * 12


def catalog_usd_per_gpu_hour(gpu: str, provider: str, market: str) -> float:
    path = Path(sim.scenario.__file__).parent / "data" / "catalog.toml"
    rows = tomllib.loads(path.read_text(encoding="utf-8"))["prices"]
    (row,) = [r for r in rows if (r["gpu"], r["provider"], r["market"]) == (gpu, provider, market)]
    return row["usd_per_gpu_hour"]


def conserved(result) -> bool:
    r = result.requests
    return r["arrived"] == (
        r["completed"] + r["dropped"] + r["timed_out"] + r["lost"] + r["in_flight"]
    )


def expected_reclaims_band(rate_per_hour: float, replica_hours: float) -> tuple[float, float]:
    """Poisson count of reclaims over the spot replica-hours, +-4 standard deviations."""
    mean = rate_per_hour * replica_hours
    return mean - 4 * math.sqrt(mean), mean + 4 * math.sqrt(mean)


@pytest.fixture(scope="module")
def on_demand():
    return run_once(FLEET, base="diurnal-api", seed=SEED)


def test_without_interruptions_spot_behaves_as_on_demand_at_the_spot_price(on_demand) -> None:
    spot = run_once(
        [*FLEET, 'fleet.market="spot"', "spot.interruptions_per_hour=0"], "diurnal-api", SEED
    )
    assert spot.requests == on_demand.requests
    for field in ("arrival_s", "start_s", "finish_s"):
        assert np.array_equal(
            getattr(spot.log, field), getattr(on_demand.log, field), equal_nan=True
        )
    spot_price = catalog_usd_per_gpu_hour("T4", "aws", "spot")  # $0.2104
    on_demand_price = catalog_usd_per_gpu_hour("T4", "aws", "on-demand")  # $0.526
    assert spot.cost_usd["horizon_gpu_spot"] == pytest.approx(REPLICA_HOURS * spot_price)
    assert on_demand.cost_usd["horizon_gpu_on-demand"] == pytest.approx(
        REPLICA_HOURS * on_demand_price
    )
    ratio = spot.cost_usd["horizon_gpu_spot"] / on_demand.cost_usd["horizon_gpu_on-demand"]
    assert ratio == pytest.approx(spot_price / on_demand_price, rel=1e-12)
    assert "horizon_gpu_on-demand" not in spot.cost_usd


def test_a_spot_price_override_replaces_the_catalog() -> None:
    sets = [*FLEET, 'fleet.market="spot"', "spot.interruptions_per_hour=0"]
    result = run_once([*sets, "pricing.spot_usd_per_hour=0.1"], "diurnal-api", SEED)
    assert result.cost_usd["horizon_gpu_spot"] == pytest.approx(REPLICA_HOURS * 0.1)


def test_reclaims_are_replaced_and_in_flight_requests_retried(on_demand) -> None:
    result = run_once(SHORT_NOTICE, base="diurnal-api", seed=SEED)
    events = result.events
    low, high = expected_reclaims_band(0.5, REPLICA_HOURS)
    # Every notice launches a replacement; a reclaim that catches a replica still
    # serving counts as an interruption (the others had drained within the notice).
    assert low <= events["launches"] <= high, events
    assert events["cold_starts"] == events["launches"]
    assert 0 < events["interruptions"] <= events["launches"]
    requests = result.requests
    assert requests["lost"] == 0
    assert requests["retried"] > 0
    assert requests["completed"] == requests["arrived"]
    assert conserved(result)
    assert int(result.log.retries.sum()) >= requests["retried"]
    # The fleet holds its size: 6 up, plus a replacement while it cold-starts.
    assert result.replicas["min"] >= 5 and result.replicas["max"] <= 7
    assert result.cost_usd["horizon_total"] < 0.5 * on_demand.cost_usd["horizon_total"]


def test_without_retry_the_requests_in_service_at_a_reclaim_are_lost() -> None:
    result = run_once([*SHORT_NOTICE, "spot.retry=false"], base="diurnal-api", seed=SEED)
    requests = result.requests
    assert requests["lost"] > 0
    assert requests["retried"] == 0  # lost, not retried: a request is counted once
    assert result.events["interruptions"] > 0
    assert conserved(result)


def test_a_two_minute_notice_lets_replicas_drain_without_losses() -> None:
    result = run_once([*SPOT, "spot.retry=false"], base="diurnal-api", seed=SEED)
    low, high = expected_reclaims_band(0.5, REPLICA_HOURS)
    assert low <= result.events["launches"] <= high
    assert result.requests["lost"] == 0  # 1 s requests finish within the 120 s notice
    assert result.requests["completed"] == result.requests["arrived"]


def test_every_reclaim_is_counted_as_an_interruption() -> None:
    result = run_once(SPOT, base="diurnal-api", seed=SEED)
    assert result.events["launches"] > 20
    assert result.events["interruptions"] == result.events["launches"]


def test_a_spot_shortage_makes_every_replacement_on_demand() -> None:
    sets = [
        *FLEET,
        'fleet.market="spot"',
        "spot.interruptions_per_hour=2",  # every initial spot replica goes within 12 h
        "spot.capacity_shortage_probability=1",
    ]
    result = run_once(sets, base="diurnal-api", seed=SEED)
    cost = result.cost_usd
    assert cost["horizon_gpu_on-demand"] > 0
    assert cost["horizon_gpu_spot"] > 0  # the 6 initial replicas, until reclaimed
    # Replacements are on-demand and never reclaimed: one per initial spot replica.
    assert result.events["launches"] == 6
    on_demand_price = catalog_usd_per_gpu_hour("T4", "aws", "on-demand")
    spot_price = catalog_usd_per_gpu_hour("T4", "aws", "spot")
    billed_h = result.billing["billed_replica_hours"]
    gpu = cost["horizon_gpu_on-demand"] + cost["horizon_gpu_spot"]
    assert billed_h * spot_price < gpu < billed_h * on_demand_price
    assert result.requests["completed"] == result.requests["arrived"]


def test_zero_notice_reclaims_during_cold_starts_do_not_crash() -> None:
    sets = [
        'horizon="10m"',
        'fleet.market="spot"',
        "spot.interruptions_per_hour=30",  # mean life 2 min: many die in their 60 s cold start
        "spot.notice=0",
        'autoscaling.cold_start={dist="fixed", value=60}',
    ]
    result = run_once(sets, base="mmc", seed=7)
    assert conserved(result)


def test_spot_defaults_come_from_the_catalog_for_the_provider() -> None:
    from sim.scenario.catalog import load_catalog
    from sim.scenario.file import load_scenario
    from sim.scenario.spot_terms import FALLBACK_INTERRUPTIONS_PER_HOUR, spot_terms

    listed = load_catalog().spot
    aws = spot_terms(load_scenario("mmc", ['fleet.market="spot"']))
    assert aws.notice_s == listed["aws"].notice_s == 120.0
    assert aws.interruptions_per_hour == listed["aws"].interruptions_per_hour
    gcp = spot_terms(load_scenario("mmc", ['fleet.provider="gcp"', 'fleet.market="spot"']))
    assert gcp.notice_s == 30.0
    given = spot_terms(load_scenario("mmc", ["spot.notice=5", "spot.interruptions_per_hour=2"]))
    assert (given.notice_s, given.interruptions_per_hour) == (5.0, 2.0)
    modal = spot_terms(load_scenario("redai-1k"))  # no spot figures for modal
    assert modal.interruptions_per_hour == FALLBACK_INTERRUPTIONS_PER_HOUR
