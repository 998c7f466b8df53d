"""Sample any DistSpec (token counts, latencies, cold starts) with an explicit Generator.

`sample` returns floats, for latencies and cold starts; `sample_tokens` rounds
and clips them to whole token counts in [1, max_tokens]. Parameterisation:

* lognormal(mean, cv): sigma^2 = ln(1 + cv^2), mu = ln(mean) - sigma^2 / 2;
* gamma(mean, cv): shape = 1 / cv^2, scale = mean * cv^2;
* empirical with values (and weights, else equal weights): those values;
* empirical with a file and no column: a CDF table, a CSV with columns
  `value,cdf` (values non-decreasing, cdf non-decreasing in [0, 1], the last
  cdf 1). The CDF is linear between rows, and the first row's cdf is an atom
  at the first value;
* empirical with a file and a column: that column's values, resampled with
  equal weights (a bootstrap, e.g. a trace's ContextTokens).

File paths are read as given; `sim.scenario.file` makes a scenario's relative paths
absolute (from the scenario file's folder, or the working directory for `--set`).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from distributions.errors import WorkloadError

if TYPE_CHECKING:  # a spec is read by attribute, by its `dist` name
    import pandas as pd

    from sim.scenario.schema import DistSpec, Empirical


def sample(spec: DistSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    """n independent float64 draws from a distribution spec."""
    if spec.dist == "fixed":
        return np.full(n, float(spec.value))
    if spec.dist == "exponential":
        return rng.exponential(spec.mean, n)
    if spec.dist == "lognormal":
        sigma2 = math.log1p(spec.cv**2)
        return rng.lognormal(math.log(spec.mean) - sigma2 / 2, math.sqrt(sigma2), n)
    if spec.dist == "gamma":
        return rng.gamma(1.0 / spec.cv**2, spec.mean * spec.cv**2, n)
    if spec.dist == "uniform":
        return rng.uniform(spec.low, spec.high, n)
    if spec.dist == "empirical":
        return _sample_empirical(spec, n, rng)
    raise TypeError(f"not a distribution spec: {spec!r}")


def to_token_counts(values: np.ndarray, max_tokens: int) -> np.ndarray:
    """Whole token counts: rounded to the nearest integer and clipped to [1, max_tokens]."""
    return np.clip(np.rint(np.asarray(values, dtype=float)), 1, max_tokens).astype(np.int64)


def sample_tokens(spec: DistSpec, n: int, rng: np.random.Generator, max_tokens: int) -> np.ndarray:
    """n token counts (int64, in [1, max_tokens]) from a distribution spec."""
    return to_token_counts(sample(spec, n, rng), max_tokens)


def dist_mean_cv(spec: DistSpec) -> tuple[float, float]:
    """The distribution's exact mean and coefficient of variation (before rounding)."""
    if spec.dist == "fixed":
        return float(spec.value), 0.0
    if spec.dist == "exponential":
        return float(spec.mean), 1.0
    if spec.dist in ("lognormal", "gamma"):
        return float(spec.mean), float(spec.cv)
    if spec.dist == "uniform":
        mean = (spec.low + spec.high) / 2
        sd = (spec.high - spec.low) / math.sqrt(12)
        return mean, (sd / mean if mean > 0 else 0.0)
    if spec.dist == "empirical":
        if spec.file is not None and spec.column is None:
            values, cdf = load_empirical_file(spec)
            mean, second = _cdf_table_moments(values, cdf)
        else:
            values, probs = _discrete(spec)
            mean = float(np.dot(values, probs))
            second = float(np.dot(values**2, probs))
        sd = math.sqrt(max(0.0, second - mean**2))
        return mean, (sd / mean if mean > 0 else 0.0)
    raise TypeError(f"not a distribution spec: {spec!r}")


def capped_mean(spec: DistSpec, cap: float) -> float:
    """E[min(X, cap)]: the mean reply under a max_tokens cap (exact, before rounding).

    Closed forms for the parametric distributions; the integral of the survival
    function for a CDF table (linear between rows, so the trapezoid rule is exact).
    """
    if spec.dist == "fixed":
        return float(min(spec.value, cap))
    if spec.dist == "exponential":
        return float(spec.mean * -math.expm1(-cap / spec.mean))
    if spec.dist == "lognormal":
        sigma = math.sqrt(math.log1p(spec.cv**2))
        mu = math.log(spec.mean) - sigma**2 / 2
        z = (math.log(cap) - mu) / sigma
        return float(spec.mean * _normal_cdf(z - sigma) + cap * (1.0 - _normal_cdf(z)))
    if spec.dist == "gamma":
        from scipy.special import gammainc

        shape, scale = 1.0 / spec.cv**2, spec.mean * spec.cv**2
        x = cap / scale
        return float(spec.mean * gammainc(shape + 1, x) + cap * (1.0 - gammainc(shape, x)))
    if spec.dist == "uniform":
        low, high = spec.low, spec.high
        if cap <= low or high == low:
            return float(min(cap, (low + high) / 2 if cap > low else cap))
        if cap >= high:
            return (low + high) / 2
        return ((cap - low) * (low + cap) / 2 + (high - cap) * cap) / (high - low)
    if spec.dist == "empirical":
        if spec.file is not None and spec.column is None:
            values, cdf = load_empirical_file(spec)
            return _cdf_table_capped_mean(values, cdf, cap)
        values, probs = _discrete(spec)
        return float(np.dot(np.minimum(values, cap), probs))
    raise TypeError(f"not a distribution spec: {spec!r}")


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _cdf_table_capped_mean(values: np.ndarray, cdf: np.ndarray, cap: float) -> float:
    """The integral over u of min(Q(u), cap), Q the table's quantile function (how it is
    sampled): piecewise linear in u, so the trapezoid rule on its breakpoints is exact."""
    crossing = float(np.interp(cap, values, cdf)) if values[0] < cap < values[-1] else 0.0
    u = np.unique(np.concatenate([[0.0, crossing, 1.0], cdf]))
    quantile = np.minimum(np.interp(u, cdf, values), cap)
    return float(np.trapezoid(quantile, u))


def summarize(values: np.ndarray) -> dict[str, float]:
    """Mean, p50, p90, p99 and cv of a sample, for reports."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return {"mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "cv": 0.0}
    mean = float(x.mean())
    p50, p90, p99 = np.percentile(x, [50, 90, 99], method="inverted_cdf")
    cv = float(x.std() / mean) if mean > 0 else 0.0
    return {"mean": mean, "p50": float(p50), "p90": float(p90), "p99": float(p99), "cv": cv}


def summarize_histogram(counts: np.ndarray) -> dict[str, float]:
    """The same summary from counts[v] = how many times the integer v occurred.

    Exact for any number of samples (token counts accumulate into one bincount);
    percentiles are the smallest value whose cumulative share reaches p.
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total == 0:
        return {"mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "cv": 0.0}
    values = np.arange(counts.size, dtype=np.float64)
    mean = float(np.dot(values, counts) / total)
    var = float(np.dot((values - mean) ** 2, counts) / total)
    cum = np.cumsum(counts)
    p50, p90, p99 = (float(np.searchsorted(cum, q * total, side="left")) for q in (0.5, 0.9, 0.99))
    cv = math.sqrt(var) / mean if mean > 0 else 0.0
    return {"mean": mean, "p50": p50, "p90": p90, "p99": p99, "cv": cv}


# ---------------------------------------------------------------- empirical


def _sample_empirical(spec: Empirical, n: int, rng: np.random.Generator) -> np.ndarray:
    if spec.file is not None and spec.column is None:
        values, cdf = load_empirical_file(spec)
        return _sample_cdf_table(values, cdf, n, rng)
    values, probs = _discrete(spec)
    cum = np.cumsum(probs)
    index = np.searchsorted(cum, rng.random(n) * cum[-1], side="right")
    return values[np.minimum(index, values.size - 1)]


def _discrete(spec: Empirical) -> tuple[np.ndarray, np.ndarray]:
    """Support and probabilities of a values/weights or a column-of-a-file empirical spec."""
    if spec.file is not None:
        return load_empirical_file(spec)
    values = np.asarray(spec.values, dtype=float)
    weights = np.ones(values.size) if spec.weights is None else np.asarray(spec.weights, float)
    return values, weights / weights.sum()


def _sample_cdf_table(
    values: np.ndarray, cdf: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Inverse-transform sampling of a CDF that is linear between table rows."""
    u = rng.random(n)
    return np.interp(u, cdf, values)


def _cdf_table_moments(values: np.ndarray, cdf: np.ndarray) -> tuple[float, float]:
    """First two moments of the piecewise-linear CDF (atom at the first value)."""
    p0 = cdf[0]
    mass = np.diff(cdf)
    a, b = values[:-1], values[1:]
    mean = p0 * values[0] + float(np.dot(mass, (a + b) / 2))
    second = p0 * values[0] ** 2 + float(np.dot(mass, (a * a + a * b + b * b) / 3))
    return mean, second


def load_empirical_file(spec: Empirical) -> tuple[np.ndarray, np.ndarray]:
    """The file of an empirical spec, read and checked: the (value, cdf) columns of a CDF
    table, or, with a column, its values and equal probabilities. Sampling, moments and
    `capsim validate` all read files through this one function."""
    if spec.file is None:
        raise ValueError("this empirical distribution has no file")
    if spec.column is None:
        return load_cdf_table(spec.file)
    values = load_column(spec.file, spec.column)
    return values, np.full(values.size, 1.0 / values.size)


def load_cdf_table(path: str) -> tuple[np.ndarray, np.ndarray]:
    """A value,cdf CSV as two arrays, checked; WorkloadError naming the file if it is not one."""
    frame = _read_csv(path)
    missing = [c for c in ("value", "cdf") if c not in frame.columns]
    if missing:
        raise WorkloadError(
            f"{path}: a CDF table needs columns 'value' and 'cdf' (missing {', '.join(missing)}); "
            f"found {', '.join(map(str, frame.columns))}. To sample a column of a CSV, "
            f"give empirical 'column'"
        )
    values = _numeric(frame["value"], path, "value")
    cdf = _numeric(frame["cdf"], path, "cdf")
    if values.size == 0:
        raise WorkloadError(f"{path}: the CDF table has no rows")
    if np.any(np.diff(values) < 0) or np.any(np.diff(cdf) < 0):
        raise WorkloadError(f"{path}: columns 'value' and 'cdf' must both be non-decreasing")
    if cdf[0] < 0 or not math.isclose(cdf[-1], 1.0, abs_tol=1e-9):
        raise WorkloadError(
            f"{path}: column 'cdf' must lie in [0, 1] and end at 1, got {cdf[0]} .. {cdf[-1]}"
        )
    if values[0] < 0:
        raise WorkloadError(f"{path}: column 'value' must be >= 0, got {values[0]}")
    return values, cdf


def load_column(path: str, column: str) -> np.ndarray:
    """One numeric column of a CSV, as float64; WorkloadError naming file and column if not."""
    frame = _read_csv(path)
    if column not in frame.columns:
        raise WorkloadError(
            f"{path}: no column {column!r} to sample; found {', '.join(map(str, frame.columns))}"
        )
    values = _numeric(frame[column], path, column)
    if values.size == 0:
        raise WorkloadError(f"{path}: column {column!r} has no values")
    if np.any(values < 0):
        raise WorkloadError(f"{path}: column {column!r} must be >= 0")
    return values


def _read_csv(path: str) -> pd.DataFrame:
    resolved = Path(path)
    try:
        stat = resolved.stat()
    except OSError as exc:
        raise WorkloadError(f"{path}: cannot read the file ({exc.strerror})") from None
    return _read_csv_cached(str(resolved), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)
def _read_csv_cached(path: str, mtime_ns: int, size: int) -> pd.DataFrame:
    import pandas as pd  # loaded on first read of a file

    try:
        frame = pd.read_csv(path)
    except UnicodeDecodeError:
        raise WorkloadError(f"{path}: is not UTF-8 text; save it as a UTF-8 CSV") from None
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise WorkloadError(f"{path}: cannot read as CSV ({exc})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _numeric(column: pd.Series, path: str, name: str) -> np.ndarray:
    import pandas as pd  # loaded on first read of a file

    values = pd.to_numeric(column, errors="coerce")
    bad = ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise WorkloadError(
            f"{path}: column {name!r} must hold finite numbers; "
            f"line {row + 2} has {str(column.iloc[row])!r}"
        )
    return values.to_numpy(dtype=np.float64)
