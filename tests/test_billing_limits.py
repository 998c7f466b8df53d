"""A bill that cannot be scaled to a month honestly is refused: short horizons, absurd prices."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sim.baseline.botec import botec
from sim.cli import app
from sim.errors import CapsimError
from sim.scenario.file import load_scenario


def error_of(sets: list[str], name: str = "mmc") -> str:
    with pytest.raises(CapsimError) as info:
        load_scenario(name, sets)
    return str(info.value)


def test_a_horizon_shorter_than_the_billing_minimum_is_refused() -> None:
    message = error_of(["horizon=10s"])  # mmc bills at least 60 s per replica
    assert "mmc.toml: horizon:" in message
    assert "pricing.minimum_billed (60 s)" in message and "at least 60 s" in message


def test_a_horizon_shorter_than_the_billing_granularity_is_refused() -> None:
    message = error_of(["horizon=30m", "pricing.billing_granularity=1h"])
    assert "pricing.billing_granularity (3600 s)" in message


def test_a_vanishing_horizon_is_refused_whatever_the_billing_rules() -> None:
    message = error_of(["horizon=1e-300", "pricing.minimum_billed=0"])
    assert "horizon: must be at least 1 s" in message


def test_a_short_horizon_the_bill_covers_scales_to_the_botec_month() -> None:
    """Four T4s for 10 s without a minimum: the month is 4 x 720 h x the hourly price."""
    sets = ["horizon=10s", "pricing.minimum_billed=0"]
    scenario = load_scenario("mmc", sets)
    expected = botec(scenario)["dedicated"]["capsim_peak_sized_usd_per_month"]
    args = ["run", "mmc", "--set", sets[0], "--set", sets[1], "-n", "1", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    gpu = json.loads(result.stdout)["cost_usd"]["lines_monthly"]["gpu_on-demand"]["p50"]
    assert gpu == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        (
            "pricing.gpu_usd_per_hour=1e308",
            "pricing.gpu_usd_per_hour: must be at least 1e-06 and at most 1000",
        ),
        (
            "pricing.spot_usd_per_hour=inf",
            "pricing.spot_usd_per_hour: must be at least 1e-06 and at most 1000",
        ),
        (
            "pricing.serverless_usd_per_s=5",
            "pricing.serverless_usd_per_s: must be at least 1e-09 and at most 0.3",
        ),
        (
            "pricing.egress_usd_per_gb=1e300",
            "pricing.egress_usd_per_gb: must be at least 0 and at most 100",
        ),
        ("pricing.storage_usd_per_gb_month=nan", "pricing.storage_usd_per_gb_month"),
        (
            "api.output_usd_per_1k_tokens=1e308",
            "api.output_usd_per_1k_tokens: must be at least 0 and at most 100",
        ),
    ],
)
def test_prices_beyond_any_market_are_refused(override: str, fragment: str) -> None:
    assert fragment in error_of([override])


def test_an_absurd_price_exits_2_with_one_line_not_null_costs() -> None:
    args = ["run", "mmc", "--set", "pricing.gpu_usd_per_hour=1e308", "-n", "1", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "pricing.gpu_usd_per_hour" in result.stderr
