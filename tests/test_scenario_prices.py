"""One price per instance: a bundled scenario's price override agrees with the catalog,
or the scenario pins a seed's figure and says so on that line."""

from __future__ import annotations

import tomllib

import pytest

from scenarios import bundled_scenario_names, bundled_scenario_path
from sim.errors import CapsimError
from sim.scenario.catalog import find_price
from sim.scenario.file import load_scenario
from sim.scenario.prices import PRICE_OVERRIDES, resolve_rates

# Overrides that knowingly differ from the catalog, and why (each line says it too).
SEED_FIGURES = {
    ("redai-1k", "serverless_usd_per_s"): "seed 001: Modal T4 at $0.000165/s",
    ("redai-10k", "serverless_usd_per_s"): "seed 001: Modal T4 at $0.000165/s",
    ("redai-100k", "serverless_usd_per_s"): "seed 001: Modal T4 at $0.000165/s",
}


def catalog_usd_per_gpu_hour(scenario, market: str) -> float | None:
    try:
        return find_price(scenario.fleet.gpu, scenario.fleet.provider, market).usd_per_gpu_hour
    except CapsimError:
        return None


@pytest.mark.parametrize("name", bundled_scenario_names())
def test_price_overrides_agree_with_the_catalog_or_say_why(name: str) -> None:
    path = bundled_scenario_path(name)
    text = path.read_text(encoding="utf-8")
    pricing = tomllib.loads(text).get("pricing", {})
    scenario = load_scenario(name)
    for market, key in PRICE_OVERRIDES.items():
        if key not in pricing:
            continue
        catalog = catalog_usd_per_gpu_hour(scenario, market)
        if catalog is None:
            continue  # the catalog does not price this instance: the file is the one source
        per_hour = pricing[key] * (3600.0 if key == "serverless_usd_per_s" else 1.0)
        if (name, key) in SEED_FIGURES:
            (line,) = [ln for ln in text.splitlines() if ln.strip().startswith(f"{key} ")]
            assert "seed" in line.partition("#")[2], f"{name}: {key} must say why it differs"
            continue
        assert per_hour == pytest.approx(catalog, rel=1e-9), (
            f"{name}: pricing.{key} = {pricing[key]} but the catalog says {catalog}/GPU-hour"
        )


def test_smartpal_prices_its_p4d_fleet_from_the_catalog() -> None:
    scenario = load_scenario("smartpal")
    rate = resolve_rates(scenario).usd_per_replica_s["on-demand"] * 3600.0
    assert rate * 8 == pytest.approx(21.96)  # p4d.24xlarge, 8 x A100-40GB
