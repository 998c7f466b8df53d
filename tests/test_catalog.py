"""The bundled GPU and price catalog: complete, sourced, dated and self-consistent."""

from __future__ import annotations

import math

import pytest

from sim.errors import CapsimError
from sim.scenario.catalog import Catalog, find_price, gpu_spec, load_catalog

REQUIRED_GPUS = (
    "T4",
    "A10G",
    "A10",
    "L4",
    "A100-40GB",
    "A100-80GB",
    "H100-SXM",
    "H100-PCIe",
    "H200",
)

# (tflops, memory GB, bandwidth GB/s) given in the product brief or the NVIDIA datasheets.
DATASHEET = {
    "T4": (65.0, 16.0, 320.0),
    "A10": (125.0, 24.0, 600.0),
    "L4": (121.0, 24.0, 300.0),
    "A100-40GB": (312.0, 40.0, 1555.0),
    "A100-80GB": (312.0, 80.0, 2039.0),
    "H100-SXM": (989.0, 80.0, 3350.0),
    "H100-PCIe": (756.0, 80.0, 2000.0),
    "H200": (989.0, 141.0, 4800.0),
}

# (gpu, provider, market) -> exact USD per GPU-hour, as given in the product brief.
GIVEN_PRICES = {
    ("T4", "aws", "on-demand"): 0.526,
    ("A10G", "aws", "on-demand"): 1.006,
    ("L4", "aws", "on-demand"): 0.8048,
    ("A100-40GB", "aws", "on-demand"): 2.745,
    ("H100-SXM", "aws", "on-demand"): 6.88,
    ("T4", "modal", "serverless"): 0.59,
    ("A100-80GB", "modal", "serverless"): 2.50,
    ("H100-SXM", "modal", "serverless"): 3.95,
    ("L4", "modal", "serverless"): 0.80,
}

PROVIDERS = ("aws", "gcp", "azure", "lambda", "runpod", "modal")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


# --- GPUs -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REQUIRED_GPUS)
def test_every_required_gpu_is_present_positive_sourced_and_dated(name: str) -> None:
    gpu = gpu_spec(name)
    assert gpu.name == name
    assert gpu.fp16_tflops > 0
    assert gpu.memory_gb > 0
    assert gpu.memory_bandwidth_gb_per_s > 0
    assert gpu.source.strip()
    assert gpu.date.strip()


@pytest.mark.parametrize(("name", "figures"), DATASHEET.items())
def test_gpu_figures_match_the_datasheets(name: str, figures: tuple[float, float, float]) -> None:
    gpu = gpu_spec(name)
    assert (gpu.fp16_tflops, gpu.memory_gb, gpu.memory_bandwidth_gb_per_s) == figures


def test_unit_conversions_are_si(catalog: Catalog) -> None:
    h100 = catalog.gpus["H100-SXM"]
    assert h100.peak_flops_per_s == pytest.approx(989e12)
    assert h100.memory_bytes == pytest.approx(80e9)
    assert h100.memory_bandwidth_bytes_per_s == pytest.approx(3.35e12)


def test_a100_80gb_has_more_bandwidth_and_memory_but_same_compute_as_40gb() -> None:
    small, big = gpu_spec("A100-40GB"), gpu_spec("A100-80GB")
    assert big.memory_bandwidth_gb_per_s > small.memory_bandwidth_gb_per_s
    assert big.memory_gb == 2 * small.memory_gb
    assert big.fp16_tflops == small.fp16_tflops


def test_hopper_ordering() -> None:
    pcie, sxm, h200 = gpu_spec("H100-PCIe"), gpu_spec("H100-SXM"), gpu_spec("H200")
    assert pcie.fp16_tflops < sxm.fp16_tflops == h200.fp16_tflops
    assert pcie.memory_bandwidth_gb_per_s < sxm.memory_bandwidth_gb_per_s
    assert sxm.memory_bandwidth_gb_per_s < h200.memory_bandwidth_gb_per_s
    assert h200.memory_gb > sxm.memory_gb


def test_a10g_shares_a10_memory_but_has_less_tensor_compute() -> None:
    a10, a10g = gpu_spec("A10"), gpu_spec("A10G")
    assert a10g.memory_gb == a10.memory_gb
    assert a10g.memory_bandwidth_gb_per_s == a10.memory_bandwidth_gb_per_s
    assert 0 < a10g.fp16_tflops < a10.fp16_tflops


def test_figures_are_dense_not_sparse() -> None:
    # Dense FP16 tensor peaks never exceed ~1 PFLOP/s for these parts; the sparse figures
    # (1,979 for H100 SXM, 624 for A100) would.
    assert gpu_spec("H100-SXM").fp16_tflops < 1000
    assert gpu_spec("A100-80GB").fp16_tflops < 400
    assert gpu_spec("L4").fp16_tflops < 200


# --- prices -----------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "usd"), GIVEN_PRICES.items())
def test_given_prices_are_exact(key: tuple[str, str, str], usd: float) -> None:
    price = find_price(*key)
    assert price.usd_per_gpu_hour == usd
    assert price.billing == "per-second"


def test_modal_t4_is_059_per_hour_not_the_old_per_second_mixup() -> None:
    price = find_price("T4", "modal", "serverless")
    assert price.usd_per_gpu_hour == 0.59
    assert price.usd_per_gpu_second == pytest.approx(0.59 / 3600)


def test_every_price_row_is_well_formed(catalog: Catalog) -> None:
    for row in catalog.prices:
        label = f"{row.gpu}/{row.provider}/{row.market}"
        assert row.gpu in catalog.gpus, label
        assert row.provider in PROVIDERS, label
        assert row.market in {"on-demand", "spot", "reserved", "serverless"}, label
        assert row.billing in {"per-second", "per-hour"}, label
        assert row.usd_per_gpu_hour > 0, label
        assert math.isfinite(row.usd_per_gpu_hour), label
        assert row.instance.strip(), label
        assert row.source.strip(), label
        assert row.date.strip(), label


def test_price_rows_are_unique(catalog: Catalog) -> None:
    keys = [(p.gpu, p.provider, p.market) for p in catalog.prices]
    assert len(keys) == len(set(keys))


def test_every_provider_and_market_is_covered(catalog: Catalog) -> None:
    assert set(catalog.providers) == set(PROVIDERS)
    assert set(catalog.markets) == {"on-demand", "spot", "reserved", "serverless"}


def test_estimated_markets_say_so(catalog: Catalog) -> None:
    # AWS spot and reserved rows are derived from a typical discount, not read off a list.
    for row in catalog.prices:
        if row.provider == "aws" and row.market in {"spot", "reserved"}:
            assert "estimate" in row.source, row


@pytest.mark.parametrize("gpu", ["A100-40GB", "H100-SXM"])
def test_aws_discount_markets_are_cheaper_than_on_demand(gpu: str) -> None:
    on_demand = find_price(gpu, "aws", "on-demand").usd_per_gpu_hour
    reserved = find_price(gpu, "aws", "reserved").usd_per_gpu_hour
    spot = find_price(gpu, "aws", "spot").usd_per_gpu_hour
    assert spot < reserved < on_demand


def test_multi_gpu_instances_are_divided_by_gpu_count() -> None:
    assert find_price("H100-SXM", "aws", "on-demand").usd_per_gpu_hour * 8 == pytest.approx(55.04)
    assert find_price("A100-40GB", "aws", "on-demand").usd_per_gpu_hour * 8 == pytest.approx(21.96)


def test_runpod_serverless_rows_match_their_per_second_rates() -> None:
    assert find_price("T4", "runpod", "serverless").usd_per_gpu_second == pytest.approx(0.00016)
    assert find_price("L4", "runpod", "serverless").usd_per_gpu_second == pytest.approx(0.00019)


def test_lambda_a10_uses_the_published_price() -> None:
    price = find_price("A10", "lambda", "on-demand")
    assert price.usd_per_gpu_hour not in {0.31, 0.6146}
    assert 0.5 < price.usd_per_gpu_hour < 1.5


# --- error messages ---------------------------------------------------------------------


def test_unknown_gpu_error_lists_the_known_gpus() -> None:
    with pytest.raises(CapsimError) as err:
        gpu_spec("V100")
    message = str(err.value)
    assert "'V100'" in message
    for name in REQUIRED_GPUS:
        assert name in message


def test_find_price_unknown_gpu_errors_too() -> None:
    with pytest.raises(CapsimError, match="unknown GPU 'B200'"):
        find_price("B200", "aws", "on-demand")


def test_find_price_unknown_provider_lists_providers() -> None:
    with pytest.raises(CapsimError) as err:
        find_price("T4", "oracle", "on-demand")
    message = str(err.value)
    assert "unknown provider 'oracle'" in message
    for provider in PROVIDERS:
        assert provider in message


def test_find_price_missing_market_names_where_the_gpu_is_priced() -> None:
    with pytest.raises(CapsimError) as err:
        find_price("A10", "aws", "on-demand")
    message = str(err.value)
    assert "no on-demand price for A10 on aws" in message
    assert "lambda/on-demand" in message
    assert "pricing.gpu_usd_per_hour" in message


def test_find_price_missing_market_for_priced_gpu_lists_all_its_offers() -> None:
    with pytest.raises(CapsimError) as err:
        find_price("H200", "aws", "spot")
    assert "runpod/serverless" in str(err.value)


# --- spot interruptions -----------------------------------------------------------------


@pytest.mark.parametrize(("provider", "notice_s"), [("aws", 120.0), ("gcp", 30.0), ("azure", 30.0)])
def test_spot_notice_periods(catalog: Catalog, provider: str, notice_s: float) -> None:
    spot = catalog.spot[provider]
    assert spot.provider == provider
    assert spot.notice_s == notice_s
    assert spot.source.strip()
    assert spot.date.strip()


def test_spot_rates_are_plausible_hazards(catalog: Catalog) -> None:
    for spot in catalog.spot.values():
        # Positive, and below one interruption per hour.
        assert 0 < spot.interruptions_per_hour < 1


def test_aws_rate_is_the_monthly_band_converted_to_an_hourly_hazard(catalog: Catalog) -> None:
    # >20%/month band, lower edge: -ln(1 - 0.20) / 730 h.
    expected = -math.log(1 - 0.20) / 730
    assert catalog.spot["aws"].interruptions_per_hour == pytest.approx(expected, rel=0.01)
    assert "730" in catalog.spot["aws"].source


def test_every_spot_priced_provider_has_an_interruption_entry(catalog: Catalog) -> None:
    spot_providers = {p.provider for p in catalog.prices if p.market == "spot"}
    assert spot_providers <= set(catalog.spot)
