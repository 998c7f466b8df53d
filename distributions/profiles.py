"""Arrival-rate profiles: rate(t) in requests per second and its exact integral.

A profile is

    rate(t) = mean_rate_per_s * shape(t) * bursts(t) * (1 + growth_per_day) ** (t / 86400)

where `shape` has mean exactly 1 over its period (flat, diurnal or hourly steps),
`bursts` multiplies the rate inside burst windows (overlapping bursts multiply)
and the growth factor is continuous. Everything the arrival generators need is
here: the rate, the exact cumulative expected count Lambda(t) (closed form, no
quadrature), per-interval bounds on the rate (for thinning) and the inverse of
Lambda (for time-rescaled renewal processes).

Diurnal shape. With theta = 2*pi*(t - peak_time_s)/period_s and peak-to-mean p:

* p <= 2: shape = 1 + (p - 1) * cos(theta), the textbook daily cycle.
* any p >= 1 (the general form, identical to the above for p <= 2):
  shape = base + weight * ((1 + cos(theta)) / 2) ** n, where n is the smallest
  integer with 1 / c_n >= p, c_n = C(2n, n) / 4**n being the mean of
  ((1 + cos)/2) ** n over a period; weight = (p - 1) / (1 - c_n) and
  base = 1 - weight * c_n >= 0. So the mean is exactly 1, the peak (theta = 0)
  exactly p, the trough (theta = pi) is `base`, and the shape is smooth and
  unimodal. Raising n narrows the peak; for p = 3, n = 3 and the trough is
  1/11 of the mean. Because ((1 + cos)/2) ** n is a finite cosine series
  (coefficients C(2n, n + j) / 4**n), the integral, also with growth, is in
  closed form.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

SECONDS_PER_DAY = 86400.0
SECONDS_PER_WEEK = 7 * SECONDS_PER_DAY
_ENVELOPE_SLACK = 1e-12  # relative widening of rate bounds, so rounding never breaks them
# The sharpest diurnal peak supported. The raised-cosine power grows as pi p^2 / 4
# (32 cosine terms at 10, whose cost every integral pays; at 40 the coefficients
# overflow a float): at 10 the peak is ~2.2 h wide at half height and the trough
# 0.7 % of the mean. Sharper daily spikes are hourly weights or bursts.
MAX_DIURNAL_PEAK_TO_MEAN = 10.0


# ---------------------------------------------------------------- shapes


@dataclass(frozen=True)
class DiurnalShape:
    """Smooth daily cycle with mean exactly 1 and peak exactly peak_to_mean (see module doc)."""

    peak_to_mean: float
    peak_time_s: float = 14 * 3600.0
    period_s: float = SECONDS_PER_DAY

    def __post_init__(self) -> None:
        if not self.peak_to_mean > 1:
            raise ValueError(f"a diurnal shape needs peak_to_mean > 1, got {self.peak_to_mean}")
        if not self.peak_to_mean <= MAX_DIURNAL_PEAK_TO_MEAN:
            raise ValueError(
                f"a diurnal shape needs peak_to_mean <= {MAX_DIURNAL_PEAK_TO_MEAN:g}, "
                f"got {self.peak_to_mean}"
            )

    @cached_property
    def power(self) -> int:
        """Smallest n whose raised-cosine power can reach the peak with a non-negative trough."""
        n = 1
        while 1.0 / _raised_cosine_mean(n) < self.peak_to_mean:
            n += 1
        return n

    @cached_property
    def weight(self) -> float:
        return (self.peak_to_mean - 1.0) / (1.0 - _raised_cosine_mean(self.power))

    @cached_property
    def base(self) -> float:
        """The trough value (the shape at peak_time_s + period_s / 2)."""
        return max(0.0, 1.0 - self.weight * _raised_cosine_mean(self.power))

    @cached_property
    def cosine_coefficients(self) -> np.ndarray:
        """a_j with shape = 1 + sum_j a_j cos(j * theta), j = 1..n."""
        n = self.power
        return np.array([self.weight * 2 * math.comb(2 * n, n + j) / 4**n for j in range(1, n + 1)])

    @property
    def omega_per_s(self) -> float:
        return 2 * math.pi / self.period_s

    def value(self, t_s: np.ndarray) -> np.ndarray:
        """The shape at times t_s."""
        theta = self.omega_per_s * (np.asarray(t_s, dtype=float) - self.peak_time_s)
        raised = 0.5 * (1.0 + np.cos(theta))
        return self.base + self.weight * raised**self.power

    def antiderivative(self, x_s: np.ndarray, growth_per_s: float) -> np.ndarray:
        """Integral of shape(u) * exp(growth_per_s * u) over u in [0, x_s]."""
        x = np.asarray(x_s, dtype=float)
        k = growth_per_s
        total = _exp_integral(x, k)
        omega = self.omega_per_s
        for j, a_j in enumerate(self.cosine_coefficients, start=1):
            w = j * omega
            phase_x = w * (x - self.peak_time_s)
            phase_0 = -w * self.peak_time_s
            if k == 0.0:
                total = total + a_j * (np.sin(phase_x) - math.sin(phase_0)) / w
            else:
                at_x = np.exp(k * x) * (k * np.cos(phase_x) + w * np.sin(phase_x))
                at_0 = k * math.cos(phase_0) + w * math.sin(phase_0)
                total = total + a_j * (at_x - at_0) / (k * k + w * w)
        return total

    def bounds(self, start_s: np.ndarray, end_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of the shape on each interval [start_s, end_s]."""
        a = np.asarray(start_s, dtype=float)
        b = np.asarray(end_s, dtype=float)
        va, vb = self.value(a), self.value(b)
        peak_inside = _contains_phase(a, b, self.peak_time_s, self.period_s)
        trough_inside = _contains_phase(a, b, self.peak_time_s + self.period_s / 2, self.period_s)
        hi = np.where(peak_inside, self.peak_to_mean, np.maximum(va, vb))
        lo = np.where(trough_inside, self.base, np.minimum(va, vb))
        return lo * (1 - _ENVELOPE_SLACK), hi * (1 + _ENVELOPE_SLACK)


@dataclass(frozen=True)
class HourlyShape:
    """Piecewise-constant levels over a period (24 per day or 168 per week), mean exactly 1."""

    levels: tuple[float, ...]
    period_s: float = SECONDS_PER_DAY

    @property
    def step_s(self) -> float:
        return self.period_s / len(self.levels)

    def value(self, t_s: np.ndarray) -> np.ndarray:
        """The level in force at times t_s."""
        phase = np.mod(np.asarray(t_s, dtype=float), self.period_s)
        index = np.minimum((phase // self.step_s).astype(np.int64), len(self.levels) - 1)
        return np.asarray(self.levels)[index]

    def edges(self, start_s: float, end_s: float) -> np.ndarray:
        """Step boundaries strictly inside (start_s, end_s)."""
        first = math.floor(start_s / self.step_s) + 1
        last = math.ceil(end_s / self.step_s) - 1
        if last < first:
            return np.empty(0)
        return np.arange(first, last + 1, dtype=float) * self.step_s


@dataclass(frozen=True)
class BurstWindow:
    """A window that multiplies the rate: from start_s after midnight for duration_s.

    day None repeats the window every day (a window that crosses midnight carries
    on into the next day, including from day -1 into day 0); otherwise it is only
    on that day (day 0 starts at t = 0).
    """

    start_s: float
    duration_s: float
    multiplier: float
    day: int | None = None

    def covers(self, t_s: np.ndarray) -> np.ndarray:
        """Whether each time lies inside the window (start inclusive, end exclusive)."""
        t = np.asarray(t_s, dtype=float)
        if self.day is None:
            if self.duration_s >= SECONDS_PER_DAY:
                return np.ones(t.shape, dtype=bool)
            return np.mod(t - self.start_s, SECONDS_PER_DAY) < self.duration_s
        begin = self.day * SECONDS_PER_DAY + self.start_s
        return (t >= begin) & (t < begin + self.duration_s)

    def edges(self, start_s: float, end_s: float) -> np.ndarray:
        """Window boundaries strictly inside (start_s, end_s)."""
        if self.day is None:
            if self.duration_s >= SECONDS_PER_DAY:
                return np.empty(0)
            first = math.floor((start_s - self.start_s - self.duration_s) / SECONDS_PER_DAY)
            last = math.ceil((end_s - self.start_s) / SECONDS_PER_DAY)
            days = np.arange(first, last + 1, dtype=float) * SECONDS_PER_DAY + self.start_s
            points = np.concatenate([days, days + self.duration_s])
        else:
            begin = self.day * SECONDS_PER_DAY + self.start_s
            points = np.array([begin, begin + self.duration_s])
        return points[(points > start_s) & (points < end_s)]


# ---------------------------------------------------------------- the profile


@dataclass(frozen=True)
class Grid:
    """Intervals [edges[i], edges[i+1]) on which every factor but the smooth shape is constant."""

    edges: np.ndarray
    factor_per_s: np.ndarray  # mean rate * hourly level * burst multipliers, per interval

    @property
    def widths_s(self) -> np.ndarray:
        return np.diff(self.edges)


@dataclass(frozen=True)
class RateProfile:
    """An arrival-rate profile: rate_per_s(t) and its exact integral (see module doc)."""

    mean_rate_per_s: float
    diurnal: DiurnalShape | None = None
    hourly: HourlyShape | None = None
    bursts: tuple[BurstWindow, ...] = ()
    growth_per_day: float = 0.0
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def growth_per_s(self) -> float:
        """Continuous growth rate k with (1 + growth_per_day) ** (t / 86400) = exp(k t)."""
        return math.log1p(self.growth_per_day) / SECONDS_PER_DAY

    @property
    def piecewise_constant(self) -> bool:
        """True when the rate is constant between breakpoints (no smooth shape, no growth)."""
        return self.diurnal is None and self.growth_per_day == 0.0

    @property
    def peak_to_mean(self) -> float:
        """Peak of the shape over its mean (before bursts and growth)."""
        if self.diurnal is not None:
            return self.diurnal.peak_to_mean
        if self.hourly is not None:
            return max(self.hourly.levels)
        return 1.0

    # -- pointwise

    def smooth_factor(self, t_s: np.ndarray) -> np.ndarray:
        """The continuously varying part of the rate: diurnal shape times growth."""
        t = np.asarray(t_s, dtype=float)
        out = self.diurnal.value(t) if self.diurnal is not None else np.ones(t.shape)
        if self.growth_per_day != 0.0:
            out = out * np.exp(self.growth_per_s * t)
        return out

    def step_factor(self, t_s: np.ndarray) -> np.ndarray:
        """The piecewise-constant part of the rate: mean * hourly level * burst multipliers."""
        t = np.asarray(t_s, dtype=float)
        out = np.full(t.shape, float(self.mean_rate_per_s))
        if self.hourly is not None:
            out = out * self.hourly.value(t)
        for burst in self.bursts:
            out = np.where(burst.covers(t), out * burst.multiplier, out)
        return out

    def rate_per_s(self, t_s: np.ndarray | float) -> np.ndarray:
        """Arrival rate (requests per second) at times t_s (seconds from the start)."""
        return self.step_factor(t_s) * self.smooth_factor(t_s)

    # -- integrals

    def _antiderivative(self, x_s: np.ndarray) -> np.ndarray:
        """Integral of smooth_factor over [0, x_s]."""
        if self.diurnal is not None:
            return self.diurnal.antiderivative(x_s, self.growth_per_s)
        return _exp_integral(np.asarray(x_s, dtype=float), self.growth_per_s)

    def breakpoints(self, start_s: float, end_s: float) -> np.ndarray:
        """Times strictly inside (start_s, end_s) where the step factor may jump, sorted."""
        parts = [np.empty(0)]
        if self.hourly is not None:
            parts.append(self.hourly.edges(start_s, end_s))
        parts.extend(burst.edges(start_s, end_s) for burst in self.bursts)
        return np.unique(np.concatenate(parts))

    def grid(self, start_s: float, end_s: float, max_interval_s: float = np.inf) -> Grid:
        """Breakpoint-aligned intervals covering [start_s, end_s], each at most max_interval_s."""
        edges = np.concatenate([[start_s], self.breakpoints(start_s, end_s), [end_s]])
        if np.isfinite(max_interval_s):
            widths = np.diff(edges)
            pieces = np.maximum(1, np.ceil(widths / max_interval_s)).astype(np.int64)
            if pieces.max() > 1:
                owner = np.repeat(np.arange(len(widths)), pieces)
                first = np.cumsum(pieces) - pieces
                step = np.arange(len(owner)) - first[owner]
                inner = edges[:-1][owner] + widths[owner] * (step / pieces[owner])
                edges = np.concatenate([inner, [end_s]])
        mid = 0.5 * (edges[:-1] + edges[1:])
        return Grid(edges=edges, factor_per_s=self.step_factor(mid))

    def _full_grid(self, end_s: float) -> tuple[Grid, np.ndarray, np.ndarray]:
        """Grid over [0, T >= end_s] at the breakpoints, its antiderivative and cumulative values.

        T is the next power of two seconds, so one cached grid serves many calls.
        """
        span_s = 2.0 ** math.ceil(math.log2(max(end_s, 1.0)))
        key = ("grid", span_s)
        if key not in self._cache:
            if len(self._cache) > 8:
                self._cache.clear()
            grid = self.grid(0.0, span_s)
            anti = self._antiderivative(grid.edges)
            cum = np.concatenate([[0.0], np.cumsum(grid.factor_per_s * np.diff(anti))])
            self._cache[key] = (grid, anti, cum)
        return self._cache[key]

    def cumulative(self, t_s: np.ndarray | float) -> np.ndarray:
        """Expected number of arrivals in [0, t_s): Lambda(t), exact (closed form)."""
        t = np.maximum(np.asarray(t_s, dtype=float), 0.0)
        if t.size == 0:
            return np.zeros(t.shape)
        end = float(np.max(t))
        if end == 0.0:
            return np.zeros(t.shape)
        grid, anti, cum = self._full_grid(end)
        i = np.clip(np.searchsorted(grid.edges, t, side="right") - 1, 0, len(grid.factor_per_s) - 1)
        return cum[i] + grid.factor_per_s[i] * (self._antiderivative(t) - anti[i])

    def integral(self, start_s: np.ndarray | float, end_s: np.ndarray | float) -> np.ndarray:
        """Expected number of arrivals in [start_s, end_s) (element-wise)."""
        start = np.asarray(start_s, dtype=float)
        end = np.asarray(end_s, dtype=float)
        both = self.cumulative(np.concatenate([start.ravel(), end.ravel()]))
        n = start.size
        return (both[n:].reshape(end.shape) - both[:n].reshape(start.shape)).astype(float)

    def grid_cumulative(self, grid: Grid) -> np.ndarray:
        """Lambda at each edge of a grid (exact), cheaper than cumulative(grid.edges)."""
        anti = self._antiderivative(grid.edges)
        start = self.cumulative(grid.edges[:1])[0]
        return start + np.concatenate([[0.0], np.cumsum(grid.factor_per_s * np.diff(anti))])

    # -- bounds and inverse

    def rate_bounds(self, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of rate_per_s on each grid interval (valid for thinning)."""
        a, b = grid.edges[:-1], grid.edges[1:]
        if self.diurnal is not None:
            lo, hi = self.diurnal.bounds(a, b)
        else:
            lo, hi = np.ones(a.shape), np.ones(a.shape)
        if self.growth_per_day != 0.0:
            ga, gb = np.exp(self.growth_per_s * a), np.exp(self.growth_per_s * b)
            lo = lo * np.minimum(ga, gb) * (1 - _ENVELOPE_SLACK)
            hi = hi * np.maximum(ga, gb) * (1 + _ENVELOPE_SLACK)
        return grid.factor_per_s * lo, grid.factor_per_s * hi

    def time_at(self, levels: np.ndarray, max_interval_s: float = 60.0) -> np.ndarray:
        """Inverse of cumulative: the first t with Lambda(t) = level, for each level.

        Brackets each level in a breakpoint-aligned grid, starts from linear
        interpolation (exact when the rate is piecewise constant) and refines with
        safeguarded Newton steps until Lambda matches the level to 1e-12 relative.
        """
        levels = np.asarray(levels, dtype=float)
        if levels.size == 0:
            return np.empty(0)
        lo_s = self._scalar_time_at(float(levels.min()), upper=False)
        hi_s = self._scalar_time_at(float(levels.max()), upper=True)
        if hi_s <= lo_s:
            return np.full(levels.shape, lo_s)
        step_s = max(max_interval_s, (hi_s - lo_s) / (4 * levels.size + 1024))
        grid = self.grid(lo_s, hi_s, step_s)
        cum = self.grid_cumulative(grid)
        n_int = len(grid.factor_per_s)
        i = np.clip(np.searchsorted(cum, levels, side="right") - 1, 0, n_int - 1)
        left, right = grid.edges[i], grid.edges[i + 1]
        span = cum[i + 1] - cum[i]
        frac = np.divide(levels - cum[i], span, out=np.zeros(levels.shape), where=span > 0)
        t = left + np.clip(frac, 0.0, 1.0) * (right - left)
        if self.piecewise_constant:
            return t
        anti_left = self._antiderivative(left)
        factor = grid.factor_per_s[i]
        tolerance = 1e-12 * np.maximum(1.0, np.abs(levels))
        todo = np.arange(levels.size)
        for _ in range(100):
            tt = t[todo]
            f = cum[i[todo]] + factor[todo] * (self._antiderivative(tt) - anti_left[todo])
            err = f - levels[todo]
            done = np.abs(err) <= tolerance[todo]
            below = err < 0
            left[todo] = np.where(below, tt, left[todo])
            right[todo] = np.where(below, right[todo], tt)
            slope = factor[todo] * self.smooth_factor(tt)
            with np.errstate(divide="ignore", invalid="ignore"):
                newton = tt - err / slope
            ok = (slope > 0) & (newton >= left[todo]) & (newton <= right[todo])
            new = np.where(ok, newton, 0.5 * (left[todo] + right[todo]))
            new = np.where(done, tt, new)
            t[todo] = new
            moved = np.abs(new - tt) > 1e-13 * np.maximum(1.0, np.abs(new))
            todo = todo[moved & ~done]
            if todo.size == 0:
                break
        return t

    def _scalar_time_at(self, level: float, upper: bool) -> float:
        """Bisection for one level: a time with Lambda <= level (upper=False) or >= it."""
        lo, hi = 0.0, 1.0
        while self.cumulative(hi) < level:
            lo, hi = hi, 2 * hi
            if hi > 1e15:
                raise ValueError(f"the rate profile never reaches {level} expected arrivals")
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if mid <= lo or mid >= hi:
                break
            if self.cumulative(mid) < level:
                lo = mid
            else:
                hi = mid
        return hi if upper else lo


# ---------------------------------------------------------------- constructors


def constant(rate_per_s: float) -> RateProfile:
    """A flat rate."""
    _check_rate(rate_per_s)
    return RateProfile(mean_rate_per_s=float(rate_per_s))


def diurnal(
    mean_rate_per_s: float, peak_to_mean: float, peak_time_s: float = 14 * 3600.0
) -> RateProfile:
    """A smooth daily cycle with the given mean and exact peak-to-mean ratio."""
    _check_rate(mean_rate_per_s)
    if peak_to_mean < 1:
        raise ValueError(f"peak_to_mean must be >= 1, got {peak_to_mean}")
    if peak_to_mean == 1:
        return constant(mean_rate_per_s)
    shape = DiurnalShape(peak_to_mean=float(peak_to_mean), peak_time_s=float(peak_time_s))
    return RateProfile(mean_rate_per_s=float(mean_rate_per_s), diurnal=shape)


def hourly(mean_rate_per_s: float, weights: Sequence[float]) -> RateProfile:
    """Piecewise-constant hours: 24 weights (a day) or 168 (a week, from day 0's midnight)."""
    _check_rate(mean_rate_per_s)
    w = np.asarray(weights, dtype=float)
    if len(w) not in (24, 168):
        raise ValueError(f"hourly weights need 24 or 168 numbers, got {len(w)}")
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError("hourly weights must be >= 0 with a positive sum")
    levels = tuple(float(x) for x in w * len(w) / w.sum())
    period_s = SECONDS_PER_DAY if len(w) == 24 else SECONDS_PER_WEEK
    shape = HourlyShape(levels=levels, period_s=period_s)
    return RateProfile(mean_rate_per_s=float(mean_rate_per_s), hourly=shape)


def with_bursts(profile: RateProfile, bursts: Sequence[BurstWindow]) -> RateProfile:
    """The profile with burst windows layered on (they multiply the rate)."""
    return replace(profile, bursts=(*profile.bursts, *bursts))


def with_growth(profile: RateProfile, growth_per_day: float) -> RateProfile:
    """The profile growing by (1 + growth_per_day) ** (t / 86400), continuously."""
    if growth_per_day <= -1:
        raise ValueError(f"growth_per_day must be > -1, got {growth_per_day}")
    return replace(profile, growth_per_day=float(growth_per_day))


# ---------------------------------------------------------------- helpers


def _check_rate(rate_per_s: float) -> None:
    if not rate_per_s > 0 or not math.isfinite(rate_per_s):
        raise ValueError(
            f"a rate must be a positive number of requests per second, got {rate_per_s}"
        )


def _raised_cosine_mean(n: int) -> float:
    """Mean of ((1 + cos x) / 2) ** n over a period: C(2n, n) / 4**n."""
    return math.comb(2 * n, n) / 4**n


def _exp_integral(x: np.ndarray, k: float) -> np.ndarray:
    """Integral of exp(k u) over u in [0, x]."""
    if k == 0.0:
        return np.asarray(x, dtype=float).copy()
    return np.expm1(k * x) / k


def _contains_phase(a: np.ndarray, b: np.ndarray, phase_s: float, period_s: float) -> np.ndarray:
    """Whether [a, b] contains a time phase_s + m * period_s for some integer m."""
    return np.floor((b - phase_s) / period_s) >= np.ceil((a - phase_s) / period_s)
