"""The spot market: each spot replica is reclaimed as a Poisson process, after a notice.

At the notice the replica stops taking work and a replacement starts its cold
start; at the reclaim the replica dies, and the requests it was serving are
retried elsewhere (or lost, with `spot.retry = false`). Every one is counted.
"""

from __future__ import annotations

import numpy as np

from sim.engine.replica import STOPPED, Replica
from sim.engine.state import EngineState
from sim.scenario.schema import Spot
from sim.scenario.spot_terms import SpotTerms


def launch_market(wanted: str, spot: Spot, rng: np.random.Generator) -> str:
    """The market a new replica actually gets: spot may be short, then on-demand stands in."""
    if wanted == "spot" and rng.random() < spot.capacity_shortage_probability:
        return "on-demand"
    return wanted


def watch_spot_replicas(
    state: EngineState, terms: SpotTerms, spot: Spot, rng: np.random.Generator
) -> None:
    """Give every spot replica, present and future, its own reclaim process."""

    def on_start(replica: Replica) -> None:
        if replica.market == "spot" and terms.interruptions_per_hour > 0:
            state.env.process(_reclaim(state, replica, terms, spot, rng))

    state.on_start = on_start
    for replica in state.replicas:
        on_start(replica)


def _reclaim(
    state: EngineState, replica: Replica, terms: SpotTerms, spot: Spot, rng: np.random.Generator
):
    """Wait for this replica's reclaim time; notify, replace, then kill it."""
    env = state.env
    lifetime_s = rng.exponential(3600.0 / terms.interruptions_per_hour)
    notice_at_s = replica.started_s + max(0.0, lifetime_s - terms.notice_s)
    if notice_at_s > env.now:
        yield env.timeout(notice_at_s - env.now)
    if replica.status == STOPPED or replica.draining:
        return  # scaled down before the provider wanted it back
    state.counters["interruptions"] += 1
    state.drain_replica(replica)
    state.launch(launch_market("spot", spot, rng))
    reclaim_at_s = replica.started_s + lifetime_s
    if reclaim_at_s > env.now:
        yield env.timeout(reclaim_at_s - env.now)
    if replica.status != STOPPED:
        state.kill_replica(replica, retry=terms.retry)
