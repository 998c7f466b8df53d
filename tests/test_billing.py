"""Billing: rounding rules, line items and totals, exact fixed-fleet bills, reserved, API tokens.

Prices are read here straight from `sim/scenario/data/catalog.toml` (not through
`sim.scenario.catalog`), so a fixed fleet's bill is checked against an independent
n x T x price.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
from engine_helpers import run_once

import sim.scenario
from sim.money.billing import (
    Rates,
    ReplicaLifetime,
    billed_seconds,
    cost_summary,
    replica_cost_usd,
    replica_hours,
    request_cost_usd,
)
from sim.montecarlo import replication as simulation
from sim.scenario.file import load_scenario
from sim.scenario.units import SECONDS_PER_MONTH

CATALOG = Path(sim.scenario.__file__).parent / "data" / "catalog.toml"


def catalog_usd_per_gpu_hour(gpu: str, provider: str, market: str) -> float:
    rows = tomllib.loads(CATALOG.read_text(encoding="utf-8"))["prices"]
    (row,) = [r for r in rows if (r["gpu"], r["provider"], r["market"]) == (gpu, provider, market)]
    return row["usd_per_gpu_hour"]


def run_capturing(monkeypatch, sets, base, seed, replication=0):
    """One replication, keeping what billing saw: every replica's lifetime and the rates."""
    captured: dict = {}
    original = simulation.replica_cost_usd

    def spy(replicas, rates, horizon_s):
        lines = original(replicas, rates, horizon_s)
        captured.update(replicas=list(replicas), rates=rates, lines=lines, horizon_s=horizon_s)
        return lines

    monkeypatch.setattr(simulation, "replica_cost_usd", spy)
    result = run_once(sets, base=base, seed=seed, replication=replication)
    return result, captured


# ------------------------------------------------------------------ rounding rules


@pytest.mark.parametrize(
    ("lifetime_s", "granularity_s", "minimum_s", "billed_s"),
    [
        (61.0, 60.0, 0.0, 120.0),  # rounded up to the next whole minute
        (10.0, 1.0, 60.0, 60.0),  # a 60 s minimum
        (60.0, 60.0, 0.0, 60.0),  # exactly on the granularity: no extra minute
        (3600.0, 3600.0, 60.0, 3600.0),
        (3600.5, 3600.0, 60.0, 7200.0),  # per-hour billing: a second over is a second hour
        (59.2, 1.0, 0.0, 60.0),  # per-second billing rounds up to whole seconds
        (120.2, 60.0, 60.0, 180.0),
        (0.0, 60.0, 60.0, 0.0),  # never up, never billed
    ],
)
def test_billed_seconds_rounds_up_to_granularity_then_minimum(
    lifetime_s, granularity_s, minimum_s, billed_s
) -> None:
    assert billed_seconds(lifetime_s, granularity_s, minimum_s) == pytest.approx(billed_s)


def rates(**overrides) -> Rates:
    values = dict(
        usd_per_replica_s={"on-demand": 0.001, "spot": 0.0004, "reserved": 0.0006},
        granularity_s=1.0,
        minimum_billed_s=60.0,
        reserved_replicas=0,
        billed_only_busy=False,
    )
    values.update(overrides)
    return Rates(**values)


def test_replica_cost_bills_lifetimes_within_the_horizon() -> None:
    horizon = 7200.0
    lifetimes = [
        ReplicaLifetime("on-demand", 0.0, 100.0, busy_s=50.0),  # 100 s
        ReplicaLifetime("on-demand", 7100.0, None, busy_s=80.0),  # still up: to the horizon
        ReplicaLifetime("on-demand", 7190.0, 7195.0, busy_s=5.0),  # 5 s: the 60 s minimum
        ReplicaLifetime("spot", 7000.0, 8000.0, busy_s=900.0),  # clipped at the horizon: 200 s
    ]
    lines = replica_cost_usd(lifetimes, rates(), horizon)
    assert lines["gpu_on-demand"] == pytest.approx((100 + 100 + 60) * 0.001)
    assert lines["gpu_spot"] == pytest.approx(200 * 0.0004)
    assert lines["_billed_replica_s"] == pytest.approx(460.0)
    # Busy time counts no more than was billed (the spot replica worked past the horizon).
    assert lines["_busy_replica_s"] == pytest.approx(50 + 80 + 5 + 200)
    assert lines["_busy_replica_s"] <= lines["_billed_replica_s"]


def test_reserved_commitment_is_billed_all_horizon_used_or_not() -> None:
    horizon = 86400.0
    lifetimes = [ReplicaLifetime("on-demand", 0.0, 3600.0, busy_s=10.0)]
    lines = replica_cost_usd(lifetimes, rates(reserved_replicas=2), horizon)
    assert lines["gpu_reserved_commitment"] == pytest.approx(2 * horizon * 0.0006)
    assert lines["gpu_on-demand"] == pytest.approx(3600 * 0.001)


def test_serverless_bills_busy_seconds_or_whole_container_seconds() -> None:
    lifetimes = [
        ReplicaLifetime("serverless", 10.0, 82.4, busy_s=2.0),
        ReplicaLifetime("serverless", 100.0, 103.0, busy_s=2.0),
    ]
    price = {"serverless": 0.000165}
    busy_only = replica_cost_usd(
        lifetimes, rates(usd_per_replica_s=price, billed_only_busy=True), 86400.0
    )
    assert busy_only["serverless"] == pytest.approx(4.0 * 0.000165)
    whole = replica_cost_usd(
        lifetimes, rates(usd_per_replica_s=price, minimum_billed_s=0.0), 86400.0
    )
    assert whole["serverless"] == pytest.approx((73 + 3) * 0.000165)  # ceil(72.4) + 3
    at_least_a_minute = replica_cost_usd(lifetimes, rates(usd_per_replica_s=price), 86400.0)
    assert at_least_a_minute["serverless"] == pytest.approx((73 + 60) * 0.000165)


def test_cost_summary_lines_add_up_and_scale_to_a_month() -> None:
    replica_lines = {"gpu_on-demand": 3.0, "gpu_spot": 1.5, "_billed_replica_s": 7200.0}
    replica_lines["_busy_replica_s"] = 3600.0
    summary = cost_summary(replica_lines, {"storage": 0.25, "egress": 0.5}, 7200.0, 500)
    assert summary["horizon_total"] == pytest.approx(5.25)
    assert summary["monthly_total"] == pytest.approx(5.25 * 360)  # 30 days / 2 h
    assert summary["monthly_gpu_spot"] == pytest.approx(1.5 * 360)
    assert summary["per_1k_requests"] == pytest.approx(5.25 / 500 * 1000)
    hours = replica_hours(replica_lines)
    assert hours["billed_replica_hours"] == pytest.approx(2.0)
    assert hours["busy_replica_hours"] == pytest.approx(1.0)
    assert math.isnan(cost_summary(replica_lines, {}, 7200.0, 0)["per_1k_requests"])


# ------------------------------------------------------------------ API tokens


def test_api_token_cost_applies_the_batch_discount_to_the_batch_share() -> None:
    scenario = load_scenario(
        "mmc",
        [
            "api.use=true",
            "api.input_usd_per_1k_tokens=0.01",
            "api.output_usd_per_1k_tokens=0.03",
            "api.batch_share=0.4",
            "api.batch_discount=0.5",
        ],
    )
    prompt = np.array([250, 1000, 0])
    output = np.array([500, 100, 2000])
    lines = request_cost_usd(scenario, 3, prompt, output)
    list_price = (1250 * 0.01 + 2600 * 0.03) / 1000  # 0.0905
    assert lines["api_tokens"] == pytest.approx(list_price * (1 - 0.4 * 0.5))


def test_api_token_line_in_a_simulated_run() -> None:
    sets = [
        'horizon="10m"',
        "api.use=true",
        "api.batch_share=0.5",
        "api.batch_discount=0.5",
    ]
    result = run_once(sets, base="mmc", seed=11)
    completed = result.requests["completed"]
    # mmc keeps the default fixed 250 prompt and 500 output tokens; default $0.01/$0.03 per 1k.
    per_request = (250 * 0.01 + 500 * 0.03) / 1000
    assert completed > 1500
    assert result.cost_usd["horizon_api_tokens"] == pytest.approx(completed * per_request * 0.75)


# ------------------------------------------------------------------ whole runs


def test_fixed_fleet_costs_n_times_horizon_times_catalog_price() -> None:
    result = run_once([], base="mmc", seed=3)  # 4 T4 on AWS on-demand for 2 h
    price = catalog_usd_per_gpu_hour("T4", "aws", "on-demand")  # $0.526
    expected = 4 * 7200 / 3600 * price
    assert result.cost_usd["horizon_gpu_on-demand"] == pytest.approx(expected, rel=1e-12)
    assert result.cost_usd["monthly_gpu_on-demand"] == pytest.approx(expected * 360, rel=1e-12)
    assert result.billing["billed_replica_hours"] == pytest.approx(8.0)


def test_fixed_fleet_with_a_price_override_and_multi_gpu_replicas() -> None:
    sets = ["pricing.gpu_usd_per_hour=1.25", "fleet.gpus_per_replica=2", "fleet.replicas=3"]
    result = run_once(sets, base="mmc", seed=3)
    assert result.cost_usd["horizon_gpu_on-demand"] == pytest.approx(3 * 2 * 1.25 * 2.0)


def test_reserved_commitment_in_a_run_is_billed_beside_on_demand_use() -> None:
    sets = ["pricing.reserved_replicas=2", "pricing.reserved_usd_per_hour=0.3"]
    result = run_once(sets, base="mmc", seed=3)
    assert result.cost_usd["horizon_gpu_reserved_commitment"] == pytest.approx(2 * 2.0 * 0.3)
    price = catalog_usd_per_gpu_hour("T4", "aws", "on-demand")
    assert result.cost_usd["horizon_gpu_on-demand"] == pytest.approx(4 * 2.0 * price)


def test_a_reserved_fleet_covered_by_its_commitment_is_paid_once() -> None:
    sets = [
        'fleet.market="reserved"',
        "pricing.reserved_replicas=4",
        "pricing.reserved_usd_per_hour=0.3",
    ]
    result = run_once(sets, base="mmc", seed=3)
    gpu = sum(v for k, v in result.cost_usd.items() if k.startswith("horizon_gpu_"))
    assert gpu == pytest.approx(4 * 2.0 * 0.3)  # 4 replicas x 2 h x $0.30, committed


INVARIANT_RUNS = {
    "target-tracking": (['horizon="12h"'], "diurnal-api", 7),
    "spot-reclaims": (
        [
            'horizon="1h"',
            'fleet.market="spot"',
            "spot.interruptions_per_hour=4",
            "spot.notice=1",
        ],
        "mmc",
        5,
    ),
    "serverless-warm-containers": (
        [
            "autoscaling.billed_only_busy=false",
            "autoscaling.idle_timeout=60",
            'autoscaling.cold_start={dist="fixed", value=10}',
            "pricing.minimum_billed=0",
        ],
        "redai-1k",
        42,
    ),
    "api-and-storage": (['horizon="20m"', "api.use=true"], "mmc", 9),
}


@pytest.mark.parametrize("case", sorted(INVARIANT_RUNS))
def test_every_replica_is_billed_at_least_its_busy_time(monkeypatch, case) -> None:
    sets, base, seed = INVARIANT_RUNS[case]
    result, seen = run_capturing(monkeypatch, sets, base, seed)
    rates_used: Rates = seen["rates"]
    assert seen["replicas"], "no replica was billed"
    for lifetime in seen["replicas"]:
        stop = result.end_s if lifetime.stopped_s is None else lifetime.stopped_s
        life_s = stop - lifetime.started_s
        assert lifetime.busy_s <= life_s + 1e-6, lifetime
        if lifetime.market == "serverless" and rates_used.billed_only_busy:
            continue
        billed = billed_seconds(life_s, rates_used.granularity_s, rates_used.minimum_billed_s)
        if lifetime.market == "serverless":
            billed = math.ceil(life_s - 1e-9)
        assert billed >= lifetime.busy_s - 1e-6, lifetime
    lines = seen["lines"]
    assert lines["_billed_replica_s"] >= lines["_busy_replica_s"] > 0
    assert result.billing["billed_replica_hours"] >= result.billing["busy_replica_hours"]


@pytest.mark.parametrize("case", sorted(INVARIANT_RUNS))
def test_line_items_add_up_to_the_totals(case) -> None:
    sets, base, seed = INVARIANT_RUNS[case]
    result = run_once(sets, base=base, seed=seed)
    cost = result.cost_usd
    horizon_lines = {
        k.removeprefix("horizon_"): v
        for k, v in cost.items()
        if k.startswith("horizon_") and k != "horizon_total"
    }
    monthly_lines = {
        k.removeprefix("monthly_"): v
        for k, v in cost.items()
        if k.startswith("monthly_") and k != "monthly_total"
    }
    assert horizon_lines.keys() == monthly_lines.keys()
    assert sum(horizon_lines.values()) == pytest.approx(cost["horizon_total"], rel=1e-12)
    assert sum(monthly_lines.values()) == pytest.approx(cost["monthly_total"], rel=1e-12)
    scale = SECONDS_PER_MONTH / result.horizon_s
    for name, value in horizon_lines.items():
        assert monthly_lines[name] == pytest.approx(value * scale, rel=1e-12), name
    completed = result.requests["completed"]
    assert cost["per_1k_requests"] == pytest.approx(cost["horizon_total"] / completed * 1000)
