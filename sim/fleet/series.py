"""The fleet over time, from its start/ready/drain/stop events: exact step functions."""

from __future__ import annotations

import numpy as np

from sim.engine.outcome import FleetEvent

SERIES_BINS = 288  # five-minute bins over a day

# Event kinds that change the replicas up (start, stop) or serving (ready, drain).
_START, _READY, _DRAIN, _STOP = range(4)
_KIND_CODE = {"start": _START, "ready": _READY, "drain": _DRAIN, "stop": _STOP}


def step_functions(events: list[FleetEvent]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Change times and the replicas up and serving just after each change.

    A replica's events come in the order start, ready, drain, stop, so whether a
    stopping replica had become ready and not drained is known from all its events.
    """
    if not events:
        return np.array([]), np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    times_array = np.array([event.time_s for event in events])
    kinds = np.array([_KIND_CODE.get(event.kind, -1) for event in events], dtype=np.int8)
    replica = np.array([event.replica for event in events], dtype=np.int64)
    up_delta = np.zeros(len(events), dtype=np.int64)
    serving_delta = np.zeros(len(events), dtype=np.int64)
    up_delta[kinds == _START] = 1
    up_delta[kinds == _STOP] = -1
    serving_delta[kinds == _READY] = 1
    serving_delta[kinds == _DRAIN] = -1
    served = np.zeros(replica.max() + 1, dtype=bool)
    served[replica[kinds == _READY]] = True
    leaving = np.zeros_like(served)
    leaving[replica[kinds == _DRAIN]] = True
    # Died while serving (a spot reclaim) without draining first.
    died = (kinds == _STOP) & served[replica] & ~leaving[replica]
    serving_delta[died] = -1
    # Several events at one instant: keep the state after the last of them.
    last = np.append(times_array[1:] != times_array[:-1], True)
    return times_array[last], np.cumsum(up_delta)[last], np.cumsum(serving_delta)[last]


def _bin_means(times: np.ndarray, values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Exact mean of a right-continuous step function over each bin."""
    if len(times) == 0:
        return np.zeros(len(edges) - 1)
    area_at_change = np.concatenate([[0.0], np.cumsum(values[:-1] * np.diff(times))])
    index = np.searchsorted(times, edges, side="right") - 1
    before = index < 0
    index = np.maximum(index, 0)
    area = area_at_change[index] + values[index] * (edges - times[index])
    area[before] = 0.0
    return np.diff(area) / np.diff(edges)


def fleet_series(
    events: list[FleetEvent], arrival_s: list[float], horizon_s: float
) -> dict[str, list[float]]:
    """Mean replicas up (billed) and serving, and the arrival rate, per bin of the horizon."""
    edges = np.linspace(0.0, horizon_s, SERIES_BINS + 1)
    times, up, serving = step_functions(events)
    arrivals, _ = np.histogram(np.asarray(arrival_s), bins=edges)
    return {
        "time_s": edges[:-1].tolist(),
        "replicas_up": _bin_means(times, up, edges).tolist(),
        "replicas_serving": _bin_means(times, serving, edges).tolist(),
        "arrival_rate_per_s": (arrivals / np.diff(edges)).tolist(),
    }


def replica_counts(events: list[FleetEvent], horizon_s: float) -> dict[str, float]:
    """Replicas up over the horizon: least, time-mean and most; and how many ever started."""
    times, up, _ = step_functions(events)
    inside = times <= horizon_s
    if not inside.any():
        return {"min": 0.0, "mean": 0.0, "max": 0.0, "started": 0.0}
    # The value in force at each change inside the horizon, and at the start.
    at_start = up[np.searchsorted(times, 0.0, side="right") - 1] if times[0] <= 0 else 0
    values = np.concatenate([[at_start], up[inside]])
    mean = _bin_means(times, up, np.array([0.0, horizon_s]))[0]
    started = sum(1 for e in events if e.kind == "start")
    return {
        "min": float(values.min()),
        "mean": float(mean),
        "max": float(values.max()),
        "started": float(started),
    }
