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
        raise ValueError(f"cannot read duration {value!r}: use a number with a unit ({allowed})")
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


def format_duration(seconds: float) -> str:
    """Short human form of a duration, for tables."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
