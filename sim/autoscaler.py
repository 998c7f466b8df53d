"""Autoscaling policies: pure decision rules, and the SimPy process that applies them.

Each policy is a function from what the fleet observed to a desired replica
count; `autoscaler` wakes on the policy's period, observes, decides, and starts
(with a cold start) or drains replicas. The serverless policy reacts to each
arrival instead and lives in `serverless.py`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from sim.engine_state import EngineState
from sim.replica import STARTING
from sim.scenario import Autoscaling, Scenario
from sim.units import SECONDS_PER_DAY


@dataclass(frozen=True)
class Observation:
    """What the autoscaler sees at one sync: time averages over the last period."""

    time_s: float
    replicas: int  # up and not draining: serving or in their cold start
    in_flight: float  # mean requests waiting or in service, whole fleet
    busy_slots: float  # mean requests in service, whole fleet
    slots_per_replica: int


def hpa_desired(current: int, metric: float, target: float, tolerance: float) -> int:
    """Kubernetes HPA: ceil(current x metric / target), unchanged within the tolerance band."""
    if current == 0:
        return 1 if metric > 0 else 0
    ratio = metric / target
    if abs(ratio - 1.0) <= tolerance:
        return current
    return math.ceil(current * ratio - 1e-9)


class Stabilizer:
    """The HPA's stabilisation windows over past recommendations.

    Scale up to at most the lowest recommendation of the up window, and down to at
    least the highest of the down window: short dips and spikes are ignored.
    """

    def __init__(self, up_window_s: float, down_window_s: float) -> None:
        self.up_window_s = up_window_s
        self.down_window_s = down_window_s
        self._history: deque[tuple[float, int]] = deque()

    def stabilize(self, now_s: float, current: int, recommendation: int) -> int:
        self._history.append((now_s, recommendation))
        horizon = max(self.up_window_s, self.down_window_s)
        while self._history and self._history[0][0] < now_s - horizon:
            self._history.popleft()
        up = min(r for t, r in self._history if t >= now_s - self.up_window_s)
        down = max(r for t, r in self._history if t >= now_s - self.down_window_s)
        if current < up:
            return up
        if current > down:
            return down
        return current


def limit_step(current: int, desired: int, config: Autoscaling) -> int:
    """Cap the change per period, then keep within min and max replicas."""
    if config.max_step_up is not None:
        desired = min(desired, current + config.max_step_up)
    if config.max_step_down is not None:
        desired = max(desired, current - config.max_step_down)
    return max(config.min_replicas, min(config.max_replicas, desired))


def target_tracking_desired(observation: Observation, config: Autoscaling) -> int:
    """HPA on batch-slot utilisation or on in-flight requests per replica."""
    current = observation.replicas
    if current == 0:
        return 1 if observation.in_flight > 0 else 0  # wake from zero when work waits
    per_replica = current
    if config.metric == "utilization":
        metric = observation.busy_slots / (per_replica * observation.slots_per_replica)
    else:
        metric = observation.in_flight / per_replica
    return hpa_desired(current, metric, config.target, config.tolerance)


def queue_depth_desired(observation: Observation, config: Autoscaling) -> int:
    """KEDA-style: enough replicas for `queue_per_replica` in-flight requests each."""
    return math.ceil(observation.in_flight / config.queue_per_replica - 1e-9)


def scheduled_desired(time_s: float, schedule: list[tuple[float, int]]) -> int:
    """The scheduled size at a time: the latest entry at or before its time of day."""
    entries = sorted(schedule)
    time_of_day = time_s % SECONDS_PER_DAY
    current = entries[-1][1]  # before the first entry of the day, yesterday's last holds
    for start_s, replicas in entries:
        if start_s <= time_of_day:
            current = replicas
    return current


def next_schedule_change_s(time_s: float, schedule: list[tuple[float, int]]) -> float:
    """Seconds until the next scheduled entry (repeating daily)."""
    time_of_day = time_s % SECONDS_PER_DAY
    later = [start for start, _ in schedule if start > time_of_day + 1e-9]
    if later:
        return min(later) - time_of_day
    return SECONDS_PER_DAY - time_of_day + min(start for start, _ in schedule)


def predictive_desired(
    forecast_rate_per_s: float, capacity_per_s: float, config: Autoscaling
) -> int:
    """Replicas for the forecast rate at the target utilisation, plus headroom."""
    needed = forecast_rate_per_s * (1.0 + config.headroom) / (capacity_per_s * config.target)
    return math.ceil(needed - 1e-9)


# ------------------------------------------------------------------ the process


class FleetMeter:
    """Time averages of the fleet's load between two syncs, from the engine's integrals."""

    def __init__(self, state: EngineState) -> None:
        self.state = state
        self._last = self._integrals()

    def _integrals(self) -> tuple[float, float, float]:
        now = self.state.env.now
        running, waiting = self.state.load_integrals(now)
        return now, running, waiting

    def observe(self, replicas: int) -> Observation:
        now, running, waiting = self._integrals()
        then, running_before, waiting_before = self._last
        self._last = (now, running, waiting)
        span = max(now - then, 1e-9)
        busy = (running - running_before) / span
        return Observation(
            time_s=now,
            replicas=replicas,
            in_flight=busy + (waiting - waiting_before) / span,
            busy_slots=busy,
            slots_per_replica=self.state.max_batch,
        )


def resize(state: EngineState, desired: int, next_market) -> None:
    """Start or drain replicas so that `desired` are up; cold starts are cancelled first."""
    active = state.active_replicas()
    if desired > len(active):
        state.counters["scale_ups"] += 1
        for _ in range(len(active), desired):
            state.launch(next_market())
    elif desired < len(active):
        state.counters["scale_downs"] += 1
        starting = [r for r in active if r.status == STARTING]
        serving = sorted(
            (r for r in active if r.status != STARTING), key=lambda r: r.line.size + r.running
        )
        for replica in (starting + serving)[: len(active) - desired]:
            state.drain_replica(replica)


def autoscaler(
    state: EngineState, scenario: Scenario, capacity_per_s: float, forecast, next_market
):
    """The periodic autoscaler process for every policy but fixed and serverless."""
    config = scenario.autoscaling
    env = state.env
    meter = FleetMeter(state)
    stabilizer = Stabilizer(config.scale_up_stabilization, config.scale_down_stabilization)
    last_scale_s = -math.inf
    while config.policy == "scheduled":
        current = state.active_count()
        # A scheduled action sets the size outright (step limits pace the reactive policies).
        scheduled = scheduled_desired(env.now, config.schedule)
        desired = max(config.min_replicas, min(config.max_replicas, scheduled))
        if desired != current:
            resize(state, desired, next_market)
        yield env.timeout(next_schedule_change_s(env.now, config.schedule))
    while True:
        period = config.polling_interval if config.policy == "queue-depth" else config.sync_period
        yield env.timeout(period)
        current = state.active_count()
        observation = meter.observe(current)
        if config.policy == "target-tracking":
            desired = target_tracking_desired(observation, config)
            desired = stabilizer.stabilize(env.now, current, desired)
        elif config.policy == "queue-depth":
            desired = queue_depth_desired(observation, config)
            if desired < current and env.now - last_scale_s < config.cooldown:
                desired = current
        else:  # predictive: provision now for the rate one cold start ahead
            desired = predictive_desired(forecast(env.now), capacity_per_s, config)
            desired = stabilizer.stabilize(env.now, current, desired)
        desired = limit_step(current, desired, config)
        if desired != current:
            last_scale_s = env.now
            resize(state, desired, next_market)
