"""What one run of the engine hands to the summary: the request log, replica books, fleet changes.

Both ways of running a replication (the SimPy engine and the compiled
compiled loop) end in an `EngineOutcome`, so everything downstream is one
code path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.engine.request_log import RequestLog

# What the fleet did in a run, counted: the keys of `EngineOutcome.counters`.
FLEET_COUNTERS = ("launches", "cold_starts", "interruptions", "scale_ups", "scale_downs")


@dataclass(frozen=True)
class ReplicaLifetime:
    """One replica's market, life and busy time: what billing needs to know of it."""

    market: str
    started_s: float
    stopped_s: float | None  # None: still up when the run ended
    busy_s: float


@dataclass
class FleetEvent:
    """A change in the fleet, for the fleet time series and billing."""

    time_s: float
    replica: int
    kind: str  # "start", "ready", "drain", "stop", "interrupt"


@dataclass
class EngineOutcome:
    log: RequestLog
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    lifetimes: list[ReplicaLifetime]  # one per replica ever started, for billing
    ready_s: list[float | None]  # when each replica began serving (None: never)
    running_area: float  # integral over time of requests in service, summed over replicas
    queue_area: float  # integral over time of requests waiting, summed over lines
    fleet_events: list[FleetEvent]
    counters: dict[str, int]  # launches, cold starts, interruptions, scale-ups and -downs
    end_s: float  # when the run stopped (the horizon, or later while requests drained)
