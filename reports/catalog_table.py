"""Terminal tables for `capsim catalog`."""

from __future__ import annotations

from rich.table import Table

from sim.scenario.catalog import Catalog
from sim.scenario.platform_prices import PlatformPrice


def catalog_tables(catalog: Catalog) -> list[Table]:
    """GPUs, prices and spot interruption rates, each row with its source and date."""
    gpus = Table(title="GPUs")
    for column in ("GPU", "FP16 TFLOP/s", "memory GB", "bandwidth GB/s", "source", "date"):
        gpus.add_column(column, justify="right" if "/" in column or "GB" in column else "left")
    for gpu in catalog.gpus.values():
        gpus.add_row(
            gpu.name,
            f"{gpu.fp16_tflops:g}",
            f"{gpu.memory_gb:g}",
            f"{gpu.memory_bandwidth_gb_per_s:g}",
            gpu.source,
            gpu.date,
        )
    prices = Table(title="Prices (USD per GPU-hour)")
    for column in (
        "GPU",
        "provider",
        "market",
        "USD/GPU-h",
        "billing",
        "instance",
        "source",
        "date",
    ):
        prices.add_column(column, justify="right" if column == "USD/GPU-h" else "left")
    for price in sorted(catalog.prices, key=lambda p: (p.gpu, p.provider, p.market)):
        prices.add_row(
            price.gpu,
            price.provider,
            price.market,
            f"{price.usd_per_gpu_hour:.4g}",
            price.billing,
            price.instance,
            price.source,
            price.date,
        )
    spot = Table(title="Spot interruptions")
    for column in ("provider", "per hour", "notice", "source", "date"):
        spot.add_column(column)
    for row in catalog.spot.values():
        spot.add_row(
            row.provider,
            f"{row.interruptions_per_hour:.3g}",
            f"{row.notice_s:g} s",
            row.source,
            row.date,
        )
    return [gpus, prices, spot]


def platform_price_table(prices: dict[str, PlatformPrice]) -> Table:
    """The `[platform]` unit prices (non-GPU stack), each with its source and date."""
    table = Table(title="Platform prices (non-GPU stack)")
    for column in ("key", "USD", "per", "vCPU", "memory GB", "source", "date"):
        table.add_column(
            column, justify="right" if column in ("USD", "vCPU", "memory GB") else "left"
        )
    for price in prices.values():
        table.add_row(
            price.key,
            f"{price.usd:.6g}",
            price.unit,
            "" if price.vcpus is None else f"{price.vcpus:g}",
            "" if price.memory_gb is None else f"{price.memory_gb:g}",
            price.source,
            price.date,
        )
    return table
