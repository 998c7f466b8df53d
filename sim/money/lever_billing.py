"""What the cost levers bill besides GPUs: the response cache, hosted-API and batch-API tokens.

Pure functions of counts and token sums, shared by a replication's bill and the BOTEC.
"""

from __future__ import annotations

import math

from sim.scenario.lever_prices import api_price, cache_price
from sim.scenario.schema import Scenario


def cache_size_gb(scenario: Scenario) -> float:
    """GB the cache is billed for: the given size, else the distinct prompts' answers,
    never below the service's metered minimum."""
    cache = scenario.levers.cache
    price = cache_price(cache.cache)
    size_gb = cache.size_gb
    if size_gb is None and cache.distinct_prompts is not None:
        size_gb = cache.distinct_prompts * scenario.requests.response_bytes / 1e9
    return max(price.minimum_gb, size_gb or 0.0)


def cache_cost_usd(scenario: Scenario, lookups: float, hits: float, horizon_s: float) -> float:
    """The cache's bill over a horizon: stored GB-hours plus request units.

    Every request looks its prompt up (a hit reads the answer back; a miss costs one
    unit and then stores its answer), each transfer metered per started unit of bytes.
    """
    price = cache_price(scenario.levers.cache.cache)
    answer_bytes = scenario.requests.response_bytes
    units_per_answer = max(1, math.ceil(answer_bytes / price.bytes_per_request_unit))
    misses = lookups - hits
    units = hits * units_per_answer + misses * (1 + units_per_answer)
    stored = cache_size_gb(scenario) * price.usd_per_gb_hour * horizon_s / 3600.0
    return stored + units * price.usd_per_million_requests_units / 1e6


def token_prices_usd_per_1k(scenario: Scenario, name: str, key: str) -> tuple[float, float]:
    """(input, output) USD per 1k tokens: "api" is the [api] section, else a catalog row."""
    if name == "api":
        return scenario.api.input_usd_per_1k_tokens, scenario.api.output_usd_per_1k_tokens
    row = api_price(name, key)
    return row.input_usd_per_1k_tokens, row.output_usd_per_1k_tokens


def routed_api_prices_usd_per_1k(scenario: Scenario) -> tuple[float, float]:
    """The routing share's API prices: the catalog row, each overridable."""
    routing = scenario.levers.routing
    row_in, row_out = token_prices_usd_per_1k(scenario, routing.api, "levers.routing.api")
    return (
        row_in if routing.input_usd_per_1k_tokens is None else routing.input_usd_per_1k_tokens,
        row_out if routing.output_usd_per_1k_tokens is None else routing.output_usd_per_1k_tokens,
    )


def routed_api_cost_usd(scenario: Scenario, prompt_tokens: float, output_tokens: float) -> float:
    """Tokens of the routing share sent to a hosted API."""
    price_in, price_out = routed_api_prices_usd_per_1k(scenario)
    return (prompt_tokens * price_in + output_tokens * price_out) / 1000.0


def batch_api_cost_usd(scenario: Scenario, prompt_tokens: float, output_tokens: float) -> float:
    """Tokens of the batch share at the batch rate: the API's price less api.batch_discount."""
    price_in, price_out = token_prices_usd_per_1k(
        scenario, scenario.levers.batch.api, "levers.batch.api"
    )
    full = (prompt_tokens * price_in + output_tokens * price_out) / 1000.0
    return full * (1.0 - scenario.api.batch_discount)
