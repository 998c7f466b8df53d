"""Rate profiles: exact means, peaks, bursts, growth, integrals and their inverse."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from distributions.profiles import (
    BurstWindow,
    DiurnalShape,
    constant,
    diurnal,
    hourly,
    with_bursts,
    with_growth,
)

DAY = 86400.0


@pytest.mark.parametrize("peak_to_mean", [1.2, 1.5, 2.0, 2.5, 3.0, 5.0, 10.0])
def test_diurnal_mean_is_exact_and_peak_is_exact(peak_to_mean):
    profile = diurnal(10.0, peak_to_mean, peak_time_s=14 * 3600)
    assert float(profile.cumulative(DAY)) == pytest.approx(10.0 * DAY, rel=1e-12)
    assert float(profile.rate_per_s(14 * 3600)) == pytest.approx(10.0 * peak_to_mean, rel=1e-12)
    t = np.linspace(0, 3 * DAY, 300_001)
    rate = profile.rate_per_s(t)
    assert rate.max() <= 10.0 * peak_to_mean * (1 + 1e-12)
    assert rate.min() >= 0.0


def test_diurnal_up_to_two_is_the_textbook_cosine():
    profile = diurnal(1.0, 1.7, peak_time_s=3600.0)
    t = np.linspace(0, DAY, 1001)
    expected = 1 + 0.7 * np.cos(2 * np.pi * (t - 3600.0) / DAY)
    np.testing.assert_allclose(profile.rate_per_s(t), expected, rtol=1e-12, atol=1e-12)


def test_diurnal_shape_above_two_is_smooth_unimodal_with_nonnegative_trough():
    shape = DiurnalShape(peak_to_mean=3.0, peak_time_s=0.0)
    assert shape.power == 3
    assert shape.base == pytest.approx(1 / 11)
    half = np.linspace(0, DAY / 2, 10_001)
    assert np.all(np.diff(shape.value(half)) <= 1e-15)  # falls from peak to trough
    assert shape.value(np.array([DAY / 2]))[0] == pytest.approx(shape.base)


def test_cumulative_matches_quadrature_with_bursts_and_growth():
    bursts = [BurstWindow(19 * 3600, 3600, 1.5), BurstWindow(23 * 3600, 7200, 2.0, day=1)]
    profile = with_growth(with_bursts(diurnal(10.0, 3.0), bursts), 0.1)
    points = [19 * 3600, 20 * 3600, DAY + 19 * 3600, DAY + 20 * 3600, DAY + 23 * 3600, 2 * DAY]
    for end in (1000.0, 50_000.0, 1.5 * DAY, 2.3 * DAY):
        numeric, _ = integrate.quad(
            lambda x: float(profile.rate_per_s(x)), 0, end, points=points, limit=2000
        )
        assert float(profile.cumulative(end)) == pytest.approx(numeric, rel=1e-9)


def test_hourly_is_piecewise_constant_with_the_given_mean():
    weights = list(range(1, 25))
    profile = hourly(5.0, weights)
    assert float(profile.cumulative(DAY)) == pytest.approx(5.0 * DAY, rel=1e-12)
    hour_mid = np.arange(24) * 3600 + 1800.0
    np.testing.assert_allclose(
        profile.rate_per_s(hour_mid), 5.0 * np.array(weights) * 24 / sum(weights)
    )
    grown = with_growth(profile, 0.2)
    numeric, _ = integrate.quad(
        lambda x: float(grown.rate_per_s(x)), 0, 100_000, points=np.arange(0, 1e5, 3600), limit=3000
    )
    assert float(grown.cumulative(100_000.0)) == pytest.approx(numeric, rel=1e-9)


def test_weekly_hourly_profile_has_a_week_period():
    weights = [1.0] * 24 * 5 + [0.25] * 24 * 2  # quiet weekend
    profile = hourly(2.0, weights)
    week = 7 * DAY
    assert float(profile.cumulative(week)) == pytest.approx(2.0 * week)
    weekday = float(profile.rate_per_s(DAY + 10.0))
    weekend = float(profile.rate_per_s(6 * DAY + 10.0))
    assert weekday / weekend == pytest.approx(4.0)


def test_bursts_multiply_in_their_window_and_overlaps_multiply():
    base = constant(2.0)
    profile = with_bursts(
        base,
        [
            BurstWindow(10 * 3600, 3600, 3.0),  # every day
            BurstWindow(10 * 3600 + 1800, 3600, 2.0, day=1),  # day 1 only, overlaps
            BurstWindow(23 * 3600, 2 * 3600, 4.0),  # crosses midnight
        ],
    )
    at = lambda t: float(profile.rate_per_s(t))  # noqa: E731
    assert at(9 * 3600) == 2.0
    assert at(10 * 3600 + 60) == 6.0
    assert at(DAY + 10 * 3600 + 60) == 6.0
    assert at(DAY + 10 * 3600 + 1860) == 12.0  # both bursts
    assert at(DAY + 11 * 3600 + 60) == 4.0  # only the day-1 burst
    assert at(600.0) == 8.0  # yesterday's 23:00 burst carries into day 0
    assert at(DAY + 23.5 * 3600) == 8.0
    assert float(profile.integral(10 * 3600, 11 * 3600)) == pytest.approx(6.0 * 3600)


def test_growth_is_continuous_and_compounds_per_day():
    profile = with_growth(constant(1.0), 0.05)
    assert float(profile.rate_per_s(DAY) / profile.rate_per_s(0.0)) == pytest.approx(1.05)
    assert float(profile.rate_per_s(DAY / 2)) == pytest.approx(math.sqrt(1.05))
    k = math.log(1.05) / DAY
    assert float(profile.cumulative(3 * DAY)) == pytest.approx(math.expm1(3 * k * DAY) / k)


def test_rate_bounds_hold_on_every_grid_interval():
    profile = with_growth(
        with_bursts(diurnal(7.0, 2.5, 3600.0), [BurstWindow(5 * 3600, 600, 1.7)]), -0.3
    )
    grid = profile.grid(0.0, 2 * DAY, 600.0)
    lo, hi = profile.rate_bounds(grid)
    frac = np.linspace(0, 1, 41)[1:-1]
    t = grid.edges[:-1, None] + np.diff(grid.edges)[:, None] * frac[None, :]
    rate = profile.rate_per_s(t)
    assert np.all(rate <= hi[:, None]) and np.all(rate >= lo[:, None])


def test_time_at_inverts_cumulative():
    profile = with_growth(with_bursts(diurnal(10.0, 3.0), [BurstWindow(19 * 3600, 3600, 1.5)]), 0.1)
    rng = np.random.default_rng(3)
    levels = np.sort(rng.uniform(0, float(profile.cumulative(2 * DAY)), 20_000))
    t = profile.time_at(levels)
    np.testing.assert_allclose(profile.cumulative(t), levels, rtol=1e-11, atol=1e-9)
    flat = hourly(3.0, [0.0] * 6 + [1.0] * 18)  # rate 0 before 06:00
    t0 = flat.time_at(np.array([1e-6, 10.0]))
    assert np.all(t0 >= 6 * 3600)


def test_invalid_profile_arguments_are_refused():
    with pytest.raises(ValueError, match="peak_to_mean"):
        diurnal(1.0, 0.5)
    with pytest.raises(ValueError, match="24 or 168"):
        hourly(1.0, [1.0] * 23)
    with pytest.raises(ValueError, match=">= 0"):
        hourly(1.0, [-1.0] + [1.0] * 23)
    with pytest.raises(ValueError, match="positive"):
        constant(0.0)
