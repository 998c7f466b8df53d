"""Parse the human units scenario files use: durations and times of day."""

from __future__ import annotations

import re

SECONDS_PER_UNIT = {
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
SECONDS_PER_DAY = 86400.0
SECONDS_PER_MONTH = 30 * SECONDS_PER_DAY  # the seeds' month: 30 days, 720 hours
MAX_DURATION_S = 3650 * SECONDS_PER_DAY  # ten years: more than any horizon a plan needs

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-z]+)?\s*$")
_TIME_OF_DAY = re.compile(r"^\s*([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?\s*$")


def parse_duration_s(value: float | int | str) -> float:
    """Seconds from a number (seconds) or a string such as "50ms", "2m", "1h", "1d".

    The result may be inf or nan ("1e309s"): the caller checks its range (the schema's
    durations lie in [0, MAX_DURATION_S]).
    """
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '50ms', '2m', '1h'")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError("a duration is a number of seconds or a string like '50ms', '2m', '1h'")
    match = _DURATION.match(value.lower())
    if not match or (match.group(2) or "s") not in SECONDS_PER_UNIT:
        allowed = ", ".join(SECONDS_PER_UNIT)
        shown = repr(value)
        if len(value) > 40:
            shown = f"{value[:20]!r}... ({len(value):,} characters)"
        raise ValueError(f"cannot read duration {shown}: use a number with a unit ({allowed})")
    return float(match.group(1)) * SECONDS_PER_UNIT[match.group(2) or "s"]


def parse_time_of_day_s(value: float | int | str) -> float:
    """Seconds after midnight from "HH:MM[:SS]" or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        match = _TIME_OF_DAY.match(value)
        if match:
            hours, minutes, seconds = (int(g or 0) for g in match.groups())
            if hours < 24 and minutes < 60 and seconds < 60:
                return hours * 3600.0 + minutes * 60.0 + seconds
            raise ValueError(f"{value!r} is not a time of day: use HH:MM with hours below 24")
        return parse_duration_s(value)
    raise ValueError("a time of day is 'HH:MM', 'HH:MM:SS' or seconds after midnight")


# Round bin widths for previews, in seconds: 1 s up to a week.
ROUND_BIN_WIDTHS_S = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800,
    3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800,
)  # fmt: skip


def round_bin_s(horizon_s: float, min_bins: int = 24) -> float:
    """The widest round bin width that cuts the horizon into at least `min_bins` bins.

    Consecutive widths differ by at most 2.5x, so a horizon up to two days gets 24 to
    60 bins: a day in hours, an hour in 2-minute bins, ten minutes in 15-second bins.
    """
    fits = [w for w in ROUND_BIN_WIDTHS_S if horizon_s / w >= min_bins]
    return float(fits[-1] if fits else ROUND_BIN_WIDTHS_S[0])


def format_duration(seconds: float) -> str:
    """Short human form of a duration, for tables; no wait at all reads "0 s", not "0 us"."""
    if seconds == 0:
        return "0 s"
    if seconds < 1e-3:
        micro = seconds * 1e6
        return f"{micro:.0f} us" if micro >= 1 else f"{micro:.2g} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
