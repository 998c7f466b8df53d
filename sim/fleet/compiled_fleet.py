"""Run a replication in the compiled kernel, stopping at each control instant to decide.

The kernel (`fixed_fleet._serve`) serves requests until the next autoscaler
sync, returns, and this driver applies the SimPy engine's own decision
(`autoscaler.ScalingPolicy`, on the same load integrals), draws the launches'
cold starts from the same stream, and resumes the kernel with the command. The
result is the SimPy engine's, bit for bit (`tests/test_compiled_dynamic.py`).
"""

from __future__ import annotations

import math

import numpy as np

from distributions.tokens import sample
from distributions.traffic import RequestChunk
from sim.engine.compiled_loop import (
    AT_END,
    AT_SPOT,
    CLOCK_CONTROL_S,
    CLOCK_NEXT_CONTROL_S,
    CLOCK_SPOT_S,
    FLEET_KINDS,
    LEAST_LOADED,
    MORE_DRAWS,
    MORE_ROOM,
    POLICY_COMMAND,
    RANDOM,
    ROUTERS,
    SHARED_QUEUE,
    SPOT_COMMAND,
    SPOT_DONE,
    SPOT_REPLACE,
    SPOT_REPLACE_AND_KILL,
    SPOT_STARTING,
    SPOT_WAIT_NOTICE,
    STOPPED,
    TALLY_COLD_USED,
    TALLY_COMMAND,
    TALLY_DRAINS,
    TALLY_DRAWS,
    TALLY_FLEET_LOG,
    TALLY_LAUNCHES,
    TALLY_NEXT_REQUEST,
    TALLY_REPLICAS,
    TALLY_RESOLVED,
    TALLY_SPOT_ACTION,
    TALLY_SPOT_REPLICA,
    TALLY_UP,
    Kernel,
    _serve,
    grow_kernel,
    kernel_capacity,
    kernel_for,
)
from sim.engine.kernel_call import TypedCall
from sim.engine.outcome import FLEET_COUNTERS, EngineOutcome, FleetEvent, ReplicaLifetime
from sim.engine.request_log import RequestLog
from sim.engine.routers import draw_blocks
from sim.engine.service_time import ServiceModel
from sim.fleet.autoscaler import FleetMeter
from sim.fleet.kernel_meter import KernelMeter
from sim.fleet.spot import launch_market
from sim.fleet.start import cold_start_sampler, initial_markets, replica_market, scaling_policy
from sim.scenario import plugins
from sim.scenario.schema import Scenario
from sim.scenario.spot_terms import SpotTerms, spot_terms


def runs_compiled(scenario: Scenario) -> bool:
    """True if the kernel can run the scenario: every plug-in it names says it has a
    compiled version (`compiled` in `sim/scenario/plugins.py`), and open arrivals
    (closed-loop clients follow completions: SimPy's `clients.py`).

    Everything else runs on the SimPy engine, which is where a new policy, router,
    batching policy or service model goes first.
    """
    fleet = scenario.fleet
    return (
        plugins.AUTOSCALING[scenario.autoscaling.policy].compiled
        and plugins.MARKETS[fleet.market].compiled
        and plugins.BATCHING[scenario.batching.policy].compiled
        and plugins.ROUTERS[fleet.router].compiled
        and plugins.SERVICE_MODELS[scenario.service.model].compiled
        and not scenario.traffic.closed_loop
    )


def run_compiled(
    scenario: Scenario,
    service: ServiceModel,
    requests: RequestChunk,
    latency_s: np.ndarray | None,
    patience_s: np.ndarray | None,
    streams: dict[str, np.random.Generator],
    drain_end_s: float,
) -> EngineOutcome:
    """Serve `requests` on the scenario's fleet; stop as `simulation.simulate` does.

    After the last arrival the run goes on to the horizon, then until every
    request is resolved or `drain_end_s`.
    """
    n = len(requests.arrival_s)
    config = scenario.autoscaling
    scaling = plugins.AUTOSCALING[config.policy]
    if scaling.containers:
        return _run_serverless(
            scenario, service, requests, latency_s, patience_s, streams, drain_end_s
        )
    uses_spot = scenario.fleet.uses_spot
    dynamic = scaling.scales or uses_spot
    router = ROUTERS[scenario.fleet.router]
    routing_rng = streams["routing"]
    uses_draws = router in (RANDOM, LEAST_LOADED)
    # One draw per route at most; a fixed fleet routes each request once.
    draws = draw_blocks(routing_rng, n if uses_draws and not dynamic else 0)
    replicas = scenario.fleet.replicas
    capacity = max(2 * replicas, 8) if dynamic else replicas
    k = kernel_for(
        scenario, service, requests, latency_s, patience_s, draws, drain_end_s, capacity, dynamic
    )
    markets = initial_markets(scenario)
    counters = dict.fromkeys(FLEET_COUNTERS, 0)
    horizon_s, drain_end_s = float(scenario.horizon), float(drain_end_s)
    if not dynamic:
        _serve(k, horizon_s, drain_end_s)
        return _outcome(k, scenario, markets, counters, requests)
    policy = scaling_policy(scenario, service) if scaling.scales else None
    next_cold_start_s = cold_start_sampler(scenario, streams["fleet"])
    spot_rng = streams["spot"]
    terms = spot_terms(scenario) if uses_spot else None
    reclaimed = terms is not None and terms.interruptions_per_hour > 0

    def watched(market: str) -> int:
        """1 if a replica bought on `market` gets a reclaim process (`watch_spot_replicas`)."""
        return int(reclaimed and plugins.MARKETS[market].reclaimed)

    k.spot[:replicas] = [watched(market) for market in markets]
    lifetimes_s: dict[int, float] = {}  # each spot replica's drawn lifetime
    current = [k]  # the kernel, replaced when it grows
    meter = None
    if policy is not None:
        kernel_meter = KernelMeter(shared_line=router == SHARED_QUEUE)
        meter = FleetMeter(lambda: kernel_meter.integrals(current[0]), k.max_batch)
        k.clock[CLOCK_NEXT_CONTROL_S] = policy.first_sync_s()
    k.tally[TALLY_COMMAND] = POLICY_COMMAND
    serve = TypedCall(_serve)  # called at every control instant
    while True:
        code = serve(k, horizon_s, drain_end_s)
        if code == AT_END:
            break
        tally = k.tally.tolist()
        if code == MORE_DRAWS:
            k = current[0] = _with_draws(k, tally, routing_rng)
            continue
        now_s = k.clock.tolist()[CLOCK_CONTROL_S]
        if code == AT_SPOT:
            k = current[0] = _spot_step(
                k,
                tally,
                now_s,
                terms,
                scenario,
                spot_rng,
                next_cold_start_s,
                lifetimes_s,
                markets,
                counters,
                watched,
            )
            if uses_draws:
                k = current[0] = _with_draws(k, tally, routing_rng)
            continue
        up = tally[TALLY_UP]
        desired = policy.decide(now_s, up, meter)
        cold_starts = []
        if desired > up:
            counters["scale_ups"] += 1
            markets_up = [markets[r] for r in k.up[:up].tolist()]
            for _ in range(up, desired):
                wanted_market = replica_market(scenario, markets_up)
                market = launch_market(wanted_market, scenario.spot, spot_rng)
                cold_start_s = float(next_cold_start_s())
                counters["launches"] += 1
                counters["cold_starts"] += cold_start_s > 0
                markets.append(market)
                markets_up.append(market)
                cold_starts.append(cold_start_s)
        elif desired < up:
            counters["scale_downs"] += 1
        first = tally[TALLY_REPLICAS]
        if first + len(cold_starts) > kernel_capacity(k):
            k = grow_kernel(k, max(first + len(cold_starts), 2 * kernel_capacity(k)))
        if uses_draws:
            k = _with_draws(k, tally, routing_rng)
        current[0] = k
        k.cold_start_s[first : first + len(cold_starts)] = cold_starts
        k.spot[first : first + len(cold_starts)] = [watched(m) for m in markets[first:]]
        k.tally[TALLY_LAUNCHES] = len(cold_starts)
        k.tally[TALLY_DRAINS] = max(0, up - desired)
        k.clock[CLOCK_NEXT_CONTROL_S] = policy.next_sync_s(now_s)
        k.tally[TALLY_COMMAND] = POLICY_COMMAND
    return _outcome(k, scenario, markets, counters, requests)


def _spot_step(
    k: Kernel,
    tally: list[int],
    now_s: float,
    terms: SpotTerms,
    scenario: Scenario,
    spot_rng: np.random.Generator,
    next_cold_start_s,
    lifetimes_s: dict[int, float],
    markets: list[str],
    counters: dict[str, int],
    watched,
) -> Kernel:
    """A spot replica's reclaim process (`spot._reclaim`) at its start or its notice,
    with the same draws in the same order: its lifetime when it starts; at the notice
    (unless scaled down meanwhile) the replacement's market and cold start. The kernel
    drains, launches and kills as told."""
    replica = tally[TALLY_SPOT_REPLICA]
    started_s = float(k.started_s[replica])
    if int(k.timer_phase[replica]) == SPOT_STARTING:
        lifetime_s = spot_rng.exponential(3600.0 / terms.interruptions_per_hour)
        lifetimes_s[replica] = lifetime_s
        notice_at_s = started_s + max(0.0, lifetime_s - terms.notice_s)
        if notice_at_s > now_s:
            k.clock[CLOCK_SPOT_S] = now_s + (notice_at_s - now_s)
            return _spot_command(k, SPOT_WAIT_NOTICE)
    if int(k.activity[replica]) == STOPPED or k.draining[replica]:
        return _spot_command(k, SPOT_DONE)  # scaled down before the provider wanted it back
    counters["interruptions"] += 1
    market = launch_market("spot", scenario.spot, spot_rng)
    cold_start_s = float(next_cold_start_s())
    counters["launches"] += 1
    counters["cold_starts"] += cold_start_s > 0
    markets.append(market)
    first = tally[TALLY_REPLICAS]
    if first + 1 > kernel_capacity(k):
        k = grow_kernel(k, 2 * kernel_capacity(k))
    k.cold_start_s[first] = cold_start_s
    k.spot[first] = watched(market)
    k.tally[TALLY_LAUNCHES] = 1
    reclaim_at_s = started_s + lifetimes_s.pop(replica)
    if reclaim_at_s > now_s:
        k.clock[CLOCK_SPOT_S] = now_s + (reclaim_at_s - now_s)
        return _spot_command(k, SPOT_REPLACE)
    return _spot_command(k, SPOT_REPLACE_AND_KILL)


def _spot_command(k: Kernel, action: int) -> Kernel:
    k.tally[TALLY_SPOT_ACTION] = action
    k.tally[TALLY_COMMAND] = SPOT_COMMAND
    return k


def _run_serverless(
    scenario: Scenario,
    service: ServiceModel,
    requests: RequestChunk,
    latency_s: np.ndarray | None,
    patience_s: np.ndarray | None,
    streams: dict[str, np.random.Generator],
    drain_end_s: float,
) -> EngineOutcome:
    """Serverless containers, scaled inside the kernel by `serverless.py`'s rules (a launch
    per arrival that finds too little room, a retirement per idle timeout). The kernel
    returns only for room: more replica slots, and more cold starts, drawn ahead from
    the fleet stream in the order the SimPy engine draws them one by one."""
    config = scenario.autoscaling
    rng = streams["fleet"]
    block = max(2 * config.max_replicas, 4096)
    cold_pool = sample(config.cold_start_dist, block, rng)
    replicas = scenario.fleet.replicas
    capacity = max(2 * replicas, config.max_replicas + replicas, 8)
    k = kernel_for(
        scenario,
        service,
        requests,
        latency_s,
        patience_s,
        np.empty(0),
        drain_end_s,
        capacity,
        True,
        cold_pool,
    )
    horizon_s = float(scenario.horizon)
    while _serve(k, horizon_s, float(drain_end_s)) == MORE_ROOM:
        tally = k.tally.tolist()
        room = config.max_replicas - tally[TALLY_UP]
        wanted = tally[TALLY_REPLICAS] + room
        if wanted > kernel_capacity(k):
            k = grow_kernel(k, max(wanted, 2 * kernel_capacity(k)))
        if tally[TALLY_COLD_USED] + room > len(k.cold_pool):
            more = sample(config.cold_start_dist, max(room, len(k.cold_pool)), rng)
            k = k._replace(cold_pool=np.concatenate([k.cold_pool, more]))
    launched = int(k.tally[TALLY_COLD_USED])
    counters = dict.fromkeys(FLEET_COUNTERS, 0)
    counters["launches"] = launched
    counters["cold_starts"] = int((k.cold_pool[:launched] > 0).sum())
    markets = initial_markets(scenario) + ["serverless"] * launched
    return _outcome(k, scenario, markets, counters, requests)


def _with_draws(k: Kernel, tally: list[int], routing_rng: np.random.Generator) -> Kernel:
    """The kernel with router draws for every request in the system now to be routed
    twice (once at this control instant, once out of the holding line) and for the
    next arrival; the kernel asks again before an arrival that might run short."""
    left = len(k.draws) - tally[TALLY_DRAWS]
    wanted = 2 * (tally[TALLY_NEXT_REQUEST] - tally[TALLY_RESOLVED]) + 2
    if left >= wanted:
        return k
    more = draw_blocks(routing_rng, max(wanted - left, len(k.draws)))  # at least double
    return k._replace(draws=np.concatenate([k.draws, more]))


def _outcome(
    k: Kernel,
    scenario: Scenario,
    markets: list[str],
    counters: dict[str, int],
    requests: RequestChunk,
) -> EngineOutcome:
    """The kernel's books as the SimPy engine's `EngineState.outcome` gives them."""
    count = int(k.tally[TALLY_REPLICAS])
    log = RequestLog(
        arrival_s=k.arrival_s,
        start_s=k.start_s,
        first_token_s=k.first_token_s,
        finish_s=k.finish_s,
        status=k.status,
        retries=k.retries,
        replica=k.served_by,
    )
    stopped = [None if math.isnan(s) else s for s in k.stopped_s[:count].tolist()]
    ready = [None if math.isnan(s) else s for s in k.ready_s[:count].tolist()]
    lifetimes = [
        ReplicaLifetime(market, started, stop, busy)
        for market, started, stop, busy in zip(
            markets, k.started_s[:count].tolist(), stopped, k.busy_s[:count].tolist(), strict=True
        )
    ]
    areas = k.line_area.tolist()
    if k.router == SHARED_QUEUE:
        queue_area = sum(areas[:1] if count else []) + 0.0
    else:
        queue_area = sum(areas[1 : count + 1]) + areas[0]
    events = int(k.tally[TALLY_FLEET_LOG])
    fleet_events = [
        FleetEvent(time_s, replica, FLEET_KINDS[kind])
        for time_s, replica, kind in zip(
            k.fleet_s[:events].tolist(),
            k.fleet_replica[:events].tolist(),
            k.fleet_kind[:events].tolist(),
            strict=True,
        )
    ]
    return EngineOutcome(
        log=log,
        prompt_tokens=k.prompt,
        output_tokens=k.output,
        lifetimes=lifetimes,
        ready_s=ready,
        running_area=sum(k.running_area[:count].tolist()),
        queue_area=queue_area,
        fleet_events=fleet_events,
        counters=counters,
        end_s=float(k.clock[0]),
    )
