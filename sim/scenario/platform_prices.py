"""Unit prices of the non-GPU stack: the catalog's `[platform_prices]`, or a scenario's figure.

A `[platform]` price is either a catalog key (its unit must be the one the line needs)
or a number in the unit the key's documentation names. Every resolved price carries
where it came from, so the BOTEC can print the source beside the figure.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from sim.errors import CapsimError
from sim.scenario.schema import Scenario

HOURS_PER_MONTH = 720.0  # the seeds' month
UNITS = ("hour", "month", "gb", "gb-month", "million-requests", "unit-hour")


@dataclass(frozen=True)
class PlatformPrice:
    """One catalog unit price: USD per `unit`, with the instance's size for nodes."""

    key: str
    usd: float
    unit: str
    source: str
    date: str
    vcpus: float | None = None
    memory_gb: float | None = None


@cache
def platform_prices() -> dict[str, PlatformPrice]:
    """The catalog's platform prices by key, parsed once."""
    text = resources.files("sim.scenario").joinpath("data/catalog.toml").read_text(encoding="utf-8")
    rows = tomllib.loads(text).get("platform_prices", {})
    prices = {key: PlatformPrice(key=key, **row) for key, row in rows.items()}
    for price in prices.values():
        if price.unit not in UNITS:
            raise CapsimError(f"catalog.toml: platform_prices.{price.key}: unknown unit")
    return prices


def catalog_entry(key: str, where: str) -> PlatformPrice:
    """The catalog price of this key, or one line naming the scenario key and the choices."""
    prices = platform_prices()
    if key not in prices:
        raise CapsimError(f"{where}: unknown platform price {key!r}; known: {', '.join(prices)}")
    return prices[key]


def price_per(value: str | float, unit: str, where: str) -> tuple[float, str]:
    """USD per `unit` and its source: a number is taken as it is, a key must be in `unit`."""
    if not isinstance(value, str):
        return float(value), "scenario"
    entry = catalog_entry(value, where)
    if entry.unit != unit:
        raise CapsimError(
            f"{where}: catalog price {value!r} is per {entry.unit}; this line needs one per {unit}"
        )
    return entry.usd, f"catalog {value} ({entry.date})"


def price_per_month(value: str | float, where: str) -> tuple[float, str]:
    """USD per item-month: a number is per month; a key per hour is run 720 hours."""
    if not isinstance(value, str):
        return float(value), "scenario"
    entry = catalog_entry(value, where)
    if entry.unit == "hour":
        return entry.usd * HOURS_PER_MONTH, f"catalog {value} ({entry.date}) x 720 h"
    if entry.unit == "month":
        return entry.usd, f"catalog {value} ({entry.date})"
    raise CapsimError(
        f"{where}: catalog price {value!r} is per {entry.unit}; this line needs one per hour "
        "or per month"
    )


def database_price_keys(billing: str) -> tuple[str, str, str]:
    """The default catalog keys of a DynamoDB table's reads and writes, and their unit."""
    if billing == "provisioned":
        return "aws-dynamodb-provisioned-rcu", "aws-dynamodb-provisioned-wcu", "unit-hour"
    return "aws-dynamodb-on-demand-read", "aws-dynamodb-on-demand-write", "million-requests"


def platform_price_problem(scenario: Scenario) -> str | None:
    """Why a `[platform]` price cannot be resolved (unknown key, wrong unit), or None."""
    platform = scenario.platform
    if platform is None:
        return None
    checks: list[tuple[str | float, str | None, str]] = []  # (value, unit or None=monthly, key)
    for name in ("backend", "frontend"):
        tier = getattr(platform, name)
        if tier is not None and tier.server_price is not None:
            checks.append((tier.server_price, "hour", f"platform.{name}.server_price"))
    if platform.backend is not None or platform.frontend is not None:
        needs_nodes = any(
            t is not None and t.server_price is None for t in (platform.backend, platform.frontend)
        )
        if needs_nodes:
            try:
                entry = catalog_entry(platform.nodes.instance, "platform.nodes.instance")
            except CapsimError as exc:
                return str(exc)
            if entry.unit != "hour" or entry.vcpus is None or entry.memory_gb is None:
                return (
                    f"platform.nodes.instance: {entry.key!r} is not an instance "
                    "(an hourly price with vcpus and memory_gb)"
                )
    database = platform.database
    if database is not None:
        if database.kind == "dynamodb":
            read_key, write_key, unit = database_price_keys(database.billing)
            checks.append((database.read_price or read_key, unit, "platform.database.read_price"))
            checks.append(
                (database.write_price or write_key, unit, "platform.database.write_price")
            )
        else:
            checks.append((database.primary_price, None, "platform.database.primary_price"))
            checks.append((database.replica_price, None, "platform.database.replica_price"))
            checks.append((database.storage_price, "gb-month", "platform.database.storage_price"))
    for name in ("cache", "search"):
        clusters = getattr(platform, name)
        if clusters is not None:
            checks.append((clusters.node_price, None, f"platform.{name}.node_price"))
            checks.append((clusters.storage_price, "gb-month", f"platform.{name}.storage_price"))
    for name in ("cdn", "api_egress", "logging"):
        line = getattr(platform, name)
        if line is not None:
            checks.append((line.price, "gb", f"platform.{name}.price"))
    for i, tier in enumerate(platform.object_storage):
        checks.append((tier.price, "gb-month", f"platform.object_storage[{i}].price"))
    for name in ("ddos", "kubernetes"):
        line = getattr(platform, name)
        if line is not None:
            checks.append((line.price, None, f"platform.{name}.price"))
    for value, unit, where in checks:
        try:
            if unit is None:
                price_per_month(value, where)
            else:
                price_per(value, unit, where)
        except CapsimError as exc:
            return str(exc)
    return None
