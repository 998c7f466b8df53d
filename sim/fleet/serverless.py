"""Serverless scaling: containers start on demand, stay warm for an idle timeout, scale to zero.

Requests wait in one shared line. When more wait than the warm and starting
containers can take, new containers start (each after its cold start, billed
from its start). A container idle for `idle_timeout` stops, down to
`min_replicas`. Billing is per container-second from start to stop, cold start and
idle time included, as Modal and RunPod bill; `billed_only_busy` keeps the seeds'
idealisation of paying for busy seconds only.
"""

from __future__ import annotations

import math

from sim.engine.replica import DECODING, FILLING, IDLE, STARTING, Replica
from sim.engine.rules.lifecycle import idle_timer_fires, retires_idle
from sim.engine.state import EngineState
from sim.scenario.schema import Autoscaling


def attach_serverless_scaler(state: EngineState, config: Autoscaling) -> None:
    """Hook the scaler to arrivals and to idle containers."""
    env = state.env

    def on_arrival() -> None:
        if state.idle_replicas:
            return
        slots = state.max_batch
        spare = sum(_room(r, slots) for r in state.iter_active())
        waiting = state.shared_line.size
        if waiting <= spare:
            return
        needed = math.ceil((waiting - spare) / state.max_batch)
        room = config.max_replicas - state.active_count()
        for _ in range(max(0, min(needed, room))):
            state.launch("serverless")

    def on_idle(replica: Replica) -> None:
        if config.idle_timeout <= 0:
            _retire(replica)
        else:
            env.process(_retire_after_timeout(replica, replica.idle_since_s))

    def _retire(replica: Replica) -> None:
        if retires_idle(state.active_count(), config.min_replicas, state.shared_line.size):
            state.drain_replica(replica)

    def _retire_after_timeout(replica: Replica, idle_since_s: float):
        yield env.timeout(config.idle_timeout)
        if idle_timer_fires(replica.status == IDLE, replica.idle_since_s, idle_since_s):
            _retire(replica)

    state.on_arrival = on_arrival
    state.on_idle = on_idle


def _room(container: Replica, slots: int) -> int:
    """Requests a container will take soon: all its slots if starting or filling a batch,
    the free slots of a decode run, none while a static batch runs."""
    if container.status in (STARTING, FILLING):
        return slots
    if container.status == DECODING:
        return slots - container.running
    return 0
