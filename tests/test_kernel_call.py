"""A compiled call typed once per argument object gives what the dispatcher gives."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from sim.engine.kernel_call import TypedCall


class Books(NamedTuple):
    values: np.ndarray
    weights: np.ndarray


@njit
def weighted_total(books, scale):
    total = 0.0
    for i in range(books.values.shape[0]):
        total += books.values[i] * books.weights[i]
        books.weights[i] += 1  # the call changes its argument in place, as the kernel does
    return total * scale


def test_typed_call_matches_the_dispatcher_and_retypes_a_new_object():
    call = TypedCall(weighted_total)
    floats = Books(np.arange(4.0), np.ones(4))
    twin = Books(np.arange(4.0), np.ones(4))
    for _ in range(3):  # the same object again: the looked-up specialisation, same books
        assert call(floats, 2.0) == weighted_total(twin, 2.0)
        np.testing.assert_array_equal(floats.weights, twin.weights)
    ints = Books(np.arange(4), np.ones(4, np.int64))  # other types: typed again, not misread
    assert call(ints, 2.0) == weighted_total(Books(np.arange(4), np.ones(4, np.int64)), 2.0)
    assert len(weighted_total.signatures) == 2
