"""The GPU and price catalog: dated, sourced facts loaded from `sim/scenario/data/catalog.toml`."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from sim.errors import CapsimError


@dataclass(frozen=True)
class Gpu:
    """One accelerator's datasheet figures."""

    name: str
    fp16_tflops: float  # dense FP16/BF16 tensor-core peak, no sparsity
    memory_gb: float
    memory_bandwidth_gb_per_s: float
    source: str
    date: str
    fp8_tflops: float | None = None  # dense FP8 tensor-core peak; None: no FP8 tensor cores
    int8_tops: float | None = None  # dense INT8 tensor-core peak
    link: str = "pcie"  # how the GPUs of one server talk: "nvlink" or "pcie"
    link_gb_per_s: float = 32.0  # one direction, per GPU; 32 = PCIe Gen4 x16
    link_latency_us: float = 25.0  # one small all-reduce among the replica's GPUs
    link_source: str = "not given: taken as PCIe Gen4 x16 (32 GB/s a direction), 25 us"
    precision_source: str = "not given"

    @property
    def peak_flops_per_s(self) -> float:
        return self.fp16_tflops * 1e12

    def peak_flops_per_s_at(self, precision: str) -> float:
        """Dense tensor-core peak at "bf16", "fp8" or "int8"; CapsimError if the GPU has none."""
        tflops = {"bf16": self.fp16_tflops, "fp8": self.fp8_tflops, "int8": self.int8_tops}
        if tflops[precision] is None:
            offered = ", ".join(p for p, value in tflops.items() if value is not None)
            raise CapsimError(
                f"model.compute_precision: the catalog gives {self.name} no {precision} "
                f"tensor-core peak; it has: {offered}"
            )
        return tflops[precision] * 1e12

    @property
    def memory_bytes(self) -> float:
        return self.memory_gb * 1e9

    @property
    def memory_bandwidth_bytes_per_s(self) -> float:
        return self.memory_bandwidth_gb_per_s * 1e9


@dataclass(frozen=True)
class Price:
    """What one GPU costs per hour on one provider and market."""

    gpu: str
    provider: str
    market: str
    usd_per_gpu_hour: float
    billing: str  # "per-second" or "per-hour"
    instance: str
    source: str
    date: str

    @property
    def usd_per_gpu_second(self) -> float:
        return self.usd_per_gpu_hour / 3600.0


@dataclass(frozen=True)
class SpotInterruptions:
    """How often a provider reclaims spot capacity, and how much notice it gives."""

    provider: str
    interruptions_per_hour: float
    notice_s: float
    source: str
    date: str


@dataclass(frozen=True)
class Catalog:
    gpus: dict[str, Gpu]
    prices: tuple[Price, ...]
    spot: dict[str, SpotInterruptions]

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(sorted({p.provider for p in self.prices}))

    @property
    def markets(self) -> tuple[str, ...]:
        return tuple(sorted({p.market for p in self.prices}))


@cache
def load_catalog() -> Catalog:
    """The bundled catalog, parsed once."""
    text = resources.files("sim.scenario").joinpath("data/catalog.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    gpus = {name: Gpu(name=name, **fields) for name, fields in data["gpus"].items()}
    prices = tuple(Price(**row) for row in data["prices"])
    spot = {name: SpotInterruptions(provider=name, **row) for name, row in data["spot"].items()}
    for price in prices:
        if price.gpu not in gpus:
            raise CapsimError(f"catalog.toml: price row names unknown GPU {price.gpu!r}")
    return Catalog(gpus=gpus, prices=prices, spot=spot)


def gpu_spec(name: str) -> Gpu:
    """The named GPU, or an error that lists the known ones."""
    gpus = load_catalog().gpus
    if name not in gpus:
        raise CapsimError(f"unknown GPU {name!r}; the catalog has: {', '.join(gpus)}")
    return gpus[name]


def find_price(gpu: str, provider: str, market: str) -> Price:
    """The catalog price for a GPU on a provider and market, or an error saying what exists."""
    catalog = load_catalog()
    gpu_spec(gpu)
    if provider not in catalog.providers:
        raise CapsimError(
            f"unknown provider {provider!r}; the catalog has: {', '.join(catalog.providers)}"
        )
    for price in catalog.prices:
        if (price.gpu, price.provider, price.market) == (gpu, provider, market):
            return price
    offered = sorted(f"{p.provider}/{p.market}" for p in catalog.prices if p.gpu == gpu) or ["none"]
    raise CapsimError(
        f"the catalog has no {market} price for {gpu} on {provider}; "
        f"{gpu} is priced on: {', '.join(offered)} (or set pricing.gpu_usd_per_hour)"
    )
