"""Arrival processes: Poisson counts, peaks, bursts, KS, gamma cv, chunking, reproducibility.

Tolerances come from the sample size: a Poisson count is within 4 standard
deviations sqrt(expected) of its expectation; estimates within 4 standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import gammaln

from distributions.arrivals import (
    arrival_times,
    chunk_edges,
    iter_gamma_chunks,
    iter_poisson_chunks,
    poisson_arrivals,
)
from distributions.profiles import BurstWindow, constant, diurnal, hourly, with_bursts, with_growth

DAY = 86400.0
HOUR = 3600.0


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def hourly_counts(arrival_s: np.ndarray, horizon_s: float) -> np.ndarray:
    return np.bincount((arrival_s // HOUR).astype(int), minlength=int(horizon_s // HOUR))


def assert_poisson_counts(counts: np.ndarray, expected: np.ndarray) -> None:
    assert np.all(np.abs(counts - expected) <= 4 * np.sqrt(expected)), (counts, expected)


def test_counts_per_bin_match_the_integral_of_the_rate():
    profile = with_growth(with_bursts(diurnal(50.0, 2.0), [BurstWindow(19 * HOUR, HOUR, 1.5)]), 0.2)
    horizon = 2 * DAY
    arrivals = arrival_times(profile, horizon, rng(1))
    edges = np.arange(0, horizon + 1, HOUR)
    expected = profile.integral(edges[:-1], edges[1:])
    assert_poisson_counts(hourly_counts(arrivals, horizon), expected)
    assert np.all(np.diff(arrivals) >= 0) and arrivals[0] >= 0 and arrivals[-1] < horizon
    assert arrivals.dtype == np.float64


def test_hourly_profile_counts_match():
    weights = [0.0] * 4 + [1.0, 2.0, 3.0, 4.0] * 5
    profile = hourly(20.0, weights)
    arrivals = arrival_times(profile, DAY, rng(2))
    expected = 20.0 * HOUR * np.array(weights) * 24 / sum(weights)
    counts = hourly_counts(arrivals, DAY)
    assert np.all(counts[:4] == 0)
    assert_poisson_counts(counts[4:], expected[4:])


@pytest.mark.parametrize("peak_to_mean", [2.0, 3.0])
def test_measured_peak_to_mean_at_high_rate(peak_to_mean):
    # Peak at 14:30 so that one hourly bin is centred on it.
    mean_rate = 1e7 / DAY
    profile = diurnal(mean_rate, peak_to_mean, peak_time_s=14.5 * HOUR)
    arrivals = arrival_times(profile, DAY, rng(3))
    counts = hourly_counts(arrivals, DAY)
    measured = counts.max() * 24 / counts.sum()
    # The peak hour's mean rate is a hair below the instantaneous peak (deterministic):
    peak_hour = float(profile.integral(14 * HOUR, 15 * HOUR)) / HOUR / mean_rate
    assert peak_to_mean * 0.99 < peak_hour <= peak_to_mean
    expected_peak_count = peak_hour * mean_rate * HOUR
    sd = peak_hour * math.sqrt(1 / expected_peak_count - 1 / (mean_rate * DAY))
    assert abs(measured - peak_hour) <= 4 * sd
    assert int(np.argmax(counts)) == 14


def test_burst_windows_carry_their_multiplier():
    profile = with_bursts(
        constant(40.0),
        [BurstWindow(10 * HOUR, HOUR, 3.0), BurstWindow(16 * HOUR, HOUR, 0.5, day=0)],
    )
    arrivals = arrival_times(profile, DAY, rng(4))
    counts = hourly_counts(arrivals, DAY)
    base = 40.0 * HOUR
    expected = np.full(24, base)
    expected[10] *= 3.0
    expected[16] *= 0.5
    assert_poisson_counts(counts, expected)
    ratio = counts[10] / counts[9]
    sd = 3.0 * math.sqrt(1 / (3 * base) + 1 / base)
    assert abs(ratio - 3.0) <= 4 * sd


def test_constant_poisson_interarrivals_are_exponential():
    rate = 10.0
    arrivals = arrival_times(constant(rate), 20_000.0, rng(5))
    gaps = np.diff(arrivals)
    assert stats.kstest(gaps, "expon", args=(0, 1 / rate)).pvalue > 1e-3
    # and the times themselves are uniform over the horizon
    assert stats.kstest(arrivals, "uniform", args=(0, 20_000.0)).pvalue > 1e-3


def test_diurnal_poisson_is_exact_under_time_rescaling():
    # Lambda(t_i) of a Poisson process with cumulative rate Lambda is a unit-rate Poisson process.
    profile = with_bursts(diurnal(3.0, 3.0), [BurstWindow(7 * HOUR, 2 * HOUR, 2.0)])
    arrivals = arrival_times(profile, DAY, rng(6))
    unit_gaps = np.diff(profile.cumulative(arrivals))
    assert stats.kstest(unit_gaps, "expon").pvalue > 1e-3


def gamma_cv2_standard_error(cv: float, n: int) -> float:
    """Standard error of the sample cv^2 of n gamma(mean 1, cv) draws (delta method)."""
    shape = 1 / cv**2
    scale = cv**2
    raw = [math.exp(gammaln(shape + k) - gammaln(shape)) * scale**k for k in range(5)]
    m, v = raw[1], raw[2] - raw[1] ** 2
    mu3 = raw[3] - 3 * m * raw[2] + 2 * m**3
    mu4 = raw[4] - 4 * m * raw[3] + 6 * m**2 * raw[2] - 3 * m**4
    g_m, g_v = -2 * v / m**3, 1 / m**2
    return math.sqrt((g_m**2 * v + g_v**2 * (mu4 - v**2) + 2 * g_m * g_v * mu3) / n)


@pytest.mark.parametrize("cv", [0.5, 3.0])
def test_gamma_renewal_has_the_requested_cv(cv):
    rate = 4.0
    horizon = 100_000.0
    arrivals = np.concatenate(list(iter_gamma_chunks(constant(rate), horizon, cv, rng(7), 30_000)))
    gaps = np.diff(arrivals) * rate
    cv2 = gaps.var() / gaps.mean() ** 2
    assert abs(cv2 - cv**2) <= 4 * gamma_cv2_standard_error(cv, gaps.size)
    assert abs(gaps.mean() - 1.0) <= 4 * cv / math.sqrt(gaps.size)
    assert np.all(np.diff(arrivals) >= 0) and arrivals[-1] < horizon


def test_gamma_renewal_follows_the_profile():
    cv = 2.0
    profile = diurnal(20.0, 2.0)
    arrivals = np.concatenate(list(iter_gamma_chunks(profile, DAY, cv, rng(8), 200_000)))
    edges = np.arange(0, DAY + 1, 2 * HOUR)
    expected = profile.integral(edges[:-1], edges[1:])
    counts = np.histogram(arrivals, edges)[0]
    # a renewal count's variance is about cv^2 times its mean
    assert np.all(np.abs(counts - expected) <= 4 * cv * np.sqrt(expected) + 4 * cv**2)


def test_gamma_with_cv_one_is_poisson():
    arrivals = np.concatenate(list(iter_gamma_chunks(diurnal(2.0, 2.0), DAY, 1.0, rng(9))))
    unit_gaps = np.diff(diurnal(2.0, 2.0).cumulative(arrivals))
    assert stats.kstest(unit_gaps, "expon").pvalue > 1e-3


def test_chunks_cover_the_horizon_without_gaps_or_overlaps():
    profile = with_bursts(diurnal(5.0, 2.0), [BurstWindow(19 * HOUR, HOUR, 1.5)])
    horizon = DAY
    chunk_size = 20_000
    edges = chunk_edges(profile, horizon, chunk_size)
    assert edges[0] == 0.0 and edges[-1] == horizon and np.all(np.diff(edges) > 0)
    per_window = profile.integral(edges[:-1], edges[1:])
    assert np.all(per_window <= chunk_size * (1 + 1e-9))
    chunks = list(iter_poisson_chunks(profile, horizon, rng(10), chunk_size))
    assert len(chunks) == len(edges) - 1
    for chunk, start, end in zip(chunks, edges[:-1], edges[1:], strict=True):
        assert np.all(np.diff(chunk) >= 0)
        assert chunk.size == 0 or (chunk[0] >= start and chunk[-1] < end)
    together = np.concatenate(chunks)
    assert np.all(np.diff(together) >= 0)
    expected = profile.integral(np.arange(24) * HOUR, np.arange(1, 25) * HOUR)
    assert_poisson_counts(hourly_counts(together, horizon), expected)
    # the same statistics as one big chunk (different draws)
    whole = arrival_times(profile, horizon, rng(11))
    assert_poisson_counts(hourly_counts(whole, horizon), expected)
    total = float(profile.cumulative(horizon))
    assert abs(together.size - whole.size) <= 4 * math.sqrt(2 * total)


def test_window_generation_respects_its_bounds():
    profile = diurnal(100.0, 2.0)
    arrivals = poisson_arrivals(profile, 1000.0, 1300.0, rng(12))
    assert arrivals.min() >= 1000.0 and arrivals.max() < 1300.0
    assert poisson_arrivals(profile, 5.0, 5.0, rng(12)).size == 0


def test_same_seed_gives_identical_arrays():
    profile = with_growth(diurnal(3.0, 2.5), 0.1)
    a = arrival_times(profile, DAY, rng(13), chunk_size=50_000)
    b = arrival_times(profile, DAY, rng(13), chunk_size=50_000)
    np.testing.assert_array_equal(a, b)
    c = arrival_times(profile, DAY, rng(14), chunk_size=50_000)
    assert a.size != c.size or not np.array_equal(a, c)
    g1 = arrival_times(profile, DAY, rng(15), process="gamma", cv=2.0)
    g2 = arrival_times(profile, DAY, rng(15), process="gamma", cv=2.0)
    np.testing.assert_array_equal(g1, g2)


def test_unknown_process_is_refused():
    with pytest.raises(ValueError, match="poisson"):
        arrival_times(constant(1.0), 10.0, rng(0), process="weibull")
