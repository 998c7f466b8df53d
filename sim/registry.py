"""A registry: the plug-ins of one kind (routers, policies, ...), keyed by the name a scenario uses.

Each kind's registry lives beside its implementations (`ROUTERS` in
`sim/engine/routers.py`, ...). `sim/plugins.py` checks a scenario's names against
them when it is loaded, so an unknown name gets one line that lists the names
registered, and nothing outside a plug-in's own module switches on its name.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Generic, TypeVar

from sim.errors import CapsimError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind, in registration order, for the scenario key `key_path`."""

    def __init__(self, key_path: str, kind: str) -> None:
        self.key_path = key_path
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        """Add `entry` under `name`; a name is registered once."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def get(self, name: str, source: str | None = None) -> T:
        """The entry named `name`; a CapsimError naming the key and the allowed names if none."""
        try:
            return self._entries[name]
        except KeyError:
            pass
        hint = difflib.get_close_matches(str(name), self.names(), n=1)
        suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
        where = f"{source}: " if source else ""
        raise CapsimError(
            f"{where}{self.key_path}: unknown {self.kind} {name!r}.{suggestion} "
            f"Allowed: {', '.join(self.names())}"
        ) from None
