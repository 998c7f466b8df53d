"""The SimPy engine's work grows with the events of a run, not with replicas ever launched.

Serverless with `idle_timeout = 0` launches a container per request, and spot
reclaims launch a replacement each: a per-event scan over every replica ever
launched makes such runs quadratic. These tests count how often the engine
walks its list of all replicas, and check that the live set it keeps instead
lists the same replicas, in the same order, as the scan did. (These fleets run
compiled by default; the tests ask for the SimPy engine.)
"""

from __future__ import annotations

import gc

import pytest
from engine_helpers import run_once

import sim.fleet.start
from sim.engine.replica import STOPPED, Replica
from sim.engine.state import EngineState


class VisitCountingList(list):
    """A list that counts the elements handed out by iterating it (forwards or backwards)."""

    visits = 0

    def __iter__(self):
        for item in super().__iter__():
            VisitCountingList.visits += 1
            yield item

    def __reversed__(self):
        for item in super().__reversed__():
            VisitCountingList.visits += 1
            yield item


@pytest.fixture
def counted_replicas(monkeypatch):
    """Make the engine keep its replicas in a VisitCountingList; return the visit counter."""
    VisitCountingList.visits = 0

    def state_with_counting_list(**kwargs) -> EngineState:
        return EngineState(replicas=VisitCountingList(), **kwargs)

    monkeypatch.setattr(sim.fleet.start, "EngineState", state_with_counting_list)
    return VisitCountingList


# Serverless with a container per request: redai-100k as shipped, flat traffic, 30 minutes.
CONTAINER_PER_REQUEST = ['traffic.profile="constant"', 'horizon="30m"']
# Target-tracking over spot replicas reclaimed about once a minute: a replacement each time.
SPOT_CHURN = [
    'autoscaling.policy="target-tracking"',
    "autoscaling.min_replicas=3",
    "fleet.replicas=3",
    'fleet.market="spot"',
    "spot.interruptions_per_hour=60",
    'spot.notice="10s"',
    'autoscaling.cold_start={dist="fixed", value=30}',
    'traffic.profile="constant"',
    'horizon="1h"',
]


def test_container_per_request_walks_the_replicas_a_few_times_per_run(counted_replicas) -> None:
    result = run_once(CONTAINER_PER_REQUEST, base="redai-100k", seed=3, use_simpy=True)
    launched = result.events["launches"]
    assert launched > 1500  # ~2,080 requests, one container each
    # Closing the books walks every replica a few times (six now); a scan per arrival
    # would walk ~launched**2 / 2 (over two million) here.
    assert counted_replicas.visits <= 8 * launched


def test_spot_churn_under_an_autoscaler_walks_the_replicas_a_few_times(counted_replicas) -> None:
    result = run_once(SPOT_CHURN, base="diurnal-api", seed=5, use_simpy=True)
    launched = result.events["launches"]
    assert result.events["interruptions"] > 100  # 3 replicas x 60 / h over an hour
    # A scan at every 15 s sync would walk ~240 x launched / 2 replicas.
    assert counted_replicas.visits <= 8 * launched


def reference_active(state: EngineState) -> list:
    """What `active_replicas` returned when it scanned every replica: newest first."""
    return [r for r in reversed(state.replicas) if r.status != STOPPED and not r.draining]


@pytest.mark.parametrize(
    ("sets", "base"),
    [
        (SPOT_CHURN, "diurnal-api"),
        (CONTAINER_PER_REQUEST, "redai-100k"),
        (
            [
                "autoscaling.idle_timeout=20",
                'traffic.profile="constant"',
                'autoscaling.cold_start={dist="fixed", value=5}',
                'horizon="30m"',
            ],
            "redai-100k",
        ),
    ],
)
def test_the_live_set_lists_what_the_scan_listed_in_its_order(monkeypatch, sets, base) -> None:
    sizes = []
    route = EngineState.route

    def checked_route(state: EngineState, request: int, front: bool = False) -> None:
        active = state.active_replicas()
        assert active == reference_active(state)
        assert state.active_count() == len(active)
        sizes.append(len(active))
        route(state, request, front)

    monkeypatch.setattr(EngineState, "route", checked_route)
    run_once(sets, base=base, seed=11, use_simpy=True)
    assert len(sizes) > 1000 and max(sizes) >= 3  # checked at every routing, on fleets of several


def test_a_replication_leaves_no_engine_behind_for_the_next() -> None:
    """Replicas, processes and state refer to each other; unless freed as each replication
    ends, the garbage of several replications piled up (diurnal-api: 839 MB peak for 10)."""
    gc.collect()
    gc.disable()  # so that only what the engine frees itself is freed
    try:
        run_once(['horizon="30m"'], base="diurnal-api", seed=1)
        left = [o for o in gc.get_objects() if isinstance(o, EngineState | Replica)]
    finally:
        gc.enable()
    assert left == []
