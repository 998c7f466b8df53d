"""A FIFO of waiting request indices that integrates its own length over time."""

from __future__ import annotations

from collections import deque


class WaitingLine:
    """Requests waiting for admission, in arrival order.

    `length_area` is the time integral of the number waiting, so the mean queue
    length over a run is `length_area / duration`, independent of per-request waits
    (the two sides of Little's law).
    """

    __slots__ = ("_items", "_last_change_s", "length_area", "size")

    def __init__(self) -> None:
        self._items: deque[int] = deque()
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
        else:
            self._items.append(request)
        self.size += 1

    def pop(self, now_s: float) -> int:
        self._account(now_s)
        self.size -= 1
        return self._items.popleft()

    def drop_expired(self, now_s: float, arrival_s: list[float], timeout_s: float) -> list[int]:
        """Remove from the head the requests that waited longer than `timeout_s`.

        Each left at arrival + timeout, so the length integral counts it only until
        then. (A retried request pushed to the front is older than those behind it,
        so the head is always the first to expire.)
        """
        self._account(now_s)
        gone = []
        items = self._items
        while items and now_s - arrival_s[items[0]] > timeout_s:
            request = items.popleft()
            self.size -= 1
            self.length_area -= now_s - (arrival_s[request] + timeout_s)
            gone.append(request)
        return gone

    def drain(self, now_s: float) -> list[int]:
        """Remove and return everything waiting."""
        self._account(now_s)
        items = list(self._items)
        self._items.clear()
        self.size = 0
        return items

    def _account(self, now_s: float) -> None:
        self.length_area += len(self._items) * (now_s - self._last_change_s)
        self._last_change_s = now_s

    def length_area_until(self, now_s: float) -> float:
        """The length integral up to `now_s`, without changing the line."""
        return self.length_area + self.size * (now_s - self._last_change_s)

    def close(self, now_s: float) -> None:
        """Bring the length integral up to `now_s` (end of the run)."""
        self._account(now_s)
