"""Mix request classes: give each request a class by share, and sizes from its class.

A scenario without [[requests.classes]] has one implicit class, "default", that
uses the [requests] token distributions. A class without its own prompt or
output distribution falls back to the [requests] one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from distributions.tokens import sample_tokens

DEFAULT_CLASS = "default"

if TYPE_CHECKING:  # the scenario's sections, read by attribute
    from sim.scenario.schema import DistSpec, Requests


def class_names(requests: Requests) -> tuple[str, ...]:
    """Class names in class-index order."""
    return tuple(c.name for c in requests.classes) or (DEFAULT_CLASS,)


def class_shares(requests: Requests) -> np.ndarray:
    """Each class's share of requests, normalised to sum to 1."""
    if not requests.classes:
        return np.ones(1)
    shares = np.array([c.share for c in requests.classes], dtype=float)
    return shares / shares.sum()


def assign_classes(requests: Requests, n: int, rng: np.random.Generator) -> np.ndarray:
    """A class index (int16) for each of n requests, drawn independently by share."""
    shares = class_shares(requests)
    if shares.size == 1:
        return np.zeros(n, dtype=np.int16)
    cum = np.cumsum(shares)
    index = np.searchsorted(cum, rng.random(n) * cum[-1], side="right")
    return np.minimum(index, shares.size - 1).astype(np.int16)


def class_dist(requests: Requests, index: int, kind: Literal["prompt", "output"]) -> DistSpec:
    """The token distribution of one class, falling back to the [requests] default."""
    default = requests.prompt_tokens if kind == "prompt" else requests.output_tokens
    if not requests.classes:
        return default
    own = requests.classes[index]
    spec = own.prompt_tokens if kind == "prompt" else own.output_tokens
    return spec if spec is not None else default


def sample_class_tokens(
    requests: Requests,
    class_index: np.ndarray,
    kind: Literal["prompt", "output"],
    rng: np.random.Generator,
) -> np.ndarray:
    """Token counts (int64, 1..max_context_tokens), each from its request's class distribution."""
    max_tokens = requests.max_context_tokens
    if not requests.classes:
        return sample_tokens(class_dist(requests, 0, kind), class_index.size, rng, max_tokens)
    out = np.empty(class_index.size, dtype=np.int64)
    for index in range(len(class_names(requests))):
        members = np.flatnonzero(class_index == index)
        if members.size:
            spec = class_dist(requests, index, kind)
            out[members] = sample_tokens(spec, members.size, rng, max_tokens)
    return out
