"""Call a compiled function many times on the same kind of arguments, typed once.

Numba's dispatcher works out the type of every argument on every call; for the
kernel, a tuple of about 90 arrays, that costs ~15 us, as long as the loop's
work between two autoscaler syncs. A fleet that scales returns to Python at each
sync (5,760 times a simulated day at a 15 s period), so the driver types its
kernel once, when it first sees it, and calls the specialisation compiled for
exactly those types. A kernel of other types (a grown or extended kernel is a
new object) is typed again, so a call never reaches code compiled for other
types.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba


class TypedCall:
    """`dispatcher(kernel, *rest)`, with the specialisation looked up once per kernel object."""

    def __init__(self, dispatcher: Any) -> None:
        self._dispatcher = dispatcher
        self._kernel: object | None = None
        self._compiled: Callable[..., Any] = dispatcher

    def __call__(self, kernel: object, *rest: Any) -> Any:
        if kernel is not self._kernel:
            self._compiled = self._specialisation(kernel, rest)
            self._kernel = kernel
        return self._compiled(kernel, *rest)

    def _specialisation(self, kernel: object, rest: tuple[Any, ...]) -> Callable[..., Any]:
        """The compiled entry for these argument types (compiling it if new), or the
        dispatcher itself where this numba keeps its specialisations elsewhere."""
        types = tuple(numba.typeof(value) for value in (kernel, *rest))
        overloads = getattr(self._dispatcher, "overloads", None)
        if overloads is None:
            return self._dispatcher
        if types not in overloads:
            self._dispatcher.compile(types)
        overload = overloads.get(types)
        return getattr(overload, "entry_point", None) or self._dispatcher
