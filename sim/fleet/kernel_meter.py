"""The compiled kernel's load integrals at a control instant, as the SimPy engine adds them.

`EngineState.load_integrals` sums, correctly rounded, the integrals of requests in
service and waiting over the replicas still up, plus the frozen totals of those
that stopped (kept exactly with `add_exactly`). The kernel's meter does the same,
so each sync costs the replicas up, not every replica ever launched, and the
totals, and so every scaling decision, are the SimPy engine's to the last bit.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.engine.compiled_loop import CLOCK_CONTROL_S, STOPPED, TALLY_REPLICAS, Kernel
from sim.engine.exact_sum import add_exactly
from sim.engine.rules.books import accrue


@njit(cache=True)
def _live_terms(
    running_area, running, last_change_s, line_area, line_size, line_last_s, activity,
    live, count, now_s, terms, order,
):  # fmt: skip
    """Each of the first `count` replicas in `live`: its integrals up to `now_s` (in
    service, in its own line) into `terms`, and the replica into `order`, those now
    final (stopped, holding nothing, nothing in their line) behind the others;
    returns how many are not final."""
    kept = 0
    last = count
    for i in range(count):
        replica = live[i]
        line = replica + 1  # line 0 is the holding or shared line
        in_service = accrue(running_area[replica], running[replica], last_change_s[replica], now_s)
        waiting = accrue(line_area[line], line_size[line], line_last_s[line], now_s)
        if activity[replica] == STOPPED and running[replica] == 0 and line_size[line] == 0:
            last -= 1
            slot = last
        else:
            slot = kept
            kept += 1
        order[slot] = replica
        terms[0, slot] = in_service
        terms[1, slot] = waiting
    return kept


class KernelMeter:
    """(now, integral in service, integral waiting) at the kernel's control instant."""

    def __init__(self, shared_line: bool) -> None:
        self.shared_line = shared_line
        self._live = np.empty(8, np.int64)  # replicas whose integrals may still change ...
        self._live_count = 0  # ... the first this many
        self._order = np.empty(8, np.int64)  # where the next call lists them
        self._terms = np.empty((2, 8))
        self._known = 0  # replicas seen so far
        self._stopped_in_service: list[float] = []  # exact partial sums of the stopped
        self._stopped_waiting: list[float] = []

    def integrals(self, k: Kernel) -> tuple[float, float, float]:
        now_s = float(k.clock[CLOCK_CONTROL_S])
        count = int(k.tally[TALLY_REPLICAS])
        if count > self._known:
            self._add_replicas(count)
        seen = self._live_count
        kept = self._live_count = _live_terms(
            k.running_area, k.running, k.last_change_s, k.line_area, k.line_size,
            k.line_last_s, k.activity, self._live, seen, now_s, self._terms, self._order,
        )  # fmt: skip
        self._live, self._order = self._order, self._live
        in_service, waiting = self._terms[:, :seen].tolist()
        for value in in_service[kept:]:
            add_exactly(self._stopped_in_service, value)
        for value in waiting[kept:]:
            add_exactly(self._stopped_waiting, value)
        running = math.fsum([*self._stopped_in_service, *in_service[:kept]])
        holding = accrue(float(k.line_area[0]), int(k.line_size[0]), float(k.line_last_s[0]), now_s)
        if self.shared_line:  # the replicas' own lines stay empty
            return now_s, running, holding
        return now_s, running, math.fsum([*self._stopped_waiting, holding, *waiting[:kept]])

    def _add_replicas(self, count: int) -> None:
        """List the replicas launched since the last call as live."""
        new = np.arange(self._known, count)
        wanted = self._live_count + len(new)
        if wanted > len(self._live):
            size = max(wanted, 2 * len(self._live))
            self._live = np.concatenate([self._live, np.empty(size - len(self._live), np.int64)])
            self._order = np.empty(size, np.int64)
            self._terms = np.empty((2, size))
        self._live[self._live_count : wanted] = new
        self._live_count = wanted
        self._known = count
