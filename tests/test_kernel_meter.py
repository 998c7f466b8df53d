"""The kernel's load meter against the sum over every replica ever launched.

`KernelMeter` folds each stopped replica into exact partial sums once, so a sync
costs the replicas up; the totals must stay the correctly rounded sum of every
term, as `math.fsum` over all replicas gives them, whatever stops when.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from sim.engine.compiled_loop import CLOCK_CONTROL_S, STOPPED, TALLY_REPLICAS
from sim.fleet.kernel_meter import KernelMeter

IDLE = 0


def brute_force(k: SimpleNamespace, shared_line: bool) -> tuple[float, float, float]:
    """Every replica's and every line's integral up to now, correctly rounded."""
    now_s = float(k.clock[CLOCK_CONTROL_S])
    count = int(k.tally[TALLY_REPLICAS])
    running = math.fsum(
        (k.running_area[:count] + k.running[:count] * (now_s - k.last_change_s[:count])).tolist()
    )
    lines = (k.line_area + k.line_size * (now_s - k.line_last_s)).tolist()
    return now_s, running, math.fsum(lines[:1] if shared_line else lines[: count + 1])


def fleet(capacity: int, rng: np.random.Generator) -> SimpleNamespace:
    """A kernel's books for `capacity` replicas with awkward magnitudes (exact sums matter)."""
    scale = 10.0 ** rng.integers(-6, 9, capacity)
    return SimpleNamespace(
        clock=np.zeros(8),
        tally=np.zeros(64, np.int64),
        running_area=rng.random(capacity) * scale,
        running=rng.integers(0, 5, capacity),
        last_change_s=np.zeros(capacity),
        line_area=rng.random(capacity + 1) * 10.0 ** rng.integers(-6, 9, capacity + 1),
        line_size=rng.integers(0, 4, capacity + 1),
        line_last_s=np.zeros(capacity + 1),
        activity=np.full(capacity, IDLE, np.int64),
    )


def test_the_meter_is_the_sum_over_every_replica_as_replicas_start_and_stop():
    for shared_line in (False, True):
        rng = np.random.default_rng(7)
        k = fleet(60, rng)
        meter = KernelMeter(shared_line)
        for sync in range(1, 40):
            now_s = 15.0 * sync
            k.clock[CLOCK_CONTROL_S] = now_s
            k.tally[TALLY_REPLICAS] = min(60, 5 + sync)  # launches go on
            for replica in rng.choice(int(k.tally[TALLY_REPLICAS]), 2, replace=False):
                if k.activity[replica] == STOPPED:
                    continue
                # It stops: its integrals freeze at now, nothing left in it or its line.
                span = now_s - k.last_change_s[replica]
                k.running_area[replica] += k.running[replica] * span
                k.running[replica] = 0
                k.last_change_s[replica] = now_s
                line = replica + 1
                k.line_area[line] += k.line_size[line] * (now_s - k.line_last_s[line])
                k.line_size[line] = 0
                k.line_last_s[line] = now_s
                k.activity[replica] = STOPPED
            assert meter.integrals(k) == brute_force(k, shared_line)
        assert (k.activity[: int(k.tally[TALLY_REPLICAS])] == STOPPED).sum() > 20


def test_a_stopped_replica_whose_line_still_holds_requests_is_not_folded():
    rng = np.random.default_rng(3)
    k = fleet(4, rng)
    k.tally[TALLY_REPLICAS] = 4
    k.activity[0] = STOPPED
    k.running[0] = 0
    k.line_size[1] = 2  # its line is not empty yet: its waiting integral still grows
    meter = KernelMeter(shared_line=False)
    for now_s in (10.0, 20.0, 30.0):
        k.clock[CLOCK_CONTROL_S] = now_s
        assert meter.integrals(k) == brute_force(k, False)
