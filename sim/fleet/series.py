"""The fleet over time, from its start/ready/drain/stop events: exact step functions."""

from __future__ import annotations

import numpy as np

from sim.engine.outcome import FleetEvent

SERIES_BINS = 288  # five-minute bins over a day

# (change in replicas up, change in replicas serving) for each event kind.
_CHANGE = {"start": (1, 0), "ready": (0, 1), "drain": (0, -1), "stop": (-1, 0)}


def step_functions(events: list[FleetEvent]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Change times and the replicas up and serving just after each change."""
    served = set()
    leaving = set()
    times, up_delta, serving_delta = [], [], []
    for event in events:
        up, serving = _CHANGE.get(event.kind, (0, 0))
        if event.kind == "ready":
            served.add(event.replica)
        if event.kind == "drain":
            leaving.add(event.replica)
        if event.kind == "stop" and event.replica in served and event.replica not in leaving:
            serving = -1  # died while serving (a spot reclaim) without draining first
        times.append(event.time_s)
        up_delta.append(up)
        serving_delta.append(serving)
    times_array = np.array(times)
    # Several events at one instant: keep the state after the last of them.
    last = np.append(times_array[1:] != times_array[:-1], True) if times else np.array([], bool)
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
