"""Autoscaling policies: pure decision rules, and the SimPy process that applies them.

Each policy is a function from what the fleet observed to a desired replica
count; `autoscaler` wakes on the policy's period, observes, decides, and starts
(with a cold start) or drains replicas. The serverless policy reacts to each
arrival instead and lives in `serverless.py`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from distributions.tokens import dist_mean_cv
from sim.engine.replica import STARTING
from sim.engine.state import EngineState
from sim.scenario.schema import Autoscaling
from sim.scenario.units import SECONDS_PER_DAY


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
        up_since_s, down_since_s = now_s - self.up_window_s, now_s - self.down_window_s
        up = down = recommendation  # now's own, always in both windows
        for time_s, past in self._history:
            if time_s >= up_since_s and past < up:
                up = past
            if time_s >= down_since_s and past > down:
                down = past
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
    per_replica = queue_per_replica(config, observation.slots_per_replica)
    return math.ceil(observation.in_flight / per_replica - 1e-9)


def queue_per_replica(config: Autoscaling, slots_per_replica: int) -> float:
    """In-flight requests per replica that queue-depth aims for.

    The default is target-tracking's target in the same terms: `target` in-flight
    requests per batch slot (0.7 of a one-at-a-time replica), or `target` per replica
    with metric = "in-flight". A fixed figure above a replica's slots (the old 5 on
    one-at-a-time replicas) asks for fewer replicas than the offered load and
    oscillates between overload and a burst of cold starts.
    """
    if config.queue_per_replica is not None:
        return config.queue_per_replica
    if config.metric == "in-flight":
        return config.target
    return config.target * slots_per_replica


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


# ------------------------------------------------------------------ the decision


class FleetMeter:
    """Time averages of the fleet's load between two syncs, from an engine's integrals.

    `integrals` returns (now, integral of requests in service, integral of requests
    waiting), summed over the engine's replicas and lines; each engine supplies its
    own (`engine_integrals` for SimPy), the arithmetic here is shared.
    """

    def __init__(self, integrals: Callable[[], tuple[float, float, float]], slots: int) -> None:
        self._integrals = integrals
        self.slots_per_replica = slots
        self._last = integrals()

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
            slots_per_replica=self.slots_per_replica,
        )


def engine_integrals(state: EngineState) -> tuple[float, float, float]:
    """The SimPy engine's load integrals up to now, over every replica and line."""
    now = state.env.now
    running, waiting = state.load_integrals(now)
    return now, running, waiting


def queue_depth_up_window_s(config: Autoscaling) -> float:
    """queue-depth's scale-up window: at least one mean cold start.

    While new replicas start, the line they are meant to serve grows; sized on
    that alone, queue-depth would launch more, then drain them once all are up.
    Scaling up only to the lowest recommendation of a cold start's span ignores
    the backlog the pending replicas will clear.
    """
    return max(config.scale_up_stabilization, dist_mean_cv(config.cold_start_dist)[0])


class ScalingPolicy:
    """A periodic policy's decision at each sync: the desired size from what was observed.

    Both engines call it the same way at the same instants (SimPy's `autoscaler`
    process, the compiled kernel's driver), so they scale identically. It keeps the
    little state a policy carries between syncs: the stabilisation window and the
    time of the last scaling.
    """

    def __init__(
        self, config: Autoscaling, capacity_per_s: float, forecast: Callable[[float], float]
    ) -> None:
        self.config = config
        self.capacity_per_s = capacity_per_s
        self.forecast = forecast
        self.scheduled = config.policy == "scheduled"
        self.period_s = (
            config.polling_interval if config.policy == "queue-depth" else config.sync_period
        )
        self._stabilizer = Stabilizer(
            config.scale_up_stabilization, config.scale_down_stabilization
        )
        self._queue_stabilizer = Stabilizer(
            queue_depth_up_window_s(config), config.scale_down_stabilization
        )
        self._last_scale_s = -math.inf

    def first_sync_s(self) -> float:
        """When the first decision is due: at once for a schedule, else after a period."""
        return 0.0 if self.scheduled else self.period_s

    def next_sync_s(self, now_s: float) -> float:
        """Seconds from a decision at `now_s` to the next one."""
        if self.scheduled:
            return next_schedule_change_s(now_s, self.config.schedule)
        return self.period_s

    def decide(self, now_s: float, current: int, meter: FleetMeter) -> int:
        """The replica count wanted now, with `current` up (serving or starting)."""
        config = self.config
        if self.scheduled:
            # A scheduled action sets the size outright (step limits pace the reactive policies).
            scheduled = scheduled_desired(now_s, config.schedule)
            return max(config.min_replicas, min(config.max_replicas, scheduled))
        observation = meter.observe(current)
        if config.policy == "target-tracking":
            desired = target_tracking_desired(observation, config)
            desired = self._stabilizer.stabilize(now_s, current, desired)
        elif config.policy == "queue-depth":
            desired = queue_depth_desired(observation, config)
            desired = self._queue_stabilizer.stabilize(now_s, current, desired)
            if desired < current and now_s - self._last_scale_s < config.cooldown:
                desired = current
        else:  # predictive: provision now for the rate one cold start ahead
            desired = predictive_desired(self.forecast(now_s), self.capacity_per_s, config)
            desired = self._stabilizer.stabilize(now_s, current, desired)
        desired = limit_step(current, desired, config)
        if desired != current:
            self._last_scale_s = now_s
        return desired


# ------------------------------------------------------------------ the process


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


def autoscaler(state: EngineState, policy: ScalingPolicy, next_market):
    """The periodic autoscaler process for every policy but fixed and serverless."""
    env = state.env
    meter = FleetMeter(partial(engine_integrals, state), state.max_batch)
    if not policy.scheduled:
        yield env.timeout(policy.first_sync_s())
    while True:
        current = state.active_count()
        desired = policy.decide(env.now, current, meter)
        if desired != current:
            resize(state, desired, next_market)
        yield env.timeout(policy.next_sync_s(env.now))
