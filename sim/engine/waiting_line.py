"""A FIFO of waiting request indices that integrates its own length over time."""

from __future__ import annotations

from collections import deque

from sim.engine.rules.books import accrue, expired_overcount
from sim.engine.rules.waiting_line import gave_up


class WaitingLine:
    """Requests waiting for admission, in the order they joined.

    `length_area` is the time integral of the number waiting, so the mean queue
    length over a run is `length_area / duration`, independent of per-request waits
    (the two sides of Little's law). Each entry remembers when it joined this line,
    so a client who gives up is counted only until it left.
    """

    __slots__ = ("_items", "_joined_s", "_last_change_s", "length_area", "size")

    def __init__(self) -> None:
        self._items: deque[int] = deque()
        self._joined_s: deque[float] = deque()
        self.size = 0  # len(self), as a plain attribute for the routers' hot loop
        self._last_change_s = 0.0
        self.length_area = 0.0

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return self.size > 0

    def __iter__(self):
        return iter(self._items)

    def head(self) -> int:
        return self._items[0]

    def push(self, request: int, now_s: float, front: bool = False) -> None:
        """Join the line at the back, or at the front (a retry that was being served)."""
        self._account(now_s)
        if front:
            self._items.appendleft(request)
            self._joined_s.appendleft(now_s)
        else:
            self._items.append(request)
            self._joined_s.append(now_s)
        self.size += 1

    def pop(self, now_s: float) -> int:
        self._account(now_s)
        self.size -= 1
        self._joined_s.popleft()
        return self._items.popleft()

    def drop_expired(self, now_s: float, deadline_s: list[float]) -> list[int]:
        """Remove from the head the requests whose patience ran out (deadline before now).

        Each left at its deadline, so the length integral counts it only until then,
        or not at all if it joined this line after its deadline. The head expires
        first, except behind a retry put at the front: that one is checked when it
        reaches the head.
        """
        self._account(now_s)
        gone = []
        items, joined = self._items, self._joined_s
        while items and gave_up(deadline_s[items[0]], now_s):
            request = items.popleft()
            joined_s = joined.popleft()
            self.size -= 1
            self.length_area -= expired_overcount(now_s, joined_s, deadline_s[request])
            gone.append(request)
        return gone

    def drain(self, now_s: float) -> list[int]:
        """Remove and return everything waiting."""
        self._account(now_s)
        items = list(self._items)
        self._items.clear()
        self._joined_s.clear()
        self.size = 0
        return items

    def length_area_until(self, now_s: float) -> float:
        """The length integral up to `now_s`, without changing the line."""
        return accrue(self.length_area, self.size, self._last_change_s, now_s)

    def _account(self, now_s: float) -> None:
        self.length_area = accrue(self.length_area, self.size, self._last_change_s, now_s)
        self._last_change_s = now_s

    def close(self, now_s: float) -> None:
        """Bring the length integral up to `now_s` (end of the run)."""
        self._account(now_s)
