"""Routers: which replica a new request joins.

Each router is a function from the loads (queued plus running requests) of the
replicas that accept work to the index of the chosen one, made by a factory
`(rng) -> Router` that `sim/scenario/plugins.py` registers under its scenario
name. `shared-queue` is not a choice at arrival: every replica pulls from one
FIFO line when it has room, which is the M/M/c discipline. The built-in choices
are the compiled functions of `sim/engine/rules/routing.py`, which the compiled
loop's `choose` (`sim/engine/compiled_loop.py`) applies to the same draws
(`uniform_draws`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from sim.engine.rules.routing import (
    fewest,
    nth_with_load,
    random_pick,
    round_robin_pick,
    tie_needs_draw,
    tie_skip,
)
from sim.scenario.plugins import ROUTERS, implementation

Router = Callable[[list[int]], int]  # loads of the candidate replicas -> index of the chosen

_DRAWS_PER_REFILL = 4096


def _draw_block(rng: np.random.Generator) -> np.ndarray:
    """The next block of uniform [0, 1) numbers, in the order the routers use them."""
    return rng.random(_DRAWS_PER_REFILL)[::-1]


class _UniformDraws:
    """Uniform [0, 1) numbers drawn from the generator in blocks (one draw per call)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._block: Iterator[float] = iter(())

    def __call__(self) -> float:
        value = next(self._block, None)
        if value is None:
            self._block = iter(_draw_block(self._rng).tolist())
            value = next(self._block)
        return value


def uniform_draws(rng: np.random.Generator, count: int) -> np.ndarray:
    """The first `count` numbers a `_UniformDraws` on `rng` returns, as one array."""
    return draw_blocks(rng, count)[:count]


def draw_blocks(rng: np.random.Generator, count: int) -> np.ndarray:
    """The next whole blocks of a `_UniformDraws` on `rng`, at least `count` numbers;
    a later call continues the sequence."""
    blocks = [_draw_block(rng) for _ in range(-(-count // _DRAWS_PER_REFILL))]
    return np.concatenate(blocks) if blocks else np.empty(0)


def round_robin(rng: np.random.Generator | None = None) -> Router:
    """Each replica in turn (draws nothing from `rng`)."""
    counter = 0

    def choose(loads: list[int]) -> int:
        nonlocal counter
        counter += 1
        return round_robin_pick(counter, len(loads))

    return choose


def uniform_random(rng: np.random.Generator) -> Router:
    """A replica chosen uniformly at random."""
    draw = _UniformDraws(rng)

    def choose(loads: list[int]) -> int:
        return random_pick(draw(), len(loads))

    return choose


def least_loaded(rng: np.random.Generator) -> Router:
    """The replica with the fewest queued plus running requests; ties broken at random."""
    draw = _UniformDraws(rng)

    def choose(loads: list[int]) -> int:
        load_array = np.array(loads, dtype=np.int64)
        best, tied = fewest(load_array)
        return nth_with_load(
            load_array, best, tie_skip(draw(), tied) if tie_needs_draw(tied) else 0
        )

    return choose


def make_router(name: str, rng: np.random.Generator) -> Router | None:
    """The named router (`sim/scenario/plugins.py` registers each); None for a shared
    line (`shared-queue`), where replicas pull from one line."""
    plugin = ROUTERS[name]
    if plugin.shared_line:
        return None
    return implementation(plugin)(rng)
