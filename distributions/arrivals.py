"""Arrival processes over a rate profile, generated exactly and in bounded-memory chunks.

Non-homogeneous Poisson: exact thinning (Lewis and Shedler) against a
piecewise-constant envelope. The horizon is cut into chunk windows of at most
`chunk_size` expected arrivals; each window into intervals of at most 60 s,
aligned with every jump of the profile (hour steps, burst edges). On interval
i the envelope is the exact upper bound R_i of the rate there; the envelope's
points are a Poisson(R_i * width) count placed as sorted uniforms (normalised
cumulative sums of exponentials, so no sort is needed), and each point is kept
with probability rate(t) / R_i. A point whose uniform falls below the interval's
lower bound is kept without evaluating the rate (a squeeze), so the smooth
profile is evaluated for few points (about 0.3% of them for a 2x diurnal day).
When the rate is constant on each interval (flat or hourly profile, no growth)
every point is kept.

Gamma renewal with coefficient of variation cv, modulated by the profile, by
time rescaling: a stationary unit-rate gamma renewal process in operational
time u = Lambda(t) (the first point from the equilibrium forward-recurrence
distribution, so it is stationary from t = 0), mapped back through
t = Lambda^-1(u). cv = 1 is the Poisson process.

Both give sorted float64 seconds in [0, horizon_s). Windows are independent
for Poisson, so chunking changes which random numbers land where, not the
distribution; the same seed and chunk_size give identical arrays.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np

from distributions.profiles import RateProfile

DEFAULT_CHUNK_SIZE = 1_000_000
MAX_INTERVAL_S = 60.0


def chunk_edges(
    profile: RateProfile, horizon_s: float, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> np.ndarray:
    """Window edges over [0, horizon_s]; each window holds at most chunk_size expected arrivals."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    total = float(profile.cumulative(horizon_s))
    n_windows = max(1, math.ceil(total / chunk_size))
    inner = profile.time_at(total * np.arange(1, n_windows) / n_windows)
    longest_s = chunk_size * MAX_INTERVAL_S  # bounds the number of intervals per window
    by_time = np.arange(longest_s, horizon_s, longest_s)
    edges = np.unique(np.concatenate([[0.0], inner, by_time, [horizon_s]]))
    return edges[(edges >= 0.0) & (edges <= horizon_s)]


def poisson_arrivals(
    profile: RateProfile,
    start_s: float,
    end_s: float,
    rng: np.random.Generator,
    max_interval_s: float = MAX_INTERVAL_S,
) -> np.ndarray:
    """Sorted arrival times of the non-homogeneous Poisson process in [start_s, end_s)."""
    if end_s <= start_s:
        return np.empty(0)
    grid = profile.grid(start_s, end_s, max_interval_s)
    lower_per_s, upper_per_s = profile.rate_bounds(grid)
    widths_s = grid.widths_s
    counts = rng.poisson(upper_per_s * widths_s)
    arrival_s, interval = _sorted_uniform_points(grid.edges, counts, rng)
    if not profile.piecewise_constant and arrival_s.size:
        mark = rng.random(arrival_s.size) * upper_per_s[interval]
        keep = mark < lower_per_s[interval]
        unsure = np.flatnonzero(~keep)
        if unsure.size:
            rate = grid.factor_per_s[interval[unsure]] * profile.smooth_factor(arrival_s[unsure])
            keep[unsure] = mark[unsure] < rate
        arrival_s = arrival_s[keep]
    if arrival_s.size and arrival_s[-1] >= end_s:  # a rounding hair at the window's end
        arrival_s = np.minimum(arrival_s, np.nextafter(end_s, -np.inf))
    return arrival_s


def iter_poisson_chunks(
    profile: RateProfile,
    horizon_s: float,
    rng: np.random.Generator,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[np.ndarray]:
    """Poisson arrivals over [0, horizon_s), one sorted array per chunk window (maybe empty)."""
    edges = chunk_edges(profile, horizon_s, chunk_size)
    for start_s, end_s in itertools.pairwise(edges):
        yield poisson_arrivals(profile, float(start_s), float(end_s), rng)


def iter_gamma_chunks(
    profile: RateProfile,
    horizon_s: float,
    cv: float,
    rng: np.random.Generator,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[np.ndarray]:
    """Gamma-renewal arrivals (inter-arrival cv in operational time) over [0, horizon_s)."""
    if cv <= 0:
        raise ValueError(f"cv must be > 0, got {cv}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    shape = 1.0 / cv**2
    scale = cv**2  # unit mean
    total = float(profile.cumulative(horizon_s))
    # Stationary start: the forward recurrence time is U * (a length-biased interval).
    last = rng.random() * rng.gamma(shape + 1.0, scale)
    if last >= total:
        return
    while True:
        steps = rng.gamma(shape, scale, size=chunk_size - 1)
        levels = np.concatenate([[last], last + np.cumsum(steps)])
        inside = levels[levels < total]
        arrival_s = np.maximum.accumulate(profile.time_at(inside))
        yield np.minimum(arrival_s, np.nextafter(horizon_s, -np.inf))
        if inside.size < levels.size:
            return
        last = levels[-1] + rng.gamma(shape, scale)
        if last >= total:
            return


def iter_arrival_chunks(
    profile: RateProfile,
    horizon_s: float,
    rng: np.random.Generator,
    process: str = "poisson",
    cv: float = 1.0,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[np.ndarray]:
    """Arrivals of the named process ("poisson" or "gamma") in sorted chunks."""
    if process == "poisson":
        return iter_poisson_chunks(profile, horizon_s, rng, chunk_size)
    if process == "gamma":
        return iter_gamma_chunks(profile, horizon_s, cv, rng, chunk_size)
    raise ValueError(f"unknown arrival process {process!r}: use 'poisson' or 'gamma'")


def arrival_times(
    profile: RateProfile,
    horizon_s: float,
    rng: np.random.Generator,
    process: str = "poisson",
    cv: float = 1.0,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> np.ndarray:
    """All arrivals over [0, horizon_s) at once (the chunks concatenated), for small runs."""
    chunks = list(iter_arrival_chunks(profile, horizon_s, rng, process, cv, chunk_size))
    return np.concatenate(chunks) if chunks else np.empty(0)


def _sorted_uniform_points(
    edges: np.ndarray, counts: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """counts[i] sorted uniform points in each [edges[i], edges[i+1]), and their interval index.

    Sorted uniforms on an interval are the partial sums of counts[i] + 1 exponentials
    divided by their total; one cumulative sum over all intervals does them all.
    """
    n_intervals = counts.size
    n_points = int(counts.sum())
    if n_points == 0:
        return np.empty(0), np.empty(0, dtype=np.int64)
    sums = np.cumsum(rng.standard_exponential(n_points + n_intervals))
    block_end = np.cumsum(counts + 1) - 1  # the extra exponential closing each block
    block_base = np.concatenate([[0.0], sums[block_end[:-1]]])
    scale = np.diff(edges) / (sums[block_end] - block_base)
    is_point = np.ones(sums.size, dtype=bool)
    is_point[block_end] = False
    interval = np.repeat(np.arange(n_intervals), counts)
    arrival_s = (sums[is_point] - block_base[interval]) * scale[interval] + edges[:-1][interval]
    return arrival_s, interval
