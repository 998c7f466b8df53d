"""Trace replay: arrivals (and token counts) from a CSV of request timestamps.

The default column layout is the public Azure LLM inference traces
(TIMESTAMP, ContextTokens, GeneratedTokens). Timestamps are seconds (numbers)
or date-times (ISO 8601, any number of fractional digits); rows are put in time
order and shifted so the first request is at t = 0.

Replay rules:

* time_scale stretches the time axis (2.0 plays the trace at half speed);
* loop repeats the trace every period = span * n / (n - 1) (the span plus one
  mean gap, so the last request and the next loop's first do not coincide);
* rate_scale r multiplies the request rate. Each trace request yields
  floor(r) copies plus one more with probability r - floor(r) (so r < 1 is
  Bernoulli thinning). The first copy keeps the request's own timestamp; every
  further copy is placed uniformly at random in the gap up to the next request
  (the last request's gap is one mean gap). Copies carry the request's tokens.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from distributions.errors import WorkloadError

if TYPE_CHECKING:  # pandas loads on first read of a file: a run without one never pays for it
    import pandas as pd

DEFAULT_CHUNK_SIZE = 1_000_000
RATE_WINDOW_S = 60.0  # TraceRateProfile.rate_per_s averages over windows this long


@dataclass(frozen=True, eq=False)
class Trace:
    """A loaded trace: sorted arrival seconds from 0, and token columns if present."""

    source: str
    arrival_s: np.ndarray
    prompt_tokens: np.ndarray | None = None  # float64, as in the file
    output_tokens: np.ndarray | None = None

    @property
    def n_requests(self) -> int:
        return int(self.arrival_s.size)

    @property
    def span_s(self) -> float:
        return float(self.arrival_s[-1])

    @property
    def mean_gap_s(self) -> float:
        return self.span_s / (self.n_requests - 1) if self.n_requests > 1 else 0.0

    def period_s(self, time_scale: float = 1.0) -> float:
        """Loop period: span plus one mean gap, times time_scale."""
        if self.n_requests < 2 or self.span_s <= 0:
            raise WorkloadError(
                f"{self.source}: looping needs at least two requests at different times; "
                f"set traffic.trace.loop = false"
            )
        return time_scale * self.span_s * self.n_requests / (self.n_requests - 1)


@dataclass(frozen=True, eq=False)
class TraceChunk:
    """Replayed arrivals and, for each, the trace row it copies (for its token counts)."""

    arrival_s: np.ndarray
    row: np.ndarray


def load_trace(
    path: str | Path,
    timestamp_column: str = "TIMESTAMP",
    prompt_column: str | None = "ContextTokens",
    output_column: str | None = "GeneratedTokens",
    require_token_columns: bool = False,
) -> Trace:
    """Read a trace CSV; token columns that are absent are skipped unless required.

    Raises WorkloadError naming the file and column for an unreadable file, a
    missing timestamp column, unparseable timestamps, non-numeric or negative
    tokens, and a trace with no rows.
    """
    resolved = Path(path)
    try:
        stat = resolved.stat()
    except OSError as exc:
        raise WorkloadError(
            f"{path}: cannot read the trace file ({exc.strerror}); expected a CSV file "
            f"with a header row and a {timestamp_column!r} column"
        ) from None
    return _load_trace_cached(
        str(resolved),
        stat.st_mtime_ns,
        stat.st_size,
        timestamp_column,
        prompt_column,
        output_column,
        require_token_columns,
    )


@lru_cache(maxsize=8)
def _load_trace_cached(
    path: str,
    mtime_ns: int,
    size: int,
    timestamp_column: str,
    prompt_column: str | None,
    output_column: str | None,
    require_token_columns: bool,
) -> Trace:
    frame = _read_trace_csv(path, timestamp_column)
    if timestamp_column not in frame.columns:
        raise WorkloadError(
            f"{path}: no timestamp column {timestamp_column!r}; columns found: "
            f"{', '.join(map(str, frame.columns))}. Set traffic.trace.timestamp_column "
            f"to the column holding request times (seconds or ISO date-times)"
        )
    if len(frame) == 0:
        raise WorkloadError(f"{path}: the trace is empty (a header but no requests)")
    seconds = _timestamps_s(frame[timestamp_column], path, timestamp_column)
    order = np.argsort(seconds, kind="stable")
    arrival_s = seconds[order] - seconds[order[0]]
    tokens = []
    for column in (prompt_column, output_column):
        if column is None or (column not in frame.columns and not require_token_columns):
            tokens.append(None)
            continue
        if column not in frame.columns:
            raise WorkloadError(
                f"{path}: no token column {column!r}; columns found: "
                f"{', '.join(map(str, frame.columns))}"
            )
        tokens.append(_read_only(_token_counts(frame[column], path, column)[order]))
    return Trace(path, _read_only(arrival_s), tokens[0], tokens[1])


def _read_trace_csv(path: str, timestamp_column: str) -> pd.DataFrame:
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype={timestamp_column: str})
    except pd.errors.EmptyDataError:
        raise WorkloadError(
            f"{path}: the trace file is empty; expected a CSV with a header row"
        ) from None
    except UnicodeDecodeError:
        raise WorkloadError(
            f"{path}: the trace is not UTF-8 text; save it as a UTF-8 CSV"
        ) from None
    except (OSError, pd.errors.ParserError, ValueError) as exc:
        raise WorkloadError(
            f"{path}: cannot read the trace as CSV ({exc}); expected a CSV file with a header "
            f"row and a {timestamp_column!r} column"
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _timestamps_s(column: pd.Series, path: str, name: str) -> np.ndarray:
    """Seconds from numbers, or from date-times (relative to an arbitrary origin)."""
    import pandas as pd

    text = column.astype(str).str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    if not numbers.isna().any():
        return numbers.to_numpy(dtype=np.float64)
    # Some rows are seconds: the column is seconds, and the first row that is not is named.
    parsed = numbers if numbers.notna().any() else _datetimes(text)
    if parsed.isna().any():
        bad = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise WorkloadError(
            f"{path}: column {name!r} must hold seconds (numbers) or date-times such as "
            f"'2023-11-16 18:17:03.9799600'; line {bad + 2} has {column.iloc[bad]!r}"
        )
    ns = parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    return (ns - ns.min()) / 1e9


def _datetimes(text: pd.Series) -> pd.Series:
    """Date-times in UTC, NaT where a row is not one."""
    import pandas as pd

    try:
        return pd.to_datetime(text, format="ISO8601", utc=True)
    except (ValueError, TypeError):
        return pd.to_datetime(text, format="mixed", utc=True, errors="coerce")


def _token_counts(column: pd.Series, path: str, name: str) -> np.ndarray:
    import pandas as pd

    values = pd.to_numeric(column, errors="coerce")
    numbers = values.to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(numbers) | (numbers < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise WorkloadError(
            f"{path}: token column {name!r} must hold finite non-negative numbers; "
            f"line {row + 2} has {str(column.iloc[row])!r}"
        )
    return values.to_numpy(dtype=np.float64)


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


# ---------------------------------------------------------------- replay


def iter_trace_chunks(
    trace: Trace,
    horizon_s: float,
    rng: np.random.Generator,
    time_scale: float = 1.0,
    rate_scale: float = 1.0,
    loop: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[TraceChunk]:
    """Replayed arrivals over [0, horizon_s) in sorted chunks (see the module doc for the rules)."""
    base_s = trace.arrival_s * time_scale
    period_s = trace.period_s(time_scale) if loop else math.inf
    gap_s = np.empty(trace.n_requests)
    gap_s[:-1] = np.diff(base_s)
    gap_s[-1] = period_s - base_s[-1] if loop else trace.mean_gap_s * time_scale
    whole, fraction = divmod(rate_scale, 1.0)
    rows_per_chunk = max(1, int(chunk_size // math.ceil(rate_scale)))
    n_loops = math.ceil(horizon_s / period_s) if loop else 1
    for k in range(n_loops):
        offset_s = k * period_s if loop else 0.0
        stop = int(np.searchsorted(base_s, horizon_s - offset_s, side="left"))
        for lo in range(0, stop, rows_per_chunk):
            hi = min(stop, lo + rows_per_chunk)
            copies = np.full(hi - lo, int(whole), dtype=np.int64)
            if fraction > 0:
                copies += rng.random(hi - lo) < fraction
            row = np.repeat(np.arange(lo, hi), copies)
            if row.size == 0:
                continue
            arrival_s = base_s[row] + offset_s
            if (copies > 1).any():
                first = np.cumsum(copies) - copies
                extra = np.ones(row.size, dtype=bool)
                extra[first[copies > 0]] = False
                arrival_s[extra] += rng.random(int(extra.sum())) * gap_s[row[extra]]
                order = np.argsort(arrival_s, kind="stable")
                arrival_s, row = arrival_s[order], row[order]
            inside = arrival_s < horizon_s
            if not inside.all():
                arrival_s, row = arrival_s[inside], row[inside]
            yield TraceChunk(arrival_s=arrival_s, row=row)


def trace_expected_count(
    trace: Trace,
    horizon_s: float,
    time_scale: float = 1.0,
    rate_scale: float = 1.0,
    loop: bool = True,
) -> float:
    """Expected replayed requests in [0, horizon_s): rate_scale times the trace requests there.

    Exact for rate_scale <= 1; above 1, jittered copies of the very last requests
    may fall past the horizon and are dropped, so the realised mean can be a
    fraction of one request lower.
    """
    return float(TraceRateProfile(trace, time_scale, rate_scale, loop).cumulative(horizon_s))


@dataclass(frozen=True, eq=False)
class TraceRateProfile:
    """The expected arrival count of a replayed trace over time (for plots and totals)."""

    trace: Trace
    time_scale: float = 1.0
    rate_scale: float = 1.0
    loop: bool = True

    @property
    def mean_rate_per_s(self) -> float:
        """Requests per second averaged over a loop period (or the trace span, unlooped)."""
        if self.loop:
            return self.rate_scale * self.trace.n_requests / self.trace.period_s(self.time_scale)
        span_s = self.trace.span_s * self.time_scale
        return self.rate_scale * self.trace.n_requests / span_s if span_s > 0 else 0.0

    def cumulative(self, t_s: np.ndarray | float) -> np.ndarray:
        """rate_scale times the number of trace requests before t_s (looped if loop)."""
        t = np.asarray(t_s, dtype=float)
        base_s = self.trace.arrival_s * self.time_scale
        if not self.loop:
            return self.rate_scale * np.searchsorted(base_s, t, side="left").astype(float)
        period_s = self.trace.period_s(self.time_scale)
        k = np.floor(t / period_s)
        within = np.searchsorted(base_s, t - k * period_s, side="left")
        return self.rate_scale * (k * self.trace.n_requests + within)

    def integral(self, start_s: np.ndarray | float, end_s: np.ndarray | float) -> np.ndarray:
        """Expected requests in [start_s, end_s)."""
        return self.cumulative(end_s) - self.cumulative(start_s)

    def rate_per_s(self, t_s: np.ndarray | float) -> np.ndarray:
        """Requests per second averaged over the RATE_WINDOW_S window that contains t_s."""
        t = np.asarray(t_s, dtype=float)
        start = np.floor(t / RATE_WINDOW_S) * RATE_WINDOW_S
        return self.integral(start, start + RATE_WINDOW_S) / RATE_WINDOW_S
