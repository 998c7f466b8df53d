"""The compiled event loop: the SimPy engine's results for a fleet, far faster.

Every event is a replica finishing work, reaching a step boundary, ending its
cold start or waking (from idle, to admit or to stop), or a control instant
(an autoscaler's sync). The kernel keeps each entity's one pending event in a
heap ordered by (time, order scheduled), as SimPy orders its queue, and applies
the rules of `replica.py` and `engine_state.py` in the same order, so it
reproduces the SimPy engine's request log and fleet exactly
(`tests/test_fixed_fleet.py`, `tests/test_compiled_dynamic.py`). At a control
instant `_serve` returns; `compiled_fleet.py` applies the SimPy engine's own
policy function and resumes it. Compiled by numba, it runs over a million
requests a second.

numba caches the compiled kernel in `sim/__pycache__` and checks that cache
against this file only, though the kernel has the roofline functions of
`service_time.py` compiled in; `numba_cache.drop_stale_cache` covers that file too.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numba import njit

from distributions.traffic import RequestChunk
from sim.engine import clock as engine_clock
from sim.engine import service_time
from sim.engine.clock import landing_delay_s
from sim.engine.numba_cache import drop_stale_cache
from sim.engine.request_log import COMPLETED, DROPPED, LOST, TIMED_OUT
from sim.engine.rules import books, continuous, kv_memory, lifecycle, routing, static_batch
from sim.engine.rules import waiting_line as line_rules
from sim.engine.rules.books import accrue, accrue_busy, expired_overcount
from sim.engine.rules.continuous import (
    after_decode_steps,
    cut_at_next_step,
    decode_steps_planned,
    finish_step,
    may_admit,
    newcomer_chunk,
    partial_chunk,
    prefill_step,
    prompts_prefilled,
    release_finished,
    run_span_s,
    step_room_tokens,
)
from sim.engine.rules.kv_memory import kv_fits, kv_need_tokens, never_fits
from sim.engine.rules.lifecycle import (
    drained,
    idle_timer_fires,
    retires_idle,
    retried_after_reclaim,
)
from sim.engine.rules.routing import (
    fewest,
    nth_with_load,
    random_pick,
    round_robin_pick,
    tie_needs_draw,
    tie_skip,
)
from sim.engine.rules.static_batch import (
    add_member,
    batch_open,
    fill_wait_s,
    latency_batch_s,
    roofline_batch_times_s,
    starts_now,
)
from sim.engine.rules.waiting_line import gave_up, line_has_room
from sim.engine.service_time import (
    LatencyModel,
    RooflineModel,
    ServiceModel,
    roofline_alone_times_s,
)
from sim.errors import CapsimError
from sim.scenario import plugins
from sim.scenario.schema import Scenario

# Replica activity and lifecycle, as in `replica.py`.
IDLE = 0  # ready, nothing to do
BUSY = 1  # in a step or request that nobody can join
DECODING = 2  # in a run of decode steps that a new request may join at the next step
STARTING = 3  # in its cold start: billed, serves nothing
STOPPED = 4
FILLING = 5  # static batching: waiting up to max_wait for a fuller batch

# Routers, by number.
SHARED_QUEUE, ROUND_ROBIN, RANDOM, LEAST_LOADED = 0, 1, 2, 3
ROUTERS = {
    "shared-queue": SHARED_QUEUE,
    "round-robin": ROUND_ROBIN,
    "random": RANDOM,
    "least-loaded": LEAST_LOADED,
}


def kernel_for(
    scenario: Scenario,
    service: ServiceModel,
    requests: RequestChunk,
    latency_s: np.ndarray | None,
    patience_s: np.ndarray | None,
    draws: np.ndarray,
    drain_end_s: float,
    capacity: int,
    dynamic: bool,
    cold_pool: np.ndarray | None = None,
) -> Kernel:
    """A kernel for the scenario's requests, its initial replicas warm at t = 0."""
    arrival_s = np.ascontiguousarray(requests.arrival_s, dtype=np.float64)
    prompt = np.ascontiguousarray(requests.prompt_tokens, dtype=np.int64)
    output = np.ascontiguousarray(requests.output_tokens, dtype=np.int64)
    n = len(arrival_s)
    batching = plugins.BATCHING[scenario.batching.policy]
    continuous = batching.per_token_steps
    constants = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    kv_capacity = math.inf
    if isinstance(service, RooflineModel):
        constants = service.constants
        kv_capacity = float(service.kv_capacity_tokens)
    batch_latency_s = np.empty(0)
    stretch = (0.0, 2.0, 0.0)
    if continuous:
        first_s = duration_s = np.empty(0)
    elif isinstance(service, LatencyModel):
        batch_latency_s = np.ascontiguousarray(latency_s, dtype=np.float64)
        duration_s = first_s = service.alone_s(batch_latency_s)
        stretch = (
            float(service.batch_overhead),
            float(service.batch_overhead_at),
            float(service.step_overhead_s),
        )
    else:
        first_s, duration_s = _alone_times_s(constants, prompt, output)
    expires = patience_s is not None
    deadline_s = arrival_s + patience_s if expires else np.empty(0)
    patience = np.ascontiguousarray(patience_s, dtype=np.float64) if expires else np.empty(0)
    max_queue = scenario.admission.max_queue
    max_batch = scenario.batching.max_batch if batching.batches else 1
    config = scenario.autoscaling
    serverless = plugins.AUTOSCALING[config.policy].containers
    if serverless and config.concurrency_per_replica and batching.batches:
        max_batch = config.concurrency_per_replica  # a container takes this many at once
    if continuous:
        _check_finish_keys_fit(service, n, int(output.max(initial=0)), drain_end_s)
    return new_kernel(
        arrival_s,
        prompt,
        output,
        first_s,
        duration_s,
        deadline_s,
        draws,
        batch_latency_s,
        patience,
        np.empty(0) if cold_pool is None else cold_pool,
        settings={
            "expires": expires,
            "router": SHARED_QUEUE if serverless else ROUTERS[scenario.fleet.router],
            "max_queue": -1 if max_queue is None else max_queue,
            "continuous": continuous,
            "max_batch": max_batch,
            "kv_capacity": kv_capacity,
            "constants": constants,
            "dynamic": dynamic,
            "token_budget": service.token_budget if continuous else 0,
            "max_wait_s": float(scenario.batching.max_wait),
            "latency_batches": isinstance(service, LatencyModel),
            "stretch": stretch,
            "serverless": serverless,
            "idle_timeout_s": float(config.idle_timeout),
            "min_replicas": config.min_replicas,
            "max_replicas": config.max_replicas,
            "spot_retry": scenario.spot.retry,
        },
        replicas=scenario.fleet.replicas,
        capacity=capacity,
    )


def _check_finish_keys_fit(
    service: RooflineModel, requests: int, longest_output: int, drain_end_s: float
) -> None:
    """Refuse a run whose finish keys (finish step x requests + request) could come
    within a factor 2 of int64's 2**63.

    A replica runs at most one step per weight read, so steps stay below the run's
    length over that; no run that fits in memory comes near the bound.
    """
    fastest_step_s = service.weights_read_s + service.step_overhead_s
    steps = drain_end_s / fastest_step_s + longest_output + 1
    if steps * requests >= 2**62:
        raise CapsimError(
            f"{requests:,} requests over {drain_end_s:,.0f} s could take {steps:,.0f} steps "
            "on one replica, more than the compiled loop can count; shorten the horizon"
        )


@njit(cache=True)
def _alone_times_s(constants, prompt, output):
    """Time to first token and end-to-end time of each request served alone."""
    n = prompt.shape[0]
    first_s = np.empty(n)
    total_s = np.empty(n)
    for i in range(n):
        first_s[i], total_s[i] = roofline_alone_times_s(constants, prompt[i], output[i])
    return first_s, total_s


class Kernel(NamedTuple):
    """The event loop's state: settings, then arrays the compiled functions share.

    Replica arrays hold `capacity` replicas (`grow_kernel` makes room for more);
    line arrays one line more (line 0 is the shared line, or the holding line
    where each replica has its own, at 1 + replica).
    """

    # settings
    expires: bool
    router: int
    max_queue: int  # waiting requests per replica; -1: unbounded
    continuous: bool
    max_batch: int
    kv_capacity: float
    constants: tuple  # RooflineModel.constants (seven floats)
    dynamic: bool  # the fleet changes: requests may be routed more than once
    token_budget: int  # continuous: tokens a step may process (RooflineModel.token_budget)
    max_wait_s: float  # static batching: longest wait of a batch's head for a fuller batch
    latency_batches: bool  # a batch's time from its members' given latencies (LatencyModel)
    stretch: tuple[float, float, float]  # LatencyModel: batch_overhead, its `at`, step overhead
    serverless: bool  # containers start on demand and stop after an idle timeout
    idle_timeout_s: float
    min_replicas: int
    max_replicas: int
    spot_retry: bool  # a reclaimed replica's requests are retried (else lost)
    # requests
    arrival_s: np.ndarray
    prompt: np.ndarray
    output: np.ndarray
    first_s: np.ndarray  # one at a time: time to first token, alone
    duration_s: np.ndarray  # one at a time: end-to-end time, alone
    deadline_s: np.ndarray
    draws: np.ndarray  # uniform numbers for the router, in the order it uses them
    latency_s: np.ndarray  # LatencyModel: each request's given latency (else empty)
    patience_s: np.ndarray  # each request's patience (with `expires`), for a retry's deadline
    retries: np.ndarray
    start_s: np.ndarray
    first_token_s: np.ndarray
    finish_s: np.ndarray
    status: np.ndarray
    served_by: np.ndarray
    # FIFO lines as linked lists through `next_in_line`, each integrating its length
    next_in_line: np.ndarray
    joined_s: np.ndarray  # when the request joined the line it is in
    scratch: np.ndarray  # requests taken from a line, to route again
    line_head: np.ndarray
    line_tail: np.ndarray
    line_size: np.ndarray
    line_area: np.ndarray  # WaitingLine.length_area
    line_last_s: np.ndarray  # WaitingLine._last_change_s
    # replicas
    activity: np.ndarray
    draining: np.ndarray
    started_s: np.ndarray
    ready_s: np.ndarray  # NaN: never ready
    stopped_s: np.ndarray  # NaN: up at the end
    idle: np.ndarray  # ready replicas waiting for work, idle last at the end
    accepting: np.ndarray  # replicas taking work, in the order they became ready
    up: np.ndarray  # replicas neither stopped nor draining, oldest first
    running: np.ndarray
    busy_s: np.ndarray
    running_area: np.ndarray
    last_change_s: np.ndarray
    in_service: np.ndarray  # static or one at a time: a batch's first request; -1: none
    # continuous batching: KV reserved, steps run, context held, finishes, the plan
    kv_reserved: np.ndarray
    steps_done: np.ndarray
    context: np.ndarray
    # Static batching: a replica's batch, in the order admitted (one at a time: slot 0).
    # Continuous: (replica, slot) is a min-heap per replica of finish step x n + request,
    # which orders like (step, request) while it stays below 2**63 (`_check_finish_keys_fit`)
    finish_keys: np.ndarray
    finishing: np.ndarray
    plan_start_s: np.ndarray
    plan_first_step_s: np.ndarray
    plan_decode_steps: np.ndarray
    plan_context: np.ndarray
    cut_steps: np.ndarray  # -1: the plan runs to its end
    partial: np.ndarray  # the request whose prompt is part-way through prefill; -1: none
    partial_left: np.ndarray  # its prompt tokens still to prefill
    admitted: np.ndarray
    casualties: np.ndarray  # a reclaimed replica's requests in service
    spot: np.ndarray  # 1: the replica is spot and may be reclaimed
    cold_start_s: np.ndarray  # a launched replica's cold start, until it begins
    idle_since_s: np.ndarray  # when the replica last went idle
    timer_since_s: np.ndarray  # serverless: the idle spell the replica's idle timer watches
    timer_phase: np.ndarray  # serverless: 0 no timer, 1 its process starting, 2 timing
    cold_pool: np.ndarray  # serverless: cold starts drawn ahead, used in order (TALLY_COLD_USED)
    # pending events in a heap indexed by entity (CONTROL, then two per replica),
    # ordered by (time, order scheduled)
    event_s: np.ndarray
    event_order: np.ndarray
    event_heap: np.ndarray
    event_slot: np.ndarray  # -1: no event pending
    # fleet changes in order: time, replica, kind (FLEET_KINDS)
    fleet_s: np.ndarray
    fleet_replica: np.ndarray
    fleet_kind: np.ndarray
    clock: np.ndarray  # see the CLOCK_ indices
    tally: np.ndarray  # see the TALLY_ indices


# Counters and the loop's state in `Kernel.tally`; a command is LAUNCHES and DRAINS.
(
    TALLY_IDLE,
    TALLY_RESOLVED,
    TALLY_SCHEDULED,
    TALLY_DRAWS,
    TALLY_TURN,
    TALLY_EVENTS,
    TALLY_STAGE,
    TALLY_NEXT_REQUEST,
    TALLY_INCLUSIVE,
    TALLY_DRAIN_ORDER,
    TALLY_STOP_ORDER,
    TALLY_REPLICAS,
    TALLY_ACCEPTING,
    TALLY_UP,
    TALLY_FLEET_LOG,
    TALLY_LAUNCHES,
    TALLY_DRAINS,
    TALLY_COMMAND,
    TALLY_COLD_USED,
    TALLY_BEGUN,
    TALLY_SPOT_REPLICA,
    TALLY_SPOT_ACTION,
    TALLY_LANDING_ORDER,
) = range(23)
# Times in `Kernel.clock`: the loop's clock and limit, the control instant it stopped
# at, and the delay from a command to the next control instant (negative: none).
# CLOCK_SPOT_S: when a spot replica's next step (notice or reclaim) is due.
# CLOCK_LANDING_S: where the clock lands for an arrival no delay reaches exactly
# (`clock.landing_delay_s`), while the events due there first fire; negative: none.
CLOCK_NOW, CLOCK_LIMIT, CLOCK_CONTROL_S, CLOCK_NEXT_CONTROL_S, CLOCK_SPOT_S, CLOCK_LANDING_S = (
    range(6)
)

# Fleet changes, by number, as `FleetEvent.kind` names them.
FLEET_KINDS = ("start", "ready", "drain", "stop", "interrupt")
START, READY, DRAIN, STOP, INTERRUPT = range(5)

# The entity whose event is the next control instant; replica r's events are 1 + 2r.
CONTROL = 0
# Subtracted from an urgent event's order, so it sorts before every normal event then.
URGENT_SHIFT = 2**62

# Per-replica arrays: dtype and the value a replica slot starts with.
_REPLICA_FIELDS = {
    "activity": (np.int64, STOPPED),
    "draining": (np.int8, 0),
    "started_s": (np.float64, 0.0),
    "ready_s": (np.float64, np.nan),
    "stopped_s": (np.float64, np.nan),
    "idle": (np.int64, 0),
    "accepting": (np.int64, 0),
    "up": (np.int64, 0),
    "running": (np.int64, 0),
    "busy_s": (np.float64, 0.0),
    "running_area": (np.float64, 0.0),
    "last_change_s": (np.float64, 0.0),
    "in_service": (np.int64, -1),
    "kv_reserved": (np.int64, 0),
    "steps_done": (np.int64, 0),
    "context": (np.int64, 0),
    "finishing": (np.int64, 0),
    "plan_start_s": (np.float64, 0.0),
    "plan_first_step_s": (np.float64, 0.0),
    "plan_decode_steps": (np.int64, 0),
    "plan_context": (np.int64, 0),
    "cut_steps": (np.int64, -1),
    "partial": (np.int64, -1),
    "partial_left": (np.int64, 0),
    "cold_start_s": (np.float64, 0.0),  # a launch's cold start, until it is under way
    "idle_since_s": (np.float64, 0.0),
    "timer_since_s": (np.float64, 0.0),
    "timer_phase": (np.int8, 0),
    "spot": (np.int8, 0),
}
_LINE_FIELDS = {
    "line_head": (np.int64, -1),
    "line_tail": (np.int64, -1),
    "line_size": (np.int64, 0),
    "line_area": (np.float64, 0.0),
    "line_last_s": (np.float64, 0.0),
}
_EVENT_FIELDS = {
    "event_s": (np.float64, 0.0),
    "event_order": (np.int64, 0),
    "event_heap": (np.int64, 0),
    "event_slot": (np.int64, -1),
}
_FLEET_LOG_FIELDS = {
    "fleet_s": (np.float64, 0.0),
    "fleet_replica": (np.int64, 0),
    "fleet_kind": (np.int64, 0),
}
FLEET_LOG_PER_REPLICA = 5  # start, ready, drain or interrupt, stop, and one to spare


def _sizes(capacity: int) -> dict[str, int]:
    return {
        "replica": capacity,
        "line": capacity + 1,
        "event": 1 + 2 * capacity,
        "fleet": FLEET_LOG_PER_REPLICA * capacity,
    }


def _field_groups() -> list[tuple[str, dict]]:
    return [
        ("replica", _REPLICA_FIELDS),
        ("line", _LINE_FIELDS),
        ("event", _EVENT_FIELDS),
        ("fleet", _FLEET_LOG_FIELDS),
    ]


def new_kernel(
    arrival_s: np.ndarray,
    prompt: np.ndarray,
    output: np.ndarray,
    first_s: np.ndarray,
    duration_s: np.ndarray,
    deadline_s: np.ndarray,
    draws: np.ndarray,
    latency_s: np.ndarray,
    patience_s: np.ndarray,
    cold_pool: np.ndarray,
    settings: dict,
    replicas: int,
    capacity: int,
) -> Kernel:
    """A kernel for these requests and settings (the Kernel's first sixteen fields),
    with room for `capacity` replicas and `replicas` of them warm and idle at t = 0
    (started and ready in order, as the SimPy engine starts them)."""
    n = len(arrival_s)
    capacity = max(capacity, replicas, 1)
    sizes = _sizes(capacity)
    arrays = {
        name: np.full(sizes[group], fill, dtype)
        for group, fields in _field_groups()
        for name, (dtype, fill) in fields.items()
    }
    warm = np.arange(replicas, dtype=np.int64)
    arrays["activity"][:replicas] = IDLE
    arrays["ready_s"][:replicas] = 0.0
    for name in ("idle", "accepting", "up"):
        arrays[name][:replicas] = warm
    arrays["fleet_replica"][: 2 * replicas] = np.concatenate([warm, warm])
    arrays["fleet_kind"][:replicas] = START
    arrays["fleet_kind"][replicas : 2 * replicas] = READY
    tally = np.zeros(23, np.int64)
    for index in (TALLY_IDLE, TALLY_REPLICAS, TALLY_ACCEPTING, TALLY_UP):
        tally[index] = replicas
    tally[TALLY_FLEET_LOG] = 2 * replicas
    tally[TALLY_INCLUSIVE] = 1
    tally[TALLY_STOP_ORDER] = -1
    clock = np.zeros(6)
    clock[CLOCK_NEXT_CONTROL_S] = -1.0
    clock[CLOCK_LANDING_S] = -1.0
    return Kernel(
        **settings,
        arrival_s=arrival_s,
        prompt=prompt,
        output=output,
        first_s=np.ascontiguousarray(first_s, dtype=np.float64),
        duration_s=np.ascontiguousarray(duration_s, dtype=np.float64),
        deadline_s=np.ascontiguousarray(deadline_s, dtype=np.float64),
        draws=draws,
        latency_s=latency_s,
        patience_s=patience_s,
        retries=np.zeros(n, np.int16),
        casualties=np.zeros(settings["max_batch"], np.int64),
        cold_pool=np.ascontiguousarray(cold_pool, dtype=np.float64),
        start_s=np.full(n, np.nan),
        first_token_s=np.full(n, np.nan),
        finish_s=np.full(n, np.nan),
        status=np.zeros(n, np.int8),  # PENDING
        served_by=np.full(n, -1, np.int32),
        next_in_line=np.full(n, -1, np.int64),
        joined_s=np.zeros(n),
        scratch=np.zeros(n, np.int64),
        finish_keys=np.zeros((capacity, settings["max_batch"]), np.int64),
        admitted=np.zeros(settings["max_batch"], np.int64),
        clock=clock,
        tally=tally,
        **arrays,
    )


def kernel_capacity(k: Kernel) -> int:
    return len(k.activity)


def grow_kernel(k: Kernel, capacity: int) -> Kernel:
    """The same kernel with room for `capacity` replicas (pending events stay valid)."""
    old = kernel_capacity(k)
    if capacity <= old:
        return k
    sizes = _sizes(capacity)
    grown = {}
    for group, fields in _field_groups():
        for name, (dtype, fill) in fields.items():
            array = np.full(sizes[group], fill, dtype)
            current = getattr(k, name)
            array[: len(current)] = current
            grown[name] = array
    keys = np.zeros((capacity, k.max_batch), np.int64)
    keys[:old] = k.finish_keys
    return k._replace(finish_keys=keys, **grown)


@njit(cache=True)
def _sift_event(event_s, event_order, event_heap, event_slot, size, slot):
    """Move the entity at `slot` of the event heap up or down to where its event belongs.

    Events are ordered by time, then by the order they were scheduled in.
    """
    entity = event_heap[slot]
    time_s, order = event_s[entity], event_order[entity]
    while slot > 0:
        parent = event_heap[(slot - 1) // 2]
        if event_s[parent] < time_s or (event_s[parent] == time_s and event_order[parent] < order):
            break
        event_heap[slot] = parent
        event_slot[parent] = slot
        slot = (slot - 1) // 2
    while 2 * slot + 1 < size:
        child = 2 * slot + 1
        first, second = event_heap[child], event_heap[child + 1] if child + 1 < size else -1
        if second >= 0 and (
            event_s[second] < event_s[first]
            or (event_s[second] == event_s[first] and event_order[second] < event_order[first])
        ):
            child, first = child + 1, second
        if time_s < event_s[first] or (time_s == event_s[first] and order < event_order[first]):
            break
        event_heap[slot] = first
        event_slot[first] = slot
        slot = child
    event_heap[slot] = entity
    event_slot[entity] = slot


@njit(cache=True)
def _heap_push(heap, size, key):
    """Add `key` to the min-heap in heap[:size]; the new size."""
    at = size
    while at > 0 and heap[(at - 1) // 2] > key:
        heap[at] = heap[(at - 1) // 2]
        at = (at - 1) // 2
    heap[at] = key
    return size + 1


@njit(cache=True)
def _heap_pop(heap, size):
    """Remove and return the least key of the min-heap in heap[:size], as `heapq.heappop`
    does it (the smaller child moves up to a leaf, then the last key sifts down), so the
    heap's order is the SimPy replica's: a reclaim retries its requests in that order."""
    size -= 1
    key = heap[size]
    if size == 0:
        return key
    top = heap[0]
    at = 0
    child = 1
    while child < size:
        if child + 1 < size and not heap[child] < heap[child + 1]:
            child += 1
        heap[at] = heap[child]
        at = child
        child = 2 * at + 1
    while at > 0:
        parent = (at - 1) >> 1
        if key < heap[parent]:
            heap[at] = heap[parent]
            at = parent
            continue
        break
    heap[at] = key
    return top


@njit(cache=True)
def _remove(items, count, item):
    """Remove `item` from items[:count], keeping the order; the new count (same if absent)."""
    at = 0
    while at < count and items[at] != item:
        at += 1
    if at == count:
        return count
    items[at : count - 1] = items[at + 1 : count].copy()
    return count - 1


# Stages of a run: arrivals, then on to the horizon, then the drain.
ARRIVING, TO_HORIZON, DRAINING = 0, 1, 2
# Why `_serve` returned.
AT_END, AT_CONTROL, MORE_DRAWS, MORE_ROOM, AT_SPOT = 0, 1, 2, 3, 4
# A command (TALLY_COMMAND): the autoscaler's, or a spot replica's next step.
POLICY_COMMAND, SPOT_COMMAND = 1, 2
# What a spot replica does next (TALLY_SPOT_ACTION; its phase is in `timer_phase`):
# nothing more; wait for its notice; at its notice, drain, replace and wait for the
# reclaim (or be reclaimed at once).
SPOT_DONE, SPOT_WAIT_NOTICE, SPOT_REPLACE, SPOT_REPLACE_AND_KILL = 0, 1, 2, 3
# Phases of a replica's second event (`timer_phase`): a spot replica's reclaim process.
SPOT_STARTING, SPOT_NOTICE, SPOT_RECLAIM = 1, 2, 3


@njit(cache=True)
def _serve(k, horizon_s, drain_end_s):
    """Arrivals merged with replica events, then to the horizon, then the drain.

    Returns AT_CONTROL when it stops at a control instant (an autoscaler's sync, at
    `k.clock[CLOCK_CONTROL_S]`): the caller decides, sets a command (replicas to
    launch and to drain, the delay to the next control instant) and calls again,
    which applies the command and goes on. Returns MORE_DRAWS when the router may
    run out of draws (the caller adds some and calls again), AT_END at the end.

    The state is unpacked into local arrays that the helpers below close over;
    numba inlines each helper where it is called, and each big one is called from
    few places, so the compiled kernel stays small enough to compile in seconds.
    """
    # Each field by name: numba reads them once here, and the helpers close over them.
    expires = k.expires
    router = k.router
    max_queue = k.max_queue
    continuous = k.continuous
    max_batch = k.max_batch
    kv_capacity = k.kv_capacity
    constants = k.constants
    dynamic = k.dynamic
    token_budget = k.token_budget
    max_wait_s = k.max_wait_s
    latency_batches = k.latency_batches
    batch_overhead, batch_overhead_at, step_overhead_s = k.stretch
    latency_s = k.latency_s
    serverless = k.serverless
    idle_timeout_s = k.idle_timeout_s
    min_replicas = k.min_replicas
    max_replicas = k.max_replicas
    idle_since_s = k.idle_since_s
    timer_since_s = k.timer_since_s
    timer_phase = k.timer_phase
    cold_pool = k.cold_pool
    spot_retry = k.spot_retry
    patience_s = k.patience_s
    retries = k.retries
    casualties = k.casualties
    spot = k.spot
    arrival_s = k.arrival_s
    prompt = k.prompt
    output = k.output
    first_s = k.first_s
    duration_s = k.duration_s
    deadline_s = k.deadline_s
    draws = k.draws
    start_s = k.start_s
    first_token_s = k.first_token_s
    finish_s = k.finish_s
    status = k.status
    served_by = k.served_by
    next_in_line = k.next_in_line
    joined_s = k.joined_s
    scratch = k.scratch
    line_head = k.line_head
    line_tail = k.line_tail
    line_size = k.line_size
    line_area = k.line_area
    line_last_s = k.line_last_s
    activity = k.activity
    draining = k.draining
    started_s = k.started_s
    ready_s = k.ready_s
    stopped_s = k.stopped_s
    idle = k.idle
    accepting = k.accepting
    up = k.up
    running = k.running
    busy_s = k.busy_s
    running_area = k.running_area
    last_change_s = k.last_change_s
    in_service = k.in_service
    kv_reserved = k.kv_reserved
    steps_done = k.steps_done
    context = k.context
    finish_keys = k.finish_keys
    finishing = k.finishing
    plan_start_s = k.plan_start_s
    plan_first_step_s = k.plan_first_step_s
    plan_decode_steps = k.plan_decode_steps
    plan_context = k.plan_context
    cut_steps = k.cut_steps
    partial = k.partial
    partial_left = k.partial_left
    admitted = k.admitted
    cold_start_s = k.cold_start_s
    event_s = k.event_s
    event_order = k.event_order
    event_heap = k.event_heap
    event_slot = k.event_slot
    fleet_s = k.fleet_s
    fleet_replica = k.fleet_replica
    fleet_kind = k.fleet_kind
    clock = k.clock
    tally = k.tally
    n = arrival_s.shape[0]
    shared = router == SHARED_QUEUE
    uses_draws = router in (RANDOM, LEAST_LOADED)
    # ---------------------------------------------------------------- events

    def schedule(entity, time_s, urgent=False):
        """Wake `entity` at `time_s`, in place of any event it had pending. An urgent
        event (SimPy's process start) comes before every normal one due then. Pass
        `urgent` by position: numba's inlined closures drop a keyword argument."""
        tally[TALLY_SCHEDULED] += 1
        event_s[entity] = time_s
        event_order[entity] = tally[TALLY_SCHEDULED] - (URGENT_SHIFT if urgent else 0)
        slot = event_slot[entity]
        if slot < 0:
            slot = tally[TALLY_EVENTS]
            tally[TALLY_EVENTS] += 1
            event_heap[slot] = entity
        _sift_event(event_s, event_order, event_heap, event_slot, tally[TALLY_EVENTS], slot)

    def pop_event():
        """Remove and return the entity whose event is next."""
        entity = event_heap[0]
        event_slot[entity] = -1
        tally[TALLY_EVENTS] -= 1
        size = tally[TALLY_EVENTS]
        if size > 0:
            event_heap[0] = event_heap[size]
            _sift_event(event_s, event_order, event_heap, event_slot, size, 0)
        return entity

    def unschedule(entity):
        """Drop the entity's pending event, if any (SimPy's abandoned process)."""
        slot = event_slot[entity]
        if slot < 0:
            return
        event_slot[entity] = -1
        tally[TALLY_EVENTS] -= 1
        size = tally[TALLY_EVENTS]
        if slot < size:
            event_heap[slot] = event_heap[size]
            _sift_event(event_s, event_order, event_heap, event_slot, size, slot)

    def log_fleet(time_s, replica, kind):
        at = tally[TALLY_FLEET_LOG]
        fleet_s[at] = time_s
        fleet_replica[at] = replica
        fleet_kind[at] = kind
        tally[TALLY_FLEET_LOG] += 1

    # ---------------------------------------------------------------- requests and lines

    def end(request, outcome, time_s):
        status[request] = outcome
        finish_s[request] = time_s
        tally[TALLY_RESOLVED] += 1

    def line_of(replica):
        return 0 if shared else replica + 1

    def account_line(line, now):
        """WaitingLine._account: integrate the line's length up to now."""
        line_area[line] = accrue(line_area[line], line_size[line], line_last_s[line], now)
        line_last_s[line] = now

    def push(line, request, now):
        account_line(line, now)
        if line_size[line] == 0:
            line_head[line] = request
        else:
            next_in_line[line_tail[line]] = request
        line_tail[line] = request
        line_size[line] += 1
        joined_s[request] = now

    def push_front(line, request, now):
        """A retry joins the line at its head: it had been served."""
        account_line(line, now)
        if line_size[line] == 0:
            line_tail[line] = request
        else:
            next_in_line[request] = line_head[line]
        line_head[line] = request
        line_size[line] += 1
        joined_s[request] = now

    def pop(line, now):
        account_line(line, now)
        request = line_head[line]
        line_head[line] = next_in_line[request]
        line_size[line] -= 1
        return request

    def take_line(line, now):
        """Empty the line into `scratch`, in order; how many it held."""
        account_line(line, now)
        count = line_size[line]
        request = line_head[line]
        for i in range(count):
            scratch[i] = request
            request = next_in_line[request]
        line_size[line] = 0
        return count

    def expire(line, now):
        """Clients at the head of the line who gave up leave it, at their deadlines."""
        if line_size[line] == 0:
            return  # accounting an empty line changes nothing
        account_line(line, now)
        while line_size[line] > 0 and gave_up(deadline_s[line_head[line]], now):
            request = line_head[line]
            line_head[line] = next_in_line[request]
            line_size[line] -= 1
            line_area[line] -= expired_overcount(now, joined_s[request], deadline_s[request])
            end(request, TIMED_OUT, deadline_s[request])

    def next_admissible(replica, now):
        """The head once timed-out clients and contexts that never fit are gone; -1: none."""
        if draining[replica]:
            return -1
        line = line_of(replica)
        if expires:
            expire(line, now)
        while line_size[line] > 0:
            request = line_head[line]
            if not never_fits(prompt[request], output[request], kv_capacity):
                return request
            pop(line, now)
            end(request, DROPPED, now)
        return -1

    # ---------------------------------------------------------------- replicas

    def account(replica, now):
        count = running[replica]
        if count:
            busy, area = accrue_busy(
                busy_s[replica], running_area[replica], count, last_change_s[replica], now
            )
            busy_s[replica] = busy
            running_area[replica] = area
        last_change_s[replica] = now

    def leave_idle(replica):
        activity[replica] = BUSY
        last = tally[TALLY_IDLE] - 1
        if idle[last] != replica:
            tally[TALLY_IDLE] = _remove(idle, tally[TALLY_IDLE], replica)
        else:
            tally[TALLY_IDLE] = last

    # ------------------------------------------------------------ serverless (serverless.py)

    def retire_idle(replica, now):
        """`_retire` of an idle container: drain it (it stops once its loop wakes, after
        what is due now) while more than min_replicas are up and nobody waits; the
        idle case of `drain_replica`, on the shared line."""
        if not retires_idle(tally[TALLY_UP], min_replicas, line_size[0]):
            return
        tally[TALLY_ACCEPTING] = _remove(accepting, tally[TALLY_ACCEPTING], replica)
        tally[TALLY_UP] = _remove(up, tally[TALLY_UP], replica)
        draining[replica] = 1
        log_fleet(now, replica, DRAIN)
        leave_idle(replica)
        if continuous:
            cut_steps[replica] = 0  # zero steps to finish: straight to admission
        else:
            in_service[replica] = -1
        schedule(1 + 2 * replica, now)

    def on_idle(replica, now):
        """A container went idle: retire it now without an idle timeout, else start
        its timer process (which begins, as SimPy's, ahead of what is due now)."""
        if idle_timeout_s <= 0:
            retire_idle(replica, now)
            return
        timer_since_s[replica] = now
        timer_phase[replica] = 1
        schedule(2 + 2 * replica, now, True)  # urgent

    def idle_timer(replica, now):
        """The timer's process begins (and waits the idle timeout), or its wait ends:
        the container retires if it has stayed idle since."""
        if timer_phase[replica] == 1:
            timer_phase[replica] = 2
            schedule(2 + 2 * replica, now + idle_timeout_s)
            return
        timer_phase[replica] = 0
        is_idle = activity[replica] == IDLE
        if idle_timer_fires(is_idle, idle_since_s[replica], timer_since_s[replica]):
            retire_idle(replica, now)

    def launch(now):
        """`EngineState.launch`: a container starts its cold start (drawn ahead in order)."""
        replica = tally[TALLY_REPLICAS]
        tally[TALLY_REPLICAS] += 1
        cold_start_s[replica] = cold_pool[tally[TALLY_COLD_USED]]
        tally[TALLY_COLD_USED] += 1
        activity[replica] = STARTING
        started_s[replica] = now
        last_change_s[replica] = now
        idle_since_s[replica] = now
        log_fleet(now, replica, START)
        up[tally[TALLY_UP]] = replica
        tally[TALLY_UP] += 1
        schedule(1 + 2 * replica, now, True)  # urgent

    def scale_for_arrival(now):
        """serverless `on_arrival`: with no idle container, start enough for what waits
        beyond the room of those starting, filling a batch or decoding."""
        if tally[TALLY_IDLE] > 0:
            return
        spare = 0
        for i in range(tally[TALLY_UP]):
            replica = up[i]
            if activity[replica] == STARTING or activity[replica] == FILLING:
                spare += max_batch
            elif activity[replica] == DECODING:
                spare += max_batch - running[replica]
        waiting = line_size[0]
        if waiting <= spare:
            return
        needed = (waiting - spare + max_batch - 1) // max_batch
        room = max_replicas - tally[TALLY_UP]
        for _ in range(max(0, min(needed, room))):
            launch(now)

    def go_idle(replica, now):
        """`Replica._idle`: wait for work, oldest idle first in line; a serverless
        container then starts its idle timer (or retires at once without one)."""
        activity[replica] = IDLE
        idle_since_s[replica] = now
        idle[tally[TALLY_IDLE]] = replica
        tally[TALLY_IDLE] += 1
        if serverless:
            on_idle(replica, now)

    def stop(replica, now):
        account(replica, now)
        activity[replica] = STOPPED
        stopped_s[replica] = now
        log_fleet(now, replica, STOP)

    def start_batch(replica, request, now):
        """Static (one at a time: a batch of one): take the head and whoever fits behind
        it, up to max_batch and the KV memory, and serve them as one batch
        (`Replica._start_batch`, `Replica._batch_times_s`)."""
        line = line_of(replica)
        batch = finish_keys[replica]
        pop(line, now)
        batch[0] = request
        reserved = kv_need_tokens(prompt[request], output[request])
        size = 1
        while batch_open(size, max_batch):
            member = next_admissible(replica, now)
            if member < 0:
                break
            need = kv_need_tokens(prompt[member], output[member])
            if not kv_fits(reserved, need, kv_capacity):
                break
            reserved += need
            batch[size] = pop(line, now)
            size += 1
        activity[replica] = BUSY
        running[replica] = size
        last_change_s[replica] = now
        if size == 1:
            first_step_s = first_s[request]
            batch_s = duration_s[request]
        elif latency_batches:
            longest_s = latency_s[request]
            for j in range(1, size):
                longest_s = max(longest_s, latency_s[batch[j]])
            batch_s = first_step_s = latency_batch_s(
                longest_s, size, batch_overhead, batch_overhead_at, step_overhead_s
            )
        else:
            prompt_sum, pairs, longest = 0, 0.0, 0
            for j in range(size):
                prompt_sum, pairs, longest = add_member(
                    prompt_sum, pairs, longest, prompt[batch[j]], output[batch[j]]
                )
            first_step_s, batch_s = roofline_batch_times_s(
                constants, prompt_sum, pairs, longest, size
            )
        first_token = now + first_step_s
        for j in range(size):
            member = batch[j]
            served_by[member] = replica
            start_s[member] = now
            first_token_s[member] = first_token
        in_service[replica] = request
        schedule(1 + 2 * replica, now + batch_s)

    def start_next_or_idle(replica, now):
        """The top of `Replica._serve_static`'s loop: batch, wait to fill, idle or stop."""
        request = next_admissible(replica, now)
        if request < 0:
            if drained(draining[replica] != 0, running[replica]):
                stop(replica, now)
            else:
                go_idle(replica, now)
            return
        waiting = line_size[line_of(replica)]
        wait_s = fill_wait_s(max_wait_s, waiting, max_batch, arrival_s[request], now)
        if wait_s > 0:
            activity[replica] = FILLING
            schedule(1 + 2 * replica, now + wait_s)
            return
        start_batch(replica, request, now)

    def finish_one(replica, now):
        """Static: the batch is over; its members complete in the order admitted."""
        account(replica, now)
        size = running[replica]
        running[replica] = 0
        for j in range(size):
            end(finish_keys[replica, j], COMPLETED, now)
        in_service[replica] = -1

    def admit_and_plan(replica, now):
        """Continuous: one step of decodes and prefill chunks within the token budget
        (the part-way prompt first, then newcomers), then, once no prompt is part-way
        and the budget was not used up, decode steps to the next finish: the rules of
        `rules/continuous.py`, on this replica's line and heap of finishes."""
        line = line_of(replica)
        count = running[replica]
        chunked = partial[replica]
        decoders = count - 1 if chunked >= 0 else count
        room = step_room_tokens(token_budget, decoders)
        joining = 0
        completing = -1  # the part-way prompt, if this step finishes its prefill
        prefill_tokens = 0
        prefill_pairs = 0.0
        if chunked >= 0:
            chunk, pairs = partial_chunk(prompt[chunked], partial_left[replica], room)
            prefill_tokens += chunk
            prefill_pairs += pairs
            room -= chunk
            partial_left[replica] -= chunk
            if partial_left[replica] == 0:
                completing = chunked
                chunked = -1
        reserved = kv_reserved[replica]
        while may_admit(room, count + joining, max_batch):
            request = next_admissible(replica, now)
            if request < 0:
                break
            need = kv_need_tokens(prompt[request], output[request])
            if not kv_fits(reserved, need, kv_capacity):
                break
            pop(line, now)
            reserved += need
            admitted[joining] = request
            joining += 1
            chunk, pairs = newcomer_chunk(prompt[request], room)
            prefill_tokens += chunk
            prefill_pairs += pairs
            room -= chunk
            if chunk < prompt[request]:
                chunked = request
                partial_left[replica] = prompt[request] - chunk
                break
        kv_reserved[replica] = reserved
        partial[replica] = chunked
        if joining == 0 and count == 0:
            if draining[replica]:
                stop(replica, now)
            else:
                go_idle(replica, now)
            return
        account(replica, now)
        tokens = context[replica]
        steps = steps_done[replica]
        first_step_s = 0.0
        if prefill_tokens:
            # A newcomer left part-way is the last admitted: admission stops at it.
            part_way = joining > 0 and admitted[joining - 1] == chunked
            prefilled = prompts_prefilled(completing >= 0, joining, part_way)
            first_step_s, tokens = prefill_step(
                constants, prefill_tokens, prefill_pairs, decoders, tokens, prefilled
            )
            first_token = now + first_step_s
            for j in range(-1, joining):
                request = completing if j < 0 else admitted[j]
                if j >= 0:
                    served_by[request] = replica
                    start_s[request] = now
                if request < 0 or request == chunked:
                    continue
                first_token_s[request] = first_token
                key = finish_step(steps, output[request]) * n + request
                finishing[replica] = _heap_push(finish_keys[replica], finishing[replica], key)
            count += joining
            running[replica] = count
            steps += 1
        context[replica] = tokens
        steps_done[replica] = steps
        next_finish = finish_keys[replica, 0] // n if finishing[replica] > 0 else steps
        decode_steps = decode_steps_planned(prefill_tokens, chunked, room, next_finish, steps)
        span_s = run_span_s(constants, first_step_s, decode_steps, count, tokens)
        plan_start_s[replica] = now
        plan_first_step_s[replica] = first_step_s
        plan_decode_steps[replica] = decode_steps
        plan_context[replica] = tokens
        cut_steps[replica] = -1
        activity[replica] = DECODING if count < max_batch and not draining[replica] else BUSY
        schedule(1 + 2 * replica, now + span_s)

    def finish_steps(replica, now):
        """Continuous: the planned steps (or those up to a cut) are done; retire who finished."""
        decode_steps = cut_steps[replica]
        if decode_steps < 0:
            decode_steps = plan_decode_steps[replica]
        account(replica, now)
        count = running[replica]
        steps, tokens = after_decode_steps(
            steps_done[replica], context[replica], count, decode_steps
        )
        steps_done[replica] = steps
        reserved = kv_reserved[replica]
        while finishing[replica] > 0 and finish_keys[replica, 0] // n <= steps:
            request = _heap_pop(finish_keys[replica], finishing[replica]) % n
            finishing[replica] -= 1
            need = kv_need_tokens(prompt[request], output[request])
            reserved, tokens, count = release_finished(reserved, tokens, count, need)
            end(request, COMPLETED, now)
        kv_reserved[replica] = reserved
        context[replica] = tokens
        running[replica] = count

    def cut_run(replica, now):
        """Continuous: end the decode run at the next step boundary, so newcomers join there."""
        done, delay_s = cut_at_next_step(
            constants,
            now - plan_start_s[replica],
            plan_first_step_s[replica],
            plan_decode_steps[replica],
            running[replica],
            plan_context[replica],
        )
        if done < 0:
            return  # the run already ends at the next boundary
        cut_steps[replica] = done
        schedule(1 + 2 * replica, now + delay_s)

    def wake_later(replica, now):
        """Resume the replica's loop at `now`, after what is already due then, as SimPy's
        wake event does; zero steps to finish, so it goes straight to admission."""
        cut_steps[replica] = 0
        schedule(1 + 2 * replica, now)

    def notify(replica, now):
        """Work arrived: an idle replica starts; a decode run stops at the next step to admit
        it; a static batch waiting to fill starts once its line holds a full batch."""
        if activity[replica] == IDLE:
            leave_idle(replica)
            if continuous:
                wake_later(replica, now)
                return
            # `Replica.notify`: start the batch now if no fuller one is worth waiting for,
            # else wake the serve loop after what is due now.
            request = next_admissible(replica, now)
            if request >= 0 and starts_now(max_wait_s, line_size[line_of(replica)], max_batch):
                start_batch(replica, request, now)
            else:
                in_service[replica] = -1
                schedule(1 + 2 * replica, now)
        elif activity[replica] == DECODING:
            activity[replica] = BUSY
            cut_run(replica, now)
        elif activity[replica] == FILLING and starts_now(
            max_wait_s, line_size[line_of(replica)], max_batch
        ):
            activity[replica] = BUSY
            schedule(1 + 2 * replica, now)  # the batch is full: stop waiting for more

    # ---------------------------------------------------------------- routing

    def draw():
        if tally[TALLY_DRAWS] >= draws.shape[0]:
            raise RuntimeError("the router ran out of draws")
        tally[TALLY_DRAWS] += 1
        return draws[tally[TALLY_DRAWS] - 1]

    def choose():
        """The replica a new request joins: the rules of `router.py`, on the same draws."""
        count = tally[TALLY_ACCEPTING]
        if router == ROUND_ROBIN:
            tally[TALLY_TURN] += 1
            return accepting[round_robin_pick(tally[TALLY_TURN], count)]
        if router == RANDOM:
            return accepting[random_pick(draw(), count)]
        loads = np.empty(count, np.int64)
        for i in range(count):
            loads[i] = line_size[accepting[i] + 1] + running[accepting[i]]
        best, tied = fewest(loads)
        skip = tie_skip(draw(), tied) if tie_needs_draw(tied) else 0
        return accepting[nth_with_load(loads, best, skip)]

    def route(request, now, front=False):
        """A request joins a line (waking a replica that can take it), or is dropped."""
        if expires:
            expire(0, now)  # the shared line, or the holding line
            if not shared:
                for i in range(tally[TALLY_ACCEPTING]):
                    expire(accepting[i] + 1, now)
        count = tally[TALLY_ACCEPTING]
        target = -1
        if shared:
            if not line_has_room(line_size[0], max_queue, count):
                end(request, DROPPED, now)
                return
            if front:
                push_front(0, request, now)
            else:
                push(0, request, now)
            if serverless:
                scale_for_arrival(now)
            if tally[TALLY_IDLE] > 0:
                target = idle[tally[TALLY_IDLE] - 1]
            elif max_batch > 1:
                for i in range(count):
                    replica = accepting[i]
                    if (activity[replica] == DECODING and running[replica] < max_batch) or (
                        activity[replica] == FILLING
                        and starts_now(max_wait_s, line_size[0], max_batch)
                    ):
                        target = replica
                        break
        elif count == 0:
            # Nobody serves yet: wait in one line for whichever replica is ready first.
            if line_has_room(line_size[0], max_queue, 1):
                push(0, request, now)
            else:
                end(request, DROPPED, now)
            return
        else:
            target = choose()
            if not line_has_room(line_size[target + 1], max_queue, 1):
                end(request, DROPPED, now)
                return
            if front:
                push_front(target + 1, request, now)
            else:
                push(target + 1, request, now)
        if target >= 0:
            notify(target, now)

    # ---------------------------------------------------------------- the fleet

    def reroute(count, now):
        """Route again the first `count` requests of `scratch`, in order."""
        for i in range(count):
            route(scratch[i], now)

    def become_ready(replica, now):
        """The cold start is over: join the fleet and take the held requests."""
        ready_s[replica] = now
        log_fleet(now, replica, READY)
        accepting[tally[TALLY_ACCEPTING]] = replica
        tally[TALLY_ACCEPTING] += 1
        if not shared:
            # One at a time, as `EngineState.replica_ready`: each route first drops the
            # clients at the head of the holding line who gave up. This replica is still
            # STARTING: nobody wakes it.
            while line_size[0] > 0:
                route(pop(0, now), now)
        activity[replica] = BUSY

    def drain_replica(replica, now):
        """Take a replica out of service: it finishes what it holds, then stops. One in
        its cold start is cancelled; what waits in its own line is routed again."""
        if draining[replica] or activity[replica] == STOPPED:
            return
        tally[TALLY_ACCEPTING] = _remove(accepting, tally[TALLY_ACCEPTING], replica)
        tally[TALLY_UP] = _remove(up, tally[TALLY_UP], replica)
        requeue = 0 if shared else take_line(replica + 1, now)
        draining[replica] = 1
        if activity[replica] == STARTING:
            unschedule(1 + 2 * replica)
            stop(replica, now)
        else:
            log_fleet(now, replica, DRAIN)
            if activity[replica] == IDLE:
                leave_idle(replica)
                if continuous:
                    wake_later(replica, now)
                else:
                    in_service[replica] = -1
                    schedule(1 + 2 * replica, now)
        reroute(requeue, now)

    def kill_replica(replica, now):
        """A spot reclaim: the replica dies now; what it served is retried at the head of
        a line (or lost), what waited in its own line is routed again
        (`EngineState.kill_replica`, `Replica.kill`)."""
        if activity[replica] == STOPPED:
            return
        tally[TALLY_ACCEPTING] = _remove(accepting, tally[TALLY_ACCEPTING], replica)
        tally[TALLY_UP] = _remove(up, tally[TALLY_UP], replica)
        if activity[replica] == IDLE:
            tally[TALLY_IDLE] = _remove(idle, tally[TALLY_IDLE], replica)
        requeue = 0 if shared else take_line(replica + 1, now)
        account(replica, now)
        unschedule(1 + 2 * replica)
        lost = 0
        if continuous:
            for j in range(finishing[replica]):
                casualties[j] = finish_keys[replica, j] % n  # heap order, as heapq's list
            lost = finishing[replica]
            if partial[replica] >= 0:  # the prompt part-way through prefill comes last
                casualties[lost] = partial[replica]
                lost += 1
                partial[replica] = -1
                partial_left[replica] = 0
        elif in_service[replica] >= 0:
            for j in range(running[replica]):
                casualties[j] = finish_keys[replica, j]
            lost = running[replica]
        finishing[replica] = 0
        running[replica] = 0
        kv_reserved[replica] = 0
        in_service[replica] = -1
        activity[replica] = STOPPED
        stopped_s[replica] = now
        log_fleet(now, replica, INTERRUPT)
        log_fleet(now, replica, STOP)
        for j in range(lost):
            member = casualties[j]
            start_s[member] = math.nan
            first_token_s[member] = math.nan
            if spot_retry:
                patience = patience_s[member] if expires else math.inf
                tries, deadline = retried_after_reclaim(retries[member], now, patience)
                retries[member] = tries
                if expires:
                    deadline_s[member] = deadline
                route(member, now, True)
            else:
                end(member, LOST, now)
        reroute(requeue, now)

    def launch_prepared(now):
        """Start the TALLY_LAUNCHES replicas the caller prepared (cold start, market):
        each one's process begins now, ahead of anything else due now (SimPy's
        Initialize), and a spot one's reclaim process right after."""
        launches = tally[TALLY_LAUNCHES]
        first = tally[TALLY_REPLICAS]
        for replica in range(first, first + launches):
            activity[replica] = STARTING
            started_s[replica] = now
            last_change_s[replica] = now
            log_fleet(now, replica, START)
            up[tally[TALLY_UP]] = replica
            tally[TALLY_UP] += 1
            schedule(1 + 2 * replica, now, True)  # urgent
            if spot[replica]:
                timer_phase[replica] = SPOT_STARTING
                schedule(2 + 2 * replica, now, True)  # urgent
        tally[TALLY_REPLICAS] += launches
        tally[TALLY_LAUNCHES] = 0

    def apply_spot(now):
        """A spot replica's step, as the caller drew it (`spot._reclaim`): wait for the
        notice, or at the notice drain it, start its replacement and wait for the
        reclaim (or die at once when the reclaim is due already)."""
        replica = tally[TALLY_SPOT_REPLICA]
        action = tally[TALLY_SPOT_ACTION]
        timer_phase[replica] = 0
        if action == SPOT_WAIT_NOTICE:
            timer_phase[replica] = SPOT_NOTICE
            schedule(2 + 2 * replica, clock[CLOCK_SPOT_S])
        elif action >= SPOT_REPLACE:  # SPOT_REPLACE or SPOT_REPLACE_AND_KILL
            drain_replica(replica, now)
            launch_prepared(now)
            if action == SPOT_REPLACE_AND_KILL:
                kill_replica(replica, now)
            else:
                timer_phase[replica] = SPOT_RECLAIM
                schedule(2 + 2 * replica, clock[CLOCK_SPOT_S])

    def wake(entity, now):
        """A replica's event: its process starts (a launch), its cold start ends, its
        request finishes, its steps reach the planned point, or it wakes to admit or
        stop. Then, unless it is still starting, it serves on."""
        replica = (entity - 1) // 2
        if activity[replica] == STARTING:
            if cold_start_s[replica] > 0:
                schedule(entity, now + cold_start_s[replica])
                cold_start_s[replica] = 0.0  # waited for: next time it is ready
                return
            become_ready(replica, now)
        elif continuous:
            finish_steps(replica, now)
        elif in_service[replica] >= 0:
            finish_one(replica, now)
        if continuous:
            admit_and_plan(replica, now)
        else:
            start_next_or_idle(replica, now)

    def apply_command(now):
        """What the caller decided at this control instant, in the SimPy engine's order:
        drain (cold starts first, then the least loaded, newest first among equals) or
        launch, schedule the next control instant, then begin each launch's cold start."""
        drains = tally[TALLY_DRAINS]
        if drains > 0:
            size = tally[TALLY_UP]
            victims = np.empty(size, np.int64)
            serving = np.empty(size, np.int64)
            loads = np.empty(size, np.int64)
            starting = 0
            others = 0
            for i in range(size - 1, -1, -1):
                replica = up[i]
                if activity[replica] == STARTING:
                    victims[starting] = replica
                    starting += 1
                else:
                    serving[others] = replica
                    loads[others] = line_size[line_of(replica)] + running[replica]
                    others += 1
            order = np.argsort(loads[:others], kind="mergesort")
            for i in range(others):
                victims[starting + i] = serving[order[i]]
            for i in range(min(drains, size)):
                drain_replica(victims[i], now)
        launch_prepared(now)
        if clock[CLOCK_NEXT_CONTROL_S] >= 0:
            schedule(CONTROL, now + clock[CLOCK_NEXT_CONTROL_S])
        tally[TALLY_DRAINS] = 0

    # ------------------------------------------------------------ the run
    stage = tally[TALLY_STAGE]
    request = tally[TALLY_NEXT_REQUEST]
    now = clock[CLOCK_NOW]  # arriving: SimPy's clock; then the stage's stop
    limit_s = clock[CLOCK_LIMIT]
    landing_s = clock[CLOCK_LANDING_S]
    landing_order = tally[TALLY_LANDING_ORDER]
    inclusive = tally[TALLY_INCLUSIVE] != 0  # fire events at exactly limit_s too
    # The drain ends as SimPy's run(until=any_of([timeout, all_resolved])) does. At the
    # limit the timeout fires after the events scheduled before the drain began; the
    # condition it triggers then fires after every event scheduled by that moment,
    # and the run stops. Events scheduled later, even for that instant, never fire.
    # When the last request resolves first, the same holds with that instant as the
    # limit and the resolution in place of the timeout.
    drain_order = tally[TALLY_DRAIN_ORDER]  # the last order scheduled before the gate
    stop_order = tally[TALLY_STOP_ORDER]  # the last order scheduled before the stop; -1: not yet
    code = AT_END
    if serverless and tally[TALLY_BEGUN] == 0:
        # The warm containers' processes at t = 0, in order: each is ready, then idle.
        tally[TALLY_BEGUN] = 1
        tally[TALLY_FLEET_LOG] = tally[TALLY_REPLICAS]  # their starts; readies follow
        for replica in range(tally[TALLY_REPLICAS]):
            log_fleet(0.0, replica, READY)
            on_idle(replica, 0.0)
    if tally[TALLY_BEGUN] == 0:
        # The initial spot replicas' reclaim processes start at t = 0, in order.
        tally[TALLY_BEGUN] = 1
        for replica in range(tally[TALLY_REPLICAS]):
            if spot[replica]:
                timer_phase[replica] = SPOT_STARTING
                schedule(2 + 2 * replica, 0.0, True)  # urgent
    if tally[TALLY_COMMAND]:
        command = tally[TALLY_COMMAND]
        tally[TALLY_COMMAND] = 0
        time_s = clock[CLOCK_CONTROL_S]
        if command == SPOT_COMMAND:
            apply_spot(time_s)
        else:
            apply_command(time_s)
        if stage == DRAINING and tally[TALLY_RESOLVED] == n and time_s < limit_s:
            now = limit_s = time_s
            drain_order = tally[TALLY_SCHEDULED]
    while True:
        if stage == ARRIVING:
            if request < n:
                limit_s = arrival_s[request] if landing_s < 0 else landing_s
            else:
                stage = TO_HORIZON  # from the clock at the last arrival
                limit_s = -math.inf
                if now < horizon_s:
                    # SimPy's run(until=...) stops at now + (until - now), before events then.
                    now += horizon_s - now
                    limit_s = now
                    inclusive = False
        if tally[TALLY_EVENTS] > 0:
            entity = event_heap[0]
            time_s = event_s[entity]
            due = time_s < limit_s or (inclusive and time_s == limit_s)
            if due and landing_s >= 0 and time_s == landing_s:
                due = event_order[entity] < landing_order  # due before the landing
            if due and stage == DRAINING and time_s == limit_s:
                if event_order[entity] > drain_order and stop_order < 0:
                    stop_order = tally[TALLY_SCHEDULED]  # the gate fires now
                due = stop_order < 0 or event_order[entity] <= stop_order
            if due:
                pop_event()
                if stage == ARRIVING:
                    now = time_s
                if entity == CONTROL:
                    clock[CLOCK_CONTROL_S] = time_s
                    code = AT_CONTROL
                    break
                if entity % 2 == 1:
                    wake(entity, time_s)
                elif serverless:
                    idle_timer((entity - 2) // 2, time_s)
                elif timer_phase[(entity - 2) // 2] == SPOT_RECLAIM:
                    timer_phase[(entity - 2) // 2] = 0
                    kill_replica((entity - 2) // 2, time_s)
                else:  # a spot replica's reclaim process begins, or its notice is due
                    tally[TALLY_SPOT_REPLICA] = (entity - 2) // 2
                    clock[CLOCK_CONTROL_S] = time_s
                    code = AT_SPOT
                    break
                if stage == DRAINING and tally[TALLY_RESOLVED] == n and time_s < limit_s:
                    now = limit_s = time_s
                    drain_order = tally[TALLY_SCHEDULED]
                continue
        if stage == ARRIVING:
            if serverless:
                # Room for every container this arrival may start, and their cold starts.
                room = max_replicas - tally[TALLY_UP]
                replicas_full = tally[TALLY_REPLICAS] + room > activity.shape[0]
                if replicas_full or tally[TALLY_COLD_USED] + room > cold_pool.shape[0]:
                    code = MORE_ROOM
                    break
            if dynamic and uses_draws:
                # Enough draws for this arrival and every reroute before the next one.
                left = draws.shape[0] - tally[TALLY_DRAWS]
                if left < 2 * (request - tally[TALLY_RESOLVED]) + 2:
                    code = MORE_DRAWS
                    break
            time_s = arrival_s[request]
            if landing_s >= 0:
                now, landing_s = landing_s, -1.0
            elif time_s > now:
                landed_s = now + landing_delay_s(now, time_s)
                if landed_s > time_s:
                    # No delay lands on it: SimPy's timeout fires at landed_s, after
                    # the events already due then; the loop fires those first.
                    tally[TALLY_SCHEDULED] += 1
                    landing_s, landing_order = landed_s, tally[TALLY_SCHEDULED]
                    continue
                now = landed_s
            route(request, now)
            request += 1
        elif stage == TO_HORIZON and tally[TALLY_RESOLVED] < n:
            stage = DRAINING
            now += drain_end_s - now
            limit_s = now
            inclusive = True
            drain_order = tally[TALLY_SCHEDULED]
        else:
            code = AT_END
            break
    if code == AT_END:
        for line in range(line_size.shape[0]):
            if expires:
                expire(line, now)
            account_line(line, now)
        for replica in range(tally[TALLY_REPLICAS]):
            account(replica, now)
    tally[TALLY_STAGE] = stage
    tally[TALLY_NEXT_REQUEST] = request
    tally[TALLY_INCLUSIVE] = 1 if inclusive else 0
    tally[TALLY_DRAIN_ORDER] = drain_order
    tally[TALLY_STOP_ORDER] = stop_order
    clock[CLOCK_NOW] = now
    clock[CLOCK_LIMIT] = limit_s
    clock[CLOCK_LANDING_S] = landing_s
    tally[TALLY_LANDING_ORDER] = landing_order
    return code


for _dependency in (
    service_time,
    engine_clock,
    books,
    continuous,
    kv_memory,
    lifecycle,
    routing,
    static_batch,
    line_rules,
):
    drop_stale_cache(
        Path(__file__).parent / "__pycache__", "compiled_loop", Path(_dependency.__file__)
    )
