"""From a Scenario to requests: arrival times, token counts and classes, in chunks.

Random streams: the Generator passed in is not drawn from; two children are
spawned from it, one for arrival times and one for request sizes (class and
tokens). So changing token distributions leaves the arrival times unchanged,
and the caller's own draws from the Generator are unaffected.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from distributions import profiles
from distributions.arrivals import DEFAULT_CHUNK_SIZE, iter_arrival_chunks
from distributions.profiles import BurstWindow, RateProfile
from distributions.request_classes import assign_classes, class_names, sample_class_tokens
from distributions.tokens import (
    capped_mean,
    dist_mean_cv,
    summarize_histogram,
    to_token_counts,
)
from distributions.trace import Trace, TraceRateProfile, iter_trace_chunks, load_trace

if TYPE_CHECKING:  # the scenario's sections, read by attribute
    from sim.scenario.schema import Scenario, Traffic


@dataclass(frozen=True, eq=False)
class RequestChunk:
    """Equal-length arrays describing consecutive requests, sorted by arrival time."""

    arrival_s: np.ndarray  # float64, seconds from the start, < horizon
    prompt_tokens: np.ndarray  # int64, 1..max_context_tokens
    output_tokens: np.ndarray  # int64, 1..max_context_tokens
    class_index: np.ndarray  # int16, index into class_names(scenario)

    def __len__(self) -> int:
        return int(self.arrival_s.size)


def rate_profile(traffic: Traffic) -> RateProfile:
    """The rate profile of a non-trace [traffic] section: shape, bursts and growth."""
    mean_rate_per_s = traffic.mean_rate_per_s
    if traffic.profile == "constant":
        profile = profiles.constant(mean_rate_per_s)
    elif traffic.profile == "diurnal":
        profile = profiles.diurnal(mean_rate_per_s, traffic.peak_to_mean, traffic.peak_time)
    elif traffic.profile == "hourly":
        profile = profiles.hourly(mean_rate_per_s, traffic.hourly_weights or [])
    else:
        raise ValueError(f"profile {traffic.profile!r} is not a rate profile")
    if traffic.bursts:
        windows = [BurstWindow(b.start, b.duration, b.multiplier, b.day) for b in traffic.bursts]
        profile = profiles.with_bursts(profile, windows)
    if traffic.growth_per_day != 0.0:
        profile = profiles.with_growth(profile, traffic.growth_per_day)
    return profile


def scenario_trace(scenario: Scenario) -> Trace:
    """The scenario's trace, loaded and checked for replay (token columns required only
    if the file names them; a looped trace must be able to loop)."""
    spec = scenario.traffic.trace
    if spec is None:
        raise ValueError("the scenario does not replay a trace")
    named = spec.model_fields_set
    trace = load_trace(
        spec.file,
        spec.timestamp_column,
        spec.prompt_column,
        spec.output_column,
        require_token_columns=bool({"prompt_column", "output_column"} & named),
    )
    if spec.loop:
        trace.period_s(spec.time_scale)  # raises for a trace that cannot loop
    return trace


def traffic_profile(scenario: Scenario) -> RateProfile | TraceRateProfile:
    """The rate function the scenario's arrivals follow (rate_per_s, cumulative, integral)."""
    if scenario.traffic.closed_loop:
        raise ValueError("closed-loop clients (traffic.arrival = 'closed') follow no rate profile")
    spec = scenario.traffic.trace
    if scenario.traffic.profile == "trace" and spec is not None:
        return TraceRateProfile(
            scenario_trace(scenario), spec.time_scale, spec.rate_scale, spec.loop
        )
    return rate_profile(scenario.traffic)


def expected_request_count(scenario: Scenario) -> float:
    """Expected arrivals over the horizon: the exact integral of the rate, or the trace count."""
    return float(traffic_profile(scenario).cumulative(scenario.horizon))


def iter_request_chunks(
    scenario: Scenario, rng: np.random.Generator, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[RequestChunk]:
    """The scenario's requests over its horizon, in non-empty chunks of about chunk_size.

    None for closed-loop clients: their arrivals follow completions, so the engine
    sends them (`sim/engine/clients.py`, sizes from `distributions/closed_loop.py`).
    """
    arrival_rng, size_rng = rng.spawn(2)
    requests = scenario.requests
    max_tokens = requests.max_context_tokens
    for arrival_s, row, trace in _iter_arrivals(scenario, arrival_rng, chunk_size):
        n = arrival_s.size
        if n == 0:
            continue
        class_index = assign_classes(requests, n, size_rng)
        tokens = []
        for kind in ("prompt", "output"):
            column = None
            if trace is not None:
                column = trace.prompt_tokens if kind == "prompt" else trace.output_tokens
            if column is not None:
                tokens.append(to_token_counts(column[row], max_tokens))
            else:
                tokens.append(sample_class_tokens(requests, class_index, kind, size_rng))
        prompt, output = token_levers(requests, tokens[0], tokens[1])
        yield RequestChunk(arrival_s, prompt, output, class_index)


def token_levers(
    requests: Any, prompt_tokens: np.ndarray, output_tokens: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The token counts after prompt compression and the max_output_tokens cap.

    Applied after the draws, so the same seed gives the same requests, only shorter;
    without either lever the arrays are returned as they are.
    """
    if requests.prompt_compression:
        kept = np.rint(prompt_tokens * (1.0 - requests.prompt_compression))
        prompt_tokens = np.maximum(kept, 1).astype(np.int64)
    if requests.max_output_tokens is not None:
        output_tokens = np.minimum(output_tokens, requests.max_output_tokens)
    return prompt_tokens, output_tokens


def _iter_arrivals(
    scenario: Scenario, rng: np.random.Generator, chunk_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray | None, Trace | None]]:
    traffic = scenario.traffic
    spec = traffic.trace
    if traffic.closed_loop:
        return  # clients send as replies come back: the engine makes the arrivals
    if traffic.profile == "trace" and spec is not None:
        trace = scenario_trace(scenario)
        for chunk in iter_trace_chunks(
            trace, scenario.horizon, rng, spec.time_scale, spec.rate_scale, spec.loop, chunk_size
        ):
            yield chunk.arrival_s, chunk.row, trace
        return
    profile = rate_profile(traffic)
    for arrival_s in iter_arrival_chunks(
        profile, scenario.horizon, rng, traffic.arrival, traffic.cv, chunk_size
    ):
        yield arrival_s, None, None


def generate_requests(scenario: Scenario, rng: np.random.Generator) -> RequestChunk:
    """All of the scenario's requests at once (the chunks concatenated), for small runs."""
    chunks = list(iter_request_chunks(scenario, rng))
    if not chunks:
        return RequestChunk(
            np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int16)
        )
    return RequestChunk(
        *(np.concatenate([getattr(c, name) for c in chunks]) for name in _CHUNK_FIELDS)
    )


_CHUNK_FIELDS = ("arrival_s", "prompt_tokens", "output_tokens", "class_index")


# ---------------------------------------------------------------- summaries


# The most bins a traffic summary holds: a week at one-second bins fits, a horizon
# in microseconds (billions of counters) does not.
MAX_TRAFFIC_BINS = 1_000_000


def bin_count(bin_s: float, horizon_s: float) -> int:
    """How many bins of bin_s cover the horizon (the last may be short)."""
    return max(1, math.ceil(horizon_s / bin_s - 1e-9))


def bin_counts(arrival_s: np.ndarray, bin_s: float, horizon_s: float) -> np.ndarray:
    """Arrivals per bin [i * bin_s, (i + 1) * bin_s) up to horizon_s; the last may be short."""
    n_bins = bin_count(bin_s, horizon_s)
    index = np.floor(np.asarray(arrival_s, dtype=float) / bin_s).astype(np.int64)
    index = index[(index >= 0) & (index < n_bins)]
    return np.bincount(index, minlength=n_bins).astype(np.int64)


def bin_edges(bin_s: float, horizon_s: float) -> np.ndarray:
    """Edges of the bins bin_counts uses, ending at horizon_s."""
    n_bins = bin_count(bin_s, horizon_s)
    return np.minimum(np.arange(n_bins + 1) * bin_s, horizon_s)


def bin_rates_per_s(counts: np.ndarray, edges_s: np.ndarray) -> np.ndarray:
    """Arrivals per second of each bin over its own width (the last bin may be short)."""
    widths_s = np.diff(np.asarray(edges_s, dtype=float))
    counts = np.asarray(counts, dtype=float)
    return np.divide(counts, widths_s, out=np.zeros_like(counts), where=widths_s > 0)


def traffic_summary(
    scenario: Scenario,
    seed: int | None = None,
    bin_s: float = 3600.0,
    rng: np.random.Generator | None = None,
) -> dict[str, Any]:
    """One replication's traffic, binned and summarised; what `capsim traffic --json` prints.

    This is replication 0's traffic: the generator is
    numpy.random.default_rng(numpy.random.SeedSequence(seed).spawn(1)[0]), with
    seed defaulting to the scenario's. Pass rng to summarise another stream.
    Requests are consumed chunk by chunk, so any volume fits in memory; token
    percentiles are exact (from a histogram of whole token counts).
    """
    if not bin_s > 0:
        raise ValueError(f"bin_s must be > 0, got {bin_s}")
    if bin_count(bin_s, scenario.horizon) > MAX_TRAFFIC_BINS:
        raise ValueError(f"bin_s {bin_s} makes more than {MAX_TRAFFIC_BINS:,} bins")
    seed = scenario.seed if seed is None else seed
    if rng is None:
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    horizon_s = scenario.horizon
    names = class_names(scenario.requests)
    counts = np.zeros(len(bin_edges(bin_s, horizon_s)) - 1, dtype=np.int64)
    token_hist = {
        kind: np.zeros(scenario.requests.max_context_tokens + 1, np.int64)
        for kind in ("prompt", "output")
    }
    class_counts = np.zeros(len(names), dtype=np.int64)
    for chunk in iter_request_chunks(scenario, rng):
        counts += bin_counts(chunk.arrival_s, bin_s, horizon_s)
        token_hist["prompt"] += np.bincount(
            chunk.prompt_tokens, minlength=token_hist["prompt"].size
        )
        token_hist["output"] += np.bincount(
            chunk.output_tokens, minlength=token_hist["output"].size
        )
        class_counts += np.bincount(chunk.class_index, minlength=len(names))
    edges = bin_edges(bin_s, horizon_s)
    widths_s = np.diff(edges)
    profile = traffic_profile(scenario)
    target_per_s = np.asarray(profile.integral(edges[:-1], edges[1:])) / widths_s
    rate_per_s = bin_rates_per_s(counts, edges)
    total = int(counts.sum())
    return {
        "scenario": scenario.name,
        "seed": seed,
        "replication": 0,
        "horizon_s": horizon_s,
        "bin_s": bin_s,
        "counts": counts.tolist(),
        "rate_per_s": rate_per_s.tolist(),
        "total": total,
        "mean_rate_per_s": total / horizon_s,
        "peak_rate_per_s": float(np.max(rate_per_s)),
        "expected_total": expected_request_count(scenario),
        "target_rate_per_s": target_per_s.tolist(),
        "prompt_tokens": summarize_histogram(token_hist["prompt"]),
        "output_tokens": summarize_histogram(token_hist["output"]),
        "classes": {name: int(n) for name, n in zip(names, class_counts, strict=True)},
    }


def _trace_column_mean(
    scenario: Scenario, column: str | None, cap: int | None = None
) -> float | None:
    trace = scenario.traffic.trace
    if trace is None or column is None or scenario.traffic.profile != "trace":
        return None
    import pandas as pd

    try:
        values = pd.read_csv(trace.file, usecols=[column])[column]
    except (ValueError, KeyError):
        return None
    return float((values if cap is None else values.clip(upper=cap)).mean())


def prompt_tokens_mean(scenario: Scenario) -> float:
    """Mean prompt tokens: the replayed trace's column if it has one, else [requests];
    less the share `requests.prompt_compression` drops."""
    trace = scenario.traffic.trace
    from_trace = _trace_column_mean(scenario, trace.prompt_column if trace else None)
    mean = (
        from_trace if from_trace is not None else dist_mean_cv(scenario.requests.prompt_tokens)[0]
    )
    compression = scenario.requests.prompt_compression
    return mean * (1.0 - compression) if compression else mean


def output_tokens_mean(scenario: Scenario) -> float:
    """Mean output tokens: the replayed trace's column if it has one, else [requests];
    under `requests.max_output_tokens`, the mean of the capped reply."""
    trace = scenario.traffic.trace
    cap = scenario.requests.max_output_tokens
    from_trace = _trace_column_mean(scenario, trace.output_column if trace else None, cap)
    if from_trace is not None:
        return from_trace
    if cap is not None:
        return capped_mean(scenario.requests.output_tokens, cap)
    return dist_mean_cv(scenario.requests.output_tokens)[0]
