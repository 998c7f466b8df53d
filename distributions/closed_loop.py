"""Closed-loop clients' draws: each next request's class, tokens and the think time before it.

A closed loop has no arrival stream to generate ahead: a client sends its next
request when its last one ends, so arrival times come from the engine
(`sim/engine/clients.py`). What can be drawn ahead is drawn here, in blocks, from
the same two children of the traffic stream an open stream uses (arrival-side
draws, here think times, and sizes), so a run is reproducible from its seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from distributions.request_classes import assign_classes, sample_class_tokens
from distributions.tokens import sample

if TYPE_CHECKING:  # the scenario's sections, read by attribute
    from sim.scenario.schema import Scenario

BLOCK = 4096  # draws made at once


@dataclass
class ClientDraws:
    """The next request's sizes and the next think time, drawn BLOCK at a time."""

    scenario: Scenario
    rng: np.random.Generator
    _think_rng: np.random.Generator = field(init=False)
    _size_rng: np.random.Generator = field(init=False)
    _sizes: list[tuple[int, int, int]] = field(default_factory=list)
    _thinks: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._think_rng, self._size_rng = self.rng.spawn(2)

    def next_request(self) -> tuple[int, int, int]:
        """(prompt tokens, output tokens, class index) of the next request sent."""
        if not self._sizes:
            requests = self.scenario.requests
            classes = assign_classes(requests, BLOCK, self._size_rng)
            prompt = sample_class_tokens(requests, classes, "prompt", self._size_rng)
            output = sample_class_tokens(requests, classes, "output", self._size_rng)
            block = zip(prompt.tolist(), output.tolist(), classes.tolist(), strict=True)
            self._sizes = list(block)[::-1]  # popped from the end, in drawing order
        return self._sizes.pop()

    def next_think_s(self) -> float:
        """Seconds a client waits after a reply before it sends again (0 without think_time)."""
        spec = self.scenario.traffic.think_time
        if spec is None:
            return 0.0
        if not self._thinks:
            self._thinks = sample(spec, BLOCK, self._think_rng).tolist()[::-1]
        return self._thinks.pop()
