"""The request stream split by the cost levers: cache hits, a batch share, a routed share.

One seeded draw per request and lever (from the replication's "levers" stream), made
whether a lever is on or not, so that variants of a scenario split the same requests
the same way: a 40% cache and a 30% batch share pick the same requests in every
variant that has them (common random numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from distributions.traffic import RequestChunk
from sim.scenario.schema import Scenario


@dataclass(frozen=True, eq=False)
class StreamSplit:
    """Boolean masks over a replication's requests; exactly one is true per request."""

    hit: np.ndarray  # answered from the response cache
    batch: np.ndarray  # sent to the hosted batch API
    routed: np.ndarray  # sent to the smaller model (hosted API or second fleet)
    main: np.ndarray  # served by the scenario's own fleet


def split_stream(
    scenario: Scenario, requests: RequestChunk, rng: np.random.Generator
) -> StreamSplit:
    """Which requests each lever takes: the cache first, then batch, then routing."""
    levers = scenario.levers
    n = len(requests)
    draws = rng.random((3, n))
    hit = cache_hits(scenario, requests.arrival_s, draws[0], rng)
    batch = ~hit & (draws[1] < levers.batch.share)
    routed = ~hit & ~batch & (draws[2] < levers.routing.share)
    return StreamSplit(hit, batch, routed, ~(hit | batch | routed))


def cache_hits(
    scenario: Scenario, arrival_s: np.ndarray, draw: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Requests the cache answers.

    Without a TTL each request is a hit with probability hit_rate (a steady-state hit
    rate). With one, a hit_rate share of requests ask one of distinct_prompts prompts
    (uniformly); a miss stores its answer, and a later request for the same prompt
    within ttl of that store is a hit (entries are not refreshed by hits).
    """
    cache = scenario.levers.cache
    cacheable = draw < cache.hit_rate
    if cache.ttl is None or cache.distinct_prompts is None:
        return cacheable
    keys = rng.integers(cache.distinct_prompts, size=len(arrival_s))
    hit = np.zeros(len(arrival_s), dtype=bool)
    stored_s: dict[int, float] = {}
    ttl_s = cache.ttl
    for i in np.flatnonzero(cacheable).tolist():  # in arrival order: a per-key TTL clock
        key = int(keys[i])
        t = float(arrival_s[i])
        since = stored_s.get(key)
        if since is not None and t - since < ttl_s:
            hit[i] = True
        else:
            stored_s[key] = t
    return hit


def subset(requests: RequestChunk, mask: np.ndarray) -> RequestChunk:
    """The requests of a mask, still sorted by arrival."""
    return RequestChunk(
        requests.arrival_s[mask],
        requests.prompt_tokens[mask],
        requests.output_tokens[mask],
        requests.class_index[mask],
    )
