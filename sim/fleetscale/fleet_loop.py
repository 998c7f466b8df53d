"""The fleet stepped through time, every replication at once (numpy arrays over replications).

Each step of `dt_s` seconds: replicas whose cold start ends join; spot notices take
replicas out and launch replacements; the step's arrivals meet the serving
replicas' saturated throughput. Below it, the step's requests take the latency
model at the step's load; above it, or while a backlog remains, the excess waits
in a fluid first-come-first-served backlog, which an admission cap (drops) and a
timeout (abandons) bound. The autoscaler observes time averages and acts on its
period, as the exact engine's does. Memory is a few arrays per step, whatever the
request count.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from distributions.tokens import dist_mean_cv, sample
from distributions.traffic import traffic_profile
from sim.fleet.autoscaler import next_schedule_change_s, scheduled_desired
from sim.fleet.start import initial_markets
from sim.fleetscale.fleet_draws import FleetDraws, delay_rng
from sim.fleetscale.latency_model import ModelSet
from sim.scenario import plugins
from sim.scenario.plugins import AUTOSCALING, BATCHING
from sim.scenario.schema import Scenario
from sim.scenario.spot_terms import spot_terms

MARKETS = plugins.MARKETS.names()  # the fleet's replicas are counted by market
SMOOTHING_STEPS = 12  # the load that picks a step's latency is a moving mean over this many
COLD_START_SAMPLES = 100_000


@dataclass
class FleetRun:
    """Per-step records (replications x steps) and per-replication totals of one batch."""

    dt_s: float
    horizon_steps: int
    arrivals: np.ndarray  # (R, S) float
    serving: np.ndarray  # (R, S) replicas serving in the step
    up: np.ndarray  # (R, S) replicas up (serving or starting): billed
    backlogged: np.ndarray  # (R, S) bool: the step's requests waited in the backlog
    level: np.ndarray  # (R, S) fractional index into the model's loads
    table_index: np.ndarray  # (R, S) which probe size's table
    completed: np.ndarray  # (R, S) requests of the step that completed
    cum_arrived: np.ndarray  # (R, S) arrivals up to the step's end
    cum_left: np.ndarray  # (R, S) requests that left the backlog (served or gave up) by then
    # (R, S) serverless: requests that arrived at the step's peak concurrency above the
    # warm slots, and those slots (they wait for a busy container to free, see summary)
    peak_excess: np.ndarray | None = None
    peak_slots: np.ndarray | None = None
    totals: dict[str, np.ndarray] = field(default_factory=dict)  # (R,) each
    up_s: dict[str, np.ndarray] = field(default_factory=dict)  # market -> (R,) within horizon
    busy_s: dict[str, np.ndarray] = field(default_factory=dict)
    counters: dict[str, np.ndarray] = field(default_factory=dict)
    end_s: np.ndarray | None = None
    # A trace replay's (R, S) ratios of each step's requests' service times to the
    # average request's: "ttft" and "e2e" alone (calm steps), "saturated" (backlogged)
    service_scale: dict[str, np.ndarray] | None = None


def _delay_shares(scenario: Scenario, dt_s: float, rng: np.random.Generator) -> np.ndarray:
    """Probability that a cold start lasts d steps (rounded), d = 0, 1, ..."""
    draws = sample(scenario.autoscaling.cold_start_dist, COLD_START_SAMPLES, rng)
    steps = np.rint(draws / dt_s).astype(np.int64)
    shares = np.bincount(steps).astype(float)
    return shares / shares.sum()


class _Stabilizer:
    """The HPA's windows, over every replication's recommendations at once."""

    def __init__(self, up_window_s: float, down_window_s: float) -> None:
        self.up_window_s = up_window_s
        self.down_window_s = down_window_s
        self.history: deque[tuple[float, np.ndarray]] = deque()

    def stabilize(self, now_s: float, current: np.ndarray, recommendation: np.ndarray):
        self.history.append((now_s, recommendation))
        keep = max(self.up_window_s, self.down_window_s)
        while self.history and self.history[0][0] < now_s - keep:
            self.history.popleft()
        up = np.min([r for t, r in self.history if t >= now_s - self.up_window_s], axis=0)
        down = np.max([r for t, r in self.history if t >= now_s - self.down_window_s], axis=0)
        return np.where(current < up, up, np.where(current > down, down, current))


def run_fleet(
    scenario: Scenario,
    model: ModelSet,
    counts: np.ndarray,
    dt_s: float,
    drain_s: float,
    draws: FleetDraws,
    predictive_capacity_per_s: float,
    cost: np.ndarray | None = None,
    prefill_s: float = 0.0,
) -> FleetRun:
    """Step the fleet of every replication over the horizon and the drain that follows.

    Replications do not interact: each one's numbers are those it would have alone.
    `cost` (replications x horizon steps), for a trace replay, is each step's requests'
    mean cost to a saturated replica over the average request's (request_work.py): the
    backlog carries its requests' cost, and a step serves n x mu x dt average requests'
    worth of work. `prefill_s`: a continuous batch's mean prefill time per request
    (request_work.py), the share of its time new requests take from those decoding."""
    reps, horizon_steps = counts.shape
    horizon_s = scenario.horizon
    total_steps = horizon_steps + math.ceil(drain_s / dt_s)
    config = scenario.autoscaling
    policy = AUTOSCALING[config.policy]
    serverless = policy.containers
    largest = model.largest
    slots = _slots(scenario)
    delay = _delay_shares(scenario, dt_s, delay_rng(scenario.seed))
    width = len(delay)
    cold_start_mean_s = dist_mean_cv(config.cold_start_dist)[0]
    ready = {m: np.zeros((reps, total_steps + width + 1), np.int32) for m in MARKETS}
    serving = {m: np.zeros(reps, np.int64) for m in MARKETS}
    starting = {m: np.zeros(reps, np.int64) for m in MARKETS}
    for market in initial_markets(scenario):
        serving[market] += 1
    counters = {
        k: np.zeros(reps, np.int64)
        for k in ("launches", "cold_starts", "interruptions", "scale_ups", "scale_downs")
    }
    started = np.full(reps, float(scenario.fleet.replicas))
    up_s = {m: np.zeros(reps) for m in MARKETS}
    busy_market_s = {m: np.zeros(reps) for m in MARKETS}
    reserved_above_s = np.zeros(reps)
    commit = scenario.pricing.reserved_replicas

    uses_spot = scenario.fleet.uses_spot
    terms = spot_terms(scenario) if uses_spot else None
    notice_p = 1.0 - math.exp(-terms.interruptions_per_hour * dt_s / 3600.0) if terms else 0.0
    shortage = scenario.spot.capacity_shortage_probability

    def launch(market_k: dict[str, np.ndarray], join_step: int) -> None:
        for market, k in market_k.items():
            if not k.any():
                continue
            if plugins.MARKETS[market].reclaimed and shortage > 0:
                short = draws.binomial(k, shortage, spot=True)
                k = k - short
                if short.any():
                    launch({"on-demand": short}, join_step)
            delays = draws.multinomial(k, delay)
            ready[market][:, join_step : join_step + width] += delays.astype(np.int32)
            starting[market] += k
            counters["launches"] += k
            if cold_start_mean_s > 0:
                counters["cold_starts"] += k
            started[:] += k

    def next_markets(k: np.ndarray) -> dict[str, np.ndarray]:
        if serverless or plugins.MARKETS[scenario.fleet.market].containers:
            return {"serverless": k}
        fraction = scenario.fleet.spot_fraction
        if fraction is None:
            return {scenario.fleet.market: k}
        active = sum(serving[m] + starting[m] for m in MARKETS)
        spot_active = serving["spot"] + starting["spot"]
        wanted = np.floor(fraction * (active + k) + 0.5).astype(np.int64)
        spot = np.clip(wanted - spot_active, 0, k)
        return {"spot": spot, "on-demand": k - spot}

    def cancel_starting(count: np.ndarray, step: int) -> np.ndarray:
        """Cancel up to `count` cold starts, the soonest first; returns how many were."""
        left = count.copy()
        for market in MARKETS:
            if not left.any():
                break
            window = ready[market][:, step : step + width + 1]
            cum = np.cumsum(window, axis=1)
            take = np.clip(left[:, None] - (cum - window), 0, window)
            window -= take.astype(np.int32)
            taken = take.sum(axis=1)
            starting[market] -= taken
            left -= taken
        return count - left

    def remove_serving(count: np.ndarray) -> None:
        total = sum(serving[m] for m in MARKETS)
        left = count.copy()
        for market in MARKETS:
            share = np.where(total > 0, serving[market] / np.maximum(total, 1), 0.0)
            take = np.minimum(np.floor(share * count).astype(np.int64), serving[market])
            take = np.minimum(take, left)
            serving[market] -= take
            left -= take
        for market in MARKETS:
            take = np.minimum(left, serving[market])
            serving[market] -= take
            left -= take

    def resize(desired: np.ndarray, step: int, now_s: float) -> None:
        current = sum(serving[m] + starting[m] for m in MARKETS)
        grow = np.maximum(desired - current, 0)
        shrink = np.maximum(current - desired, 0)
        counters["scale_ups"] += grow > 0
        counters["scale_downs"] += shrink > 0
        if grow.any():
            launch(next_markets(grow), step)
        if shrink.any():
            cancelled = cancel_starting(shrink, step)
            remove_serving(shrink - cancelled)
            # A drained replica finishes its requests before it stops, and is billed till then.
            drained = shrink - cancelled
            if now_s < horizon_s:
                tail_s = min(largest.service_e2e_mean_s, horizon_s - now_s)
                up_s[next_markets(drained).popitem()[0]] += drained * tail_s

    # Records
    arrivals = np.zeros((reps, total_steps))
    arrivals[:, :horizon_steps] = counts
    rec_serving = np.zeros((reps, total_steps), np.int32)
    rec_up = np.zeros((reps, total_steps), np.int32)
    backlogged = np.zeros((reps, total_steps), bool)
    level = np.zeros((reps, total_steps), np.float32)
    table_index = np.zeros((reps, total_steps), np.int8)
    completed = np.zeros((reps, total_steps), np.float32)
    cum_arrived = np.cumsum(arrivals, axis=1)
    cum_left = np.zeros((reps, total_steps))
    smooth = _moving_mean(arrivals, SMOOTHING_STEPS)
    step_cost = np.ones((reps, total_steps))
    if cost is not None:
        step_cost[:, :horizon_steps] = np.where(counts > 0, cost, 1.0)
        smooth = _moving_mean(arrivals * step_cost, SMOOTHING_STEPS)  # in average requests
    backlog_work = np.zeros(reps)

    backlog = np.zeros(reps)
    retried = np.zeros(reps)
    lost = np.zeros(reps)
    retry_load = np.zeros(reps)
    running_per_serving = np.zeros(reps)  # requests in service per replica, last step
    served_per_serving_s = np.zeros(reps)  # completions per second per replica, last step
    draining = np.zeros(reps, np.int64)  # spot replicas drained at a notice, still up
    undrain = np.zeros((reps, total_steps + math.ceil(terms.notice_s / dt_s) + 2 if terms else 1))
    time_in_service_s = np.zeros(reps)  # their mean time in service (Little), last step
    service_q = largest.service_quantiles["e2e"]
    dropped = np.zeros(reps)
    timed_out = np.zeros(reps)
    running_area = np.zeros(reps)
    queue_area = np.zeros(reps)
    busy_total_s = np.zeros(reps)
    serving_total_s = np.zeros(reps)
    end_s = np.full(reps, total_steps * dt_s)
    ended = np.zeros(reps, bool)
    final_counters = {name: np.zeros(reps, np.int64) for name in counters}
    final_started = np.zeros(reps)
    loads = model.loads
    top = len(loads) - 1

    # Autoscaler state
    period = config.polling_interval if policy.polled else config.sync_period
    next_sync_s = period
    meter_busy = np.zeros(reps)
    meter_flight = np.zeros(reps)
    metered = policy.metered
    # What the autoscaler's meter sees of a calm step is the work its own arrivals bring
    # (a x the mean time in service, with that time's spread), not the smoothed load's mean.
    meter_noise = draws.normals(total_steps) if metered else None
    service_q = largest.service_quantiles["e2e"]
    service_cv = float(service_q.std() / service_q.mean()) if service_q.mean() > 0 else 0.0
    meter_since_s = 0.0
    stabilizer = _Stabilizer(config.scale_up_stabilization, config.scale_down_stabilization)
    last_scale_s = np.full(reps, -np.inf)
    next_schedule_s = 0.0 if policy.needs_schedule else math.inf
    profile = traffic_profile(scenario) if policy.forecasts else None
    idle_window = max(1, math.ceil(config.idle_timeout / dt_s)) if serverless else 1
    needed_history: deque[np.ndarray] = deque(maxlen=idle_window)
    peak_uniforms = draws.uniforms(total_steps) if serverless else None
    rec_peak_excess = np.zeros((reps, total_steps), np.float32)
    rec_peak_slots = np.zeros((reps, total_steps), np.float32)
    service_mean_s = largest.service_e2e_mean_s

    for step in range(total_steps):
        now_s = step * dt_s
        inside = step < horizon_steps
        span_s = min(dt_s, horizon_s - now_s) if inside else 0.0
        if now_s >= next_schedule_s:
            wanted = scheduled_desired(now_s, config.schedule)
            desired = np.full(reps, max(config.min_replicas, min(config.max_replicas, wanted)))
            resize(desired, step, now_s)
            next_schedule_s = now_s + next_schedule_change_s(now_s, config.schedule)
        for market in MARKETS:
            joined = ready[market][:, step]
            if joined.any():
                serving[market] += joined
                starting[market] -= joined
                ready[market][:, step] = 0
        if uses_spot and notice_p > 0:
            spot_up = serving["spot"] + starting["spot"]
            notices = draws.binomial(spot_up, notice_p, spot=True)
            if notices.any():
                # Each notice falls on a spot replica at random, serving or in its cold
                # start; a cold start is cancelled, a serving replica drains.
                from_starting = draws.hypergeometric(starting["spot"], serving["spot"], notices)
                cancel_starting_market("spot", from_starting, starting, ready)
                drained = notices - from_starting
                serving["spot"] -= drained
                # A draining replica admits nothing, so its steps prefill nothing: its
                # requests decode faster by the share of time prefills took (`speed`).
                speed = 1.0 - np.minimum(served_per_serving_s * prefill_s, 0.9)
                # Requests still in service at the reclaim (residual time over the notice)
                # are retried elsewhere, which takes capacity again, or lost.
                share = _kill_share(service_q, time_in_service_s, terms.notice_s / speed)
                killed = drained * running_per_serving * share
                killed = np.where(ended, 0.0, killed)  # as if a finished drain had stopped
                if terms.retry:
                    retried += killed
                    retry_load += killed
                else:
                    lost += killed
                counters["interruptions"] += notices
                # It stops once its requests finish, or at the reclaim: up (and billed) till then.
                drain_s = _drain_s(
                    service_q, time_in_service_s, speed, running_per_serving, terms.notice_s
                )
                drain_s = np.where(ended, 0.0, drain_s)
                if inside:
                    up_s["spot"] += drained * np.minimum(drain_s, horizon_s - now_s)
                drain_steps = np.ceil(drain_s / dt_s - 1e-9).astype(np.int64)
                holding = (drained > 0) & (drain_steps > 0)
                draining += np.where(holding, drained, 0)
                for r in np.flatnonzero(holding):
                    undrain[r, step + drain_steps[r]] += drained[r]
                launch({"spot": notices}, step + 1)
        a = arrivals[:, step]
        if serverless:
            # Containers follow the step's peak concurrency, not its mean: a request that
            # finds every container busy starts one. The peak of an M/G/inf load over the
            # step is drawn as the highest of 1 + dt / service independent Poisson looks.
            flight = (a + backlog) / dt_s * service_mean_s
            peak = _peak_concurrency(flight, peak_uniforms[:, step], 1.0 + dt_s / service_mean_s)
            # A container outlives its last request by the idle timeout: with none, the
            # fleet is the concurrency itself (its step mean); from one step on, the peak.
            held = flight + (peak - flight) * min(1.0, config.idle_timeout / dt_s)
            needed = np.ceil(held / slots - 1e-9).astype(np.int64)
            needed_history.append(needed)
            active = serving["serverless"] + starting["serverless"]
            room = np.maximum(config.max_replicas - active, 0)
            grow = np.minimum(np.maximum(needed - active, 0), room)
            if grow.any():
                launch({"serverless": grow}, step)
                joined = ready["serverless"][:, step]
                serving["serverless"] += joined
                starting["serverless"] -= joined
                ready["serverless"][:, step] = 0
            keep = np.maximum(np.max(np.stack(needed_history), axis=0), config.min_replicas)
            extra = np.where(backlog > 0, 0, np.maximum(serving["serverless"] - keep, 0))
            serving["serverless"] -= extra
            warm = serving["serverless"] * slots
            rec_peak_excess[:, step] = np.clip(peak - warm, 0, a)
            rec_peak_slots[:, step] = warm
        n = sum(serving[m] for m in MARKETS)
        size = model.size_index(n)
        mu = model.capacity_per_s[size]
        cap = n * mu * dt_s
        if uses_spot:  # retried requests are served again before the step's own
            rerun = np.minimum(retry_load, cap)
            retry_load = retry_load - rerun
            cap = cap - rerun
        rho = smooth[:, step] / np.maximum(cap, 1e-12)
        if cost is not None:  # the mean cost of the requests this step may serve
            pending = backlog + a
            work = backlog_work + a * step_cost[:, step]
            mix = np.where(pending > 0, work / np.maximum(pending, 1e-12), 1.0)
            cap = cap / np.maximum(mix, 1e-12)
        position = np.interp(rho, loads, np.arange(len(loads)))
        congested = (backlog > 0) | (a > cap) | (n == 0) if not serverless else np.ones(reps, bool)
        served = np.minimum(backlog + a, cap)
        new_backlog = backlog + a - served
        step_dropped = np.zeros(reps)
        step_timed_out = np.zeros(reps)
        if scenario.admission.max_queue is not None:
            limit = scenario.admission.max_queue * n
            over = np.where(n > 0, np.maximum(new_backlog - limit, 0.0), 0.0)
            step_dropped += over
            new_backlog -= over
        if scenario.admission.timeout is not None:
            limit = scenario.admission.timeout * n * mu / (mix if cost is not None else 1.0)
            over = np.where(n > 0, np.maximum(new_backlog - limit, 0.0), 0.0)
            step_timed_out += over
            new_backlog -= over
        calm = ~congested
        # Below the highest probed load, a step's arrivals may outrun its completions by
        # chance (the probes' Poisson noise, which their latencies hold): its requests
        # wait only once the backlog overflows the batch slots the replicas have free
        # at that load (a batch grows to take them); until then they see the step's load.
        running = None if serverless else model.value("running_per_replica", size, position)
        if serverless:
            queued = congested
        else:
            spare = n * np.maximum(largest.saturated_running - running, 0.0)
            queued = congested & ((new_backlog > spare) | (position >= top))
        model_dropped = np.where(calm, a * model.value("dropped_share", size, position), 0.0)
        model_timed_out = np.where(calm, a * model.value("timed_out_share", size, position), 0.0)
        step_completed = np.where(
            calm,
            a * model.value("completed_share", size, position),
            np.maximum(a - step_dropped - step_timed_out, 0.0),
        )
        dropped += step_dropped + model_dropped
        timed_out += step_timed_out + model_timed_out
        if serverless:
            busy_slots = np.minimum(served / dt_s * service_mean_s, n * slots)
            waiting = new_backlog
            busy_share = np.minimum(busy_slots, n)
        else:
            busy_slots = np.where(
                congested,
                n * largest.saturated_running,
                n * running,
            )
            waiting = np.where(
                congested,
                new_backlog + n * model.waiting_per_replica[size, top],
                n * model.value("waiting_per_replica", size, position),
            )
            busy_share = n * np.where(congested, 1.0, model.value("busy_share", size, position))
        # A replication whose drain has ended adds nothing more: as if it had stopped alone.
        live_dt_s = np.where(ended, 0.0, dt_s)
        running_per_serving = busy_slots / np.maximum(n, 1)
        served_per_serving_s = served / dt_s / np.maximum(n, 1)
        time_in_service_s = busy_slots * dt_s / np.maximum(served, 1e-12)
        running_area += busy_slots * live_dt_s
        queue_area += waiting * live_dt_s
        busy_total_s += busy_share * live_dt_s
        serving_total_s += n * live_dt_s
        if inside:
            for market in MARKETS:
                up_now = serving[market] + starting[market]
                up_s[market] += up_now * span_s
                if plugins.MARKETS[market].containers or n.any():
                    busy_market_s[market] += (
                        busy_share * serving[market] / np.maximum(n, 1) * span_s
                    )
            if commit:
                above = serving["reserved"] + starting["reserved"] - commit
                reserved_above_s += np.maximum(above, 0) * span_s
        backlog = new_backlog
        if cost is not None:
            backlog_work = new_backlog * mix
        cumulative_left = cum_arrived[:, step] - backlog
        rec_serving[:, step] = n
        if uses_spot:
            draining -= undrain[:, step].astype(np.int64)
        rec_up[:, step] = sum(serving[m] + starting[m] for m in MARKETS) + draining
        backlogged[:, step] = queued
        level[:, step] = position
        table_index[:, step] = size
        completed[:, step] = step_completed
        cum_left[:, step] = cumulative_left
        if metered:
            busy_work, waiting_work = _metered_work(
                busy_slots * dt_s,
                waiting * dt_s,
                a,
                smooth[:, step],
                calm,
                service_cv * meter_noise[:, step],
            )
            meter_busy += busy_work
            meter_flight += busy_work + waiting_work
        if not inside:
            done = (backlog <= 1e-9) & ~ended
            end_s[done] = (step + 1) * dt_s
            for name, values in counters.items():
                final_counters[name][done] = values[done]
            final_started[done] = started[done]
            ended |= done
            if ended.all():
                total_steps = step + 1
                break
        end_of_step_s = (step + 1) * dt_s
        if (policy.metered or policy.forecasts) and end_of_step_s >= next_sync_s - 1e-9:
            span = max(end_of_step_s - meter_since_s, 1e-9)
            busy_mean = meter_busy / span
            flight_mean = meter_flight / span
            meter_busy[:] = 0.0
            meter_flight[:] = 0.0
            meter_since_s = end_of_step_s
            next_sync_s += period
            current = sum(serving[m] + starting[m] for m in MARKETS)
            if policy.metered and not policy.polled:  # the HPA rule
                desired = _target_tracking(current, busy_mean, flight_mean, slots, config)
                desired = stabilizer.stabilize(end_of_step_s, current, desired)
            elif policy.metered:  # KEDA: replicas for the requests in flight
                desired = np.ceil(flight_mean / config.queue_per_replica - 1e-9).astype(np.int64)
                cooling = (desired < current) & (end_of_step_s - last_scale_s < config.cooldown)
                desired = np.where(cooling, current, desired)
            else:  # forecasts: the profile's rate one cold start ahead
                lead_s = cold_start_mean_s
                start = end_of_step_s + lead_s
                forecast = float(profile.integral(start, start + config.sync_period))
                forecast /= config.sync_period
                needed = forecast * (1.0 + config.headroom)
                needed /= predictive_capacity_per_s * config.target
                desired = np.full(reps, math.ceil(needed - 1e-9), np.int64)
                desired = stabilizer.stabilize(end_of_step_s, current, desired)
            desired = _limit_step(current, desired, config)
            changed = desired != current
            last_scale_s = np.where(changed, end_of_step_s, last_scale_s)
            resize(desired, step + 1, end_of_step_s)
    s = total_steps
    run = FleetRun(
        dt_s=dt_s,
        horizon_steps=horizon_steps,
        arrivals=arrivals[:, :s],
        serving=rec_serving[:, :s],
        up=rec_up[:, :s],
        backlogged=backlogged[:, :s],
        level=level[:, :s],
        table_index=table_index[:, :s],
        completed=completed[:, :s],
        cum_arrived=cum_arrived[:, :s],
        cum_left=cum_left[:, :s],
        peak_excess=rec_peak_excess[:, :s],
        peak_slots=rec_peak_slots[:, :s],
    )
    run.totals = {
        "dropped": dropped,
        "timed_out": timed_out,
        "retried": retried,
        "lost": lost,
        "in_flight": backlog,
        "running_area": running_area,
        "queue_area": queue_area,
        "busy_s": busy_total_s,
        "serving_s": serving_total_s,
        "reserved_above_s": reserved_above_s,
        "started": np.where(ended, final_started, started),
    }
    run.up_s = up_s
    run.busy_s = busy_market_s
    run.counters = {name: np.where(ended, final_counters[name], v) for name, v in counters.items()}
    run.end_s = np.maximum(end_s, horizon_s)
    return run


def cancel_starting_market(market, from_starting, starting, ready) -> None:
    """Cancel `from_starting` of the market's cold starts (spot notices that fell on them)."""
    if from_starting.any():
        for r in np.flatnonzero(from_starting):
            row = ready[market][r]
            left = int(from_starting[r])
            for column in np.flatnonzero(row):
                take = min(left, int(row[column]))
                row[column] -= take
                left -= take
                if left == 0:
                    break
        starting[market] -= from_starting


def _kill_share(service_quantiles_s: np.ndarray, mean_s: np.ndarray, notice_s):
    """Share of a replica's requests in service at a notice still in service at the
    reclaim: P(residual > notice) = E[(S - notice)+] / E[S], S the time in service, its
    shape the saturated one's, scaled to each replication's mean time in service now."""
    saturated_mean_s = float(service_quantiles_s.mean())
    if saturated_mean_s <= 0:
        return np.zeros_like(mean_s)
    scaled = service_quantiles_s[None, :] * (mean_s / saturated_mean_s)[:, None]
    over = np.maximum(scaled - np.reshape(notice_s, (-1, 1)), 0.0).mean(axis=1)
    return np.where(mean_s > 0, over / np.maximum(mean_s, 1e-12), 0.0)


DRAIN_POINTS = 33  # points of the integral of a drain's length


def _drain_s(service_quantiles_s, mean_s, speed, running, notice_s: float) -> np.ndarray:
    """Expected time a replica drained at a notice stays up: until the last of its
    `running` requests in service ends (each residual time sped up by `speed`), at most
    the notice. E[min(notice, M)] = integral over [0, notice] of 1 - P(R <= t) ** running."""
    if notice_s <= 0:
        return np.zeros_like(mean_s)
    t = np.linspace(0.0, notice_s, DRAIN_POINTS)
    left = np.stack([_kill_share(service_quantiles_s, mean_s, u / speed) for u in t], axis=1)
    done = np.clip(1.0 - left, 0.0, 1.0) ** np.maximum(running, 0.0)[:, None]
    return np.trapezoid(1.0 - done, t, axis=1)


def _peak_concurrency(mean: np.ndarray, u: np.ndarray, looks: float) -> np.ndarray:
    """The highest of `looks` Poisson(mean) draws, by inversion of one uniform each:
    P(max <= k) = F(k) ** looks."""
    from scipy.special import pdtrik  # k with P(Poisson(mean) <= k) = level, k real

    level = np.clip(u, 1e-12, 1.0 - 1e-12) ** (1.0 / looks)
    found = np.ceil(np.maximum(pdtrik(level, np.maximum(mean, 1e-12)), 0.0) - 1e-9)
    return np.where(mean > 0, found, 0.0)


def _metered_work(busy_s, waiting_s, arrivals, smoothed, calm, noise_cv):
    """The request-seconds in service and waiting that a step adds to the autoscaler's meter.

    In a calm step the model's figures are for the smoothed load; by Little's law the
    step's own work is its arrivals times the mean time each spends, so they scale by
    arrivals / smoothed, and the sum of `arrivals` service times adds its spread
    (sd = sqrt(arrivals) x cv x mean time). A congested step is saturated: as modelled.
    """
    scale = np.where(smoothed > 0, arrivals / np.maximum(smoothed, 1e-12), 1.0)
    per_request_s = np.where(smoothed > 0, busy_s / np.maximum(smoothed, 1e-12), 0.0)
    spread_s = np.sqrt(arrivals) * per_request_s * noise_cv
    busy = np.where(calm, np.maximum(busy_s * scale + spread_s, 0.0), busy_s)
    waiting = np.where(calm, waiting_s * scale, waiting_s)
    return busy, waiting


def _slots(scenario: Scenario) -> int:
    batching = scenario.batching
    concurrency = scenario.autoscaling.concurrency_per_replica
    batches = BATCHING[batching.policy].batches
    if AUTOSCALING[scenario.autoscaling.policy].containers and concurrency and batches:
        return concurrency
    return batching.max_batch if batches else 1


def _target_tracking(current, busy_mean, flight_mean, slots, config) -> np.ndarray:
    """HPA on utilisation or in-flight per replica, every replication at once."""
    per = np.maximum(current, 1)
    metric = busy_mean / (per * slots) if config.metric == "utilization" else flight_mean / per
    ratio = metric / config.target
    scaled = np.ceil(current * ratio - 1e-9).astype(np.int64)
    desired = np.where(np.abs(ratio - 1.0) <= config.tolerance, current, scaled)
    wake = np.where(flight_mean > 0, 1, 0)
    return np.where(current == 0, wake, desired)


def _limit_step(current, desired, config) -> np.ndarray:
    if config.max_step_up is not None:
        desired = np.minimum(desired, current + config.max_step_up)
    if config.max_step_down is not None:
        desired = np.maximum(desired, current - config.max_step_down)
    return np.clip(desired, config.min_replicas, config.max_replicas)


def _moving_mean(values: np.ndarray, width: int) -> np.ndarray:
    """Centred moving mean along the step axis (shorter windows at the ends)."""
    cum = np.concatenate([np.zeros((values.shape[0], 1)), np.cumsum(values, axis=1)], axis=1)
    steps = values.shape[1]
    lo = np.clip(np.arange(steps) - width // 2, 0, steps)
    hi = np.clip(np.arange(steps) + (width - width // 2), 0, steps)
    return (cum[:, hi] - cum[:, lo]) / np.maximum(hi - lo, 1)
