"""Prices of the cost levers: response caches and hosted model APIs, from the catalog."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from sim.errors import CapsimError


@dataclass(frozen=True)
class CachePrice:
    """A managed cache's meter: stored GB-hours and request units of a few KB each."""

    name: str
    usd_per_gb_hour: float
    usd_per_million_requests_units: float
    bytes_per_request_unit: float
    minimum_gb: float
    source: str
    date: str


@dataclass(frozen=True)
class ApiPrice:
    """A hosted model's token prices."""

    name: str
    input_usd_per_1k_tokens: float
    output_usd_per_1k_tokens: float
    source: str
    date: str


@cache
def _tables() -> dict:
    text = resources.files("sim.scenario").joinpath("data/catalog.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def cache_price(name: str) -> CachePrice:
    """The named cache price row, or an error that lists the known ones."""
    rows = _tables().get("caches", {})
    if name not in rows:
        raise CapsimError(
            f"levers.cache.cache: unknown cache {name!r}; the catalog has: {', '.join(rows)}"
        )
    return CachePrice(name=name, **rows[name])


def api_price(name: str, key: str = "levers.routing.api") -> ApiPrice:
    """The named hosted-API price row, or an error naming the key and the known rows."""
    rows = _tables().get("apis", {})
    if name not in rows:
        raise CapsimError(
            f'{key}: unknown API {name!r}; allowed: "api" (the [api] section\'s prices), '
            f"{', '.join(rows)}"
        )
    return ApiPrice(name=name, **rows[name])
