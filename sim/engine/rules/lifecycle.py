"""When a replica stops: a drain's end, a reclaim's in-flight work, a container's retirement.

`EngineState.drain_replica` / `kill_replica`, `Replica._serve_static`, the
serverless scaler (`sim/fleet/serverless.py`) and the compiled loop's
`drain_replica`, `kill_replica`, `start_next_or_idle`, `retire_idle` and
`idle_timer` decide with these functions.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def drained(draining: bool, holding: int) -> bool:
    """A draining replica stops once it holds no request (else it idles, or serves on)."""
    return draining and holding == 0


@njit(cache=True)
def retried_after_reclaim(retries: int, now_s: float, patience_s: float) -> tuple[int, float]:
    """A request in service on a reclaimed replica, retried: one more retry, and the
    client's patience restarts now (its new deadline). It rejoins a line at the front,
    having been served; with `spot.retry` off it is lost instead."""
    return retries + 1, now_s + patience_s


@njit(cache=True)
def retires_idle(up: int, min_replicas: int, waiting: int) -> bool:
    """An idle serverless container retires while more than `min_replicas` are up and
    nobody waits in the shared line."""
    return up > min_replicas and waiting == 0


@njit(cache=True)
def idle_timer_fires(is_idle: bool, idle_since_s: float, timer_since_s: float) -> bool:
    """The idle timeout, set when the container went idle at `timer_since_s`, retires it:
    it is still idle and has not worked since (a new idle spell has its own timer)."""
    return is_idle and idle_since_s == timer_since_s
