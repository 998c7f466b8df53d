"""The grid of a sweep: `--vary key.path=a,b,c` or `--vary key.path=start:stop:step`.

Each point of the grid is one combination of values; its scenario is the base
scenario with the point's values set as `--set key.path=value` would set them.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from sim.errors import CapsimError
from sim.scenario.file import parse_override_value

MAX_VALUES_PER_KEY = 1000
MAX_POINTS = 10_000
# Keys that a sweep sets itself: varying them would break common random numbers.
RESERVED_KEYS = {"seed": "--seed", "replications": "-n"}


@dataclass(frozen=True)
class Vary:
    """One `--vary`: a key path and the values it takes, each as the text `--set` would read."""

    key: str
    texts: tuple[str, ...]

    @property
    def values(self) -> list[Any]:
        return [parse_override_value(text) for text in self.texts]


@dataclass(frozen=True)
class Point:
    """One combination of the grid: its index and the value of every varied key."""

    index: int
    settings: dict[str, Any]
    texts: dict[str, str]

    @property
    def name(self) -> str:
        return ", ".join(f"{key}={text}" for key, text in self.texts.items())

    def overrides(self) -> list[str]:
        return [f"{key}={text}" for key, text in self.texts.items()]


def parse_vary(text: str) -> Vary:
    """`key.path=a,b,c` (a list) or `key.path=start:stop:step` (a range, stop included)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or not raw.strip():
        raise CapsimError(
            f"--vary {text!r}: expected key.path=a,b,c or key.path=start:stop:step, "
            "e.g. fleet.replicas=4:16:2"
        )
    if key in RESERVED_KEYS:
        raise CapsimError(
            f"--vary {text!r}: {key} is the sweep's own; set it with {RESERVED_KEYS[key]}"
        )
    raw = raw.strip()
    texts = _range_texts(text, raw) if _is_range(raw) else _list_texts(text, raw)
    if len(texts) > MAX_VALUES_PER_KEY:
        raise CapsimError(f"--vary {text!r}: {len(texts)} values, at most {MAX_VALUES_PER_KEY}")
    if len(set(texts)) != len(texts):
        raise CapsimError(f"--vary {text!r}: a value is listed twice")
    return Vary(key, tuple(texts))


def _is_range(raw: str) -> bool:
    parts = raw.split(":")
    return "," not in raw and len(parts) in (2, 3) and all(_number(p) is not None for p in parts)


def _number(text: str) -> int | float | None:
    value = parse_override_value(text.strip())
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _range_texts(text: str, raw: str) -> list[str]:
    parts = [_number(p) for p in raw.split(":")]
    start, stop = parts[0], parts[1]
    step = parts[2] if len(parts) == 3 else 1
    if step == 0 or not all(math.isfinite(p) for p in (start, stop, step)):
        raise CapsimError(f"--vary {text!r}: the step must be a finite number other than zero")
    if (stop - start) * step < 0:
        raise CapsimError(f"--vary {text!r}: a step of {step:g} never goes from {start} to {stop}")
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count > MAX_VALUES_PER_KEY:
        raise CapsimError(f"--vary {text!r}: {count} values, at most {MAX_VALUES_PER_KEY}")
    integral = all(isinstance(p, int) for p in (start, stop, step))
    values = [start + i * step for i in range(count)]
    return [str(v) if integral else repr(round(v, 12)) for v in values]


def _list_texts(text: str, raw: str) -> list[str]:
    texts = [item.strip() for item in raw.split(",")]
    if any(not item for item in texts):
        raise CapsimError(f"--vary {text!r}: an empty value in the list")
    return texts


def grid_points(varies: list[Vary]) -> list[Point]:
    """Every combination, the first --vary slowest; refuses a key varied twice."""
    keys = [v.key for v in varies]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise CapsimError(f"--vary: {repeated[0]} is varied twice; give it one --vary")
    if not varies:
        raise CapsimError("--vary: give at least one, e.g. --vary fleet.replicas=4:16:2")
    size = math.prod(len(v.texts) for v in varies)
    if size > MAX_POINTS:
        raise CapsimError(f"--vary: the grid has {size:,} points, at most {MAX_POINTS:,}")
    points = []
    for index, combination in enumerate(itertools.product(*(v.texts for v in varies))):
        texts = dict(zip(keys, combination, strict=True))
        settings = {key: parse_override_value(t) for key, t in texts.items()}
        points.append(Point(index, settings, texts))
    return points
