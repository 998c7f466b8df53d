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
`service_time.py` compiled in; `drop_stale_kernel_cache` covers that file too.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numba import njit

from distributions.traffic import RequestChunk
from sim.engine import clock as engine_clock
from sim.engine import service_time
from sim.engine.clock import landing_delay_s
from sim.engine.request_log import COMPLETED, DROPPED, LOST, TIMED_OUT
from sim.engine.rules import books, lifecycle, routing, static_batch
from sim.engine.rules import waiting_line as line_rules
from sim.engine.rules.books import accrue, accrue_busy, expired_overcount
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
from sim.engine.rules.static_batch import batch_open, fill_wait_s, kv_fits, starts_now
from sim.engine.rules.waiting_line import gave_up, line_has_room, never_fits
from sim.engine.service_time import (
    LatencyModel,
    RooflineModel,
    ServiceModel,
    roofline_alone_times_s,
    roofline_decode_span_s,
    roofline_decode_steps_within,
    roofline_step_s,
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


def drop_stale_kernel_cache(cache_dir: Path, dependency: Path) -> None:
    """Delete this module's compiled cache if `dependency` changed since it was built.

    numba checks a cached function against its own source file only, so after a
    change to `service_time.py` alone (a `git pull`, say) it would load a kernel
    with the old roofline compiled in. A digest of that file, kept beside the
    cache, catches it. A read-only cache directory is left alone: numba then
    caches elsewhere, and an install that changes a file replaces both.
    """
    digest = hashlib.sha256(dependency.read_bytes()).hexdigest()
    stamp = cache_dir / f"{Path(__file__).stem}.{dependency.stem}.sha256"
    try:
        if stamp.exists() and stamp.read_text() == digest:
            return
        for cached in cache_dir.glob(f"{Path(__file__).stem}.*.nb[ic]"):
            cached.unlink(missing_ok=True)
        cache_dir.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:
        pass


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


# ---------------------------------------------------------------- the kernel's own steps
# Top-level functions over the kernel (compiled once each, not inlined into `_serve`
# at every call): its event heap and fleet log, its lines as linked lists, and the
# serving rules of `sim/engine/rules/` applied to them.


@njit(cache=True)
def _schedule(k, entity, time_s, urgent):
    """Wake `entity` at `time_s`, in place of any event it had pending. An urgent event
    (SimPy's process start) comes before every normal one due then."""
    tally = k.tally
    tally[TALLY_SCHEDULED] += 1
    k.event_s[entity] = time_s
    k.event_order[entity] = tally[TALLY_SCHEDULED] - (URGENT_SHIFT if urgent else 0)
    slot = k.event_slot[entity]
    if slot < 0:
        slot = tally[TALLY_EVENTS]
        tally[TALLY_EVENTS] += 1
        k.event_heap[slot] = entity
    _sift_event(k.event_s, k.event_order, k.event_heap, k.event_slot, tally[TALLY_EVENTS], slot)


@njit(cache=True)
def _unschedule(k, entity):
    """Drop the entity's pending event, if any (SimPy's abandoned process)."""
    slot = k.event_slot[entity]
    if slot < 0:
        return
    k.event_slot[entity] = -1
    k.tally[TALLY_EVENTS] -= 1
    size = k.tally[TALLY_EVENTS]
    if slot < size:
        k.event_heap[slot] = k.event_heap[size]
        _sift_event(k.event_s, k.event_order, k.event_heap, k.event_slot, size, slot)


@njit(cache=True)
def _log_fleet(k, time_s, replica, kind):
    at = k.tally[TALLY_FLEET_LOG]
    k.fleet_s[at] = time_s
    k.fleet_replica[at] = replica
    k.fleet_kind[at] = kind
    k.tally[TALLY_FLEET_LOG] += 1


@njit(cache=True)
def _end(k, request, outcome, time_s):
    k.status[request] = outcome
    k.finish_s[request] = time_s
    k.tally[TALLY_RESOLVED] += 1


@njit(cache=True)
def _line_of(k, replica):
    return 0 if k.router == SHARED_QUEUE else replica + 1


@njit(cache=True)
def _account_line(k, line, now):
    """WaitingLine._account: integrate the line's length up to now."""
    k.line_area[line] = accrue(k.line_area[line], k.line_size[line], k.line_last_s[line], now)
    k.line_last_s[line] = now


@njit(cache=True)
def _push(k, line, request, now):
    _account_line(k, line, now)
    if k.line_size[line] == 0:
        k.line_head[line] = request
    else:
        k.next_in_line[k.line_tail[line]] = request
    k.line_tail[line] = request
    k.line_size[line] += 1
    k.joined_s[request] = now


@njit(cache=True)
def _push_front(k, line, request, now):
    """A retry joins the line at its head: it had been served."""
    _account_line(k, line, now)
    if k.line_size[line] == 0:
        k.line_tail[line] = request
    else:
        k.next_in_line[request] = k.line_head[line]
    k.line_head[line] = request
    k.line_size[line] += 1
    k.joined_s[request] = now


@njit(cache=True)
def _pop(k, line, now):
    _account_line(k, line, now)
    request = k.line_head[line]
    k.line_head[line] = k.next_in_line[request]
    k.line_size[line] -= 1
    return request


@njit(cache=True)
def _take_line(k, line, now):
    """Empty the line into `scratch`, in order; how many it held."""
    _account_line(k, line, now)
    count = k.line_size[line]
    request = k.line_head[line]
    for i in range(count):
        k.scratch[i] = request
        request = k.next_in_line[request]
    k.line_size[line] = 0
    return count


@njit(cache=True)
def _expire(k, line, now):
    """Clients at the head of the line who gave up leave it, at their deadlines."""
    if k.line_size[line] == 0:
        return  # accounting an empty line changes nothing
    _account_line(k, line, now)
    deadline_s = k.deadline_s
    while k.line_size[line] > 0 and gave_up(deadline_s[k.line_head[line]], now):
        request = k.line_head[line]
        k.line_head[line] = k.next_in_line[request]
        k.line_size[line] -= 1
        k.line_area[line] -= expired_overcount(now, k.joined_s[request], deadline_s[request])
        _end(k, request, TIMED_OUT, deadline_s[request])


@njit(cache=True)
def _expire_everywhere(k, now):
    """Clients who gave up leave every line, so they hold no queue place or router load."""
    _expire(k, 0, now)  # the shared line, or the holding line
    if k.router != SHARED_QUEUE:
        for i in range(k.tally[TALLY_ACCEPTING]):
            _expire(k, k.accepting[i] + 1, now)


@njit(cache=True)
def _next_admissible(k, replica, now):
    """The head once timed-out clients and contexts that never fit are gone; -1: none."""
    if k.draining[replica]:
        return -1
    line = _line_of(k, replica)
    if k.expires:
        _expire(k, line, now)
    while k.line_size[line] > 0:
        request = k.line_head[line]
        if not never_fits(k.prompt[request], k.output[request], k.kv_capacity):
            return request
        _pop(k, line, now)
        _end(k, request, DROPPED, now)
    return -1


@njit(cache=True)
def _account(k, replica, now):
    """Replica._account: busy time and the running integral up to now."""
    count = k.running[replica]
    if count:
        busy_s, area = accrue_busy(
            k.busy_s[replica], k.running_area[replica], count, k.last_change_s[replica], now
        )
        k.busy_s[replica] = busy_s
        k.running_area[replica] = area
    k.last_change_s[replica] = now


@njit(cache=True)
def _leave_idle(k, replica):
    k.activity[replica] = BUSY
    tally = k.tally
    last = tally[TALLY_IDLE] - 1
    if k.idle[last] != replica:
        tally[TALLY_IDLE] = _remove(k.idle, tally[TALLY_IDLE], replica)
    else:
        tally[TALLY_IDLE] = last


@njit(cache=True)
def _stop(k, replica, now):
    _account(k, replica, now)
    k.activity[replica] = STOPPED
    k.stopped_s[replica] = now
    _log_fleet(k, now, replica, STOP)


@njit(cache=True)
def _retire_idle(k, replica, now):
    """`_retire` of an idle container (serverless.py): drain it (it stops once its loop
    wakes, after what is due now) while more than min_replicas are up and nobody waits;
    the idle case of `drain_replica`, on the shared line."""
    tally = k.tally
    if not retires_idle(tally[TALLY_UP], k.min_replicas, k.line_size[0]):
        return
    tally[TALLY_ACCEPTING] = _remove(k.accepting, tally[TALLY_ACCEPTING], replica)
    tally[TALLY_UP] = _remove(k.up, tally[TALLY_UP], replica)
    k.draining[replica] = 1
    _log_fleet(k, now, replica, DRAIN)
    _leave_idle(k, replica)
    if k.continuous:
        k.cut_steps[replica] = 0  # zero steps to finish: straight to admission
    else:
        k.in_service[replica] = -1
    _schedule(k, 1 + 2 * replica, now, False)


@njit(cache=True)
def _on_idle(k, replica, now):
    """A container went idle: retire it now without an idle timeout, else start its
    timer process (which begins, as SimPy's, ahead of what is due now)."""
    if k.idle_timeout_s <= 0:
        _retire_idle(k, replica, now)
        return
    k.timer_since_s[replica] = now
    k.timer_phase[replica] = 1
    _schedule(k, 2 + 2 * replica, now, True)  # urgent


@njit(cache=True)
def _idle_timer(k, replica, now):
    """The timer's process begins (and waits the idle timeout), or its wait ends: the
    container retires if it has stayed idle since."""
    if k.timer_phase[replica] == 1:
        k.timer_phase[replica] = 2
        _schedule(k, 2 + 2 * replica, now + k.idle_timeout_s, False)
        return
    k.timer_phase[replica] = 0
    is_idle = k.activity[replica] == IDLE
    if idle_timer_fires(is_idle, k.idle_since_s[replica], k.timer_since_s[replica]):
        _retire_idle(k, replica, now)


@njit(cache=True)
def _go_idle(k, replica, now):
    """`Replica._idle`: wait for work, oldest idle first in line; a serverless container
    then starts its idle timer (or retires at once without one)."""
    k.activity[replica] = IDLE
    k.idle_since_s[replica] = now
    k.idle[k.tally[TALLY_IDLE]] = replica
    k.tally[TALLY_IDLE] += 1
    if k.serverless:
        _on_idle(k, replica, now)


@njit(cache=True)
def _start_batch(k, replica, request, now):
    """Static (one at a time: a batch of one): take the head and whoever fits behind it,
    up to max_batch and the KV memory, and serve them as one batch
    (`Replica._start_batch`, `service_time.batch_times_s`)."""
    prompt, output = k.prompt, k.output
    line = _line_of(k, replica)
    batch = k.finish_keys[replica]
    _pop(k, line, now)
    batch[0] = request
    reserved = prompt[request] + output[request]
    size = 1
    while batch_open(size, k.max_batch):
        member = _next_admissible(k, replica, now)
        if member < 0 or not kv_fits(reserved, prompt[member] + output[member], k.kv_capacity):
            break
        reserved += prompt[member] + output[member]
        batch[size] = _pop(k, line, now)
        size += 1
    k.activity[replica] = BUSY
    k.running[replica] = size
    k.last_change_s[replica] = now
    if size == 1:
        first_step_s = k.first_s[request]
        batch_s = k.duration_s[request]
    elif k.latency_batches:
        batch_overhead, batch_overhead_at, step_overhead_s = k.stretch
        longest_s = k.latency_s[request]
        for j in range(1, size):
            longest_s = max(longest_s, k.latency_s[batch[j]])
        stretch = 1.0 + batch_overhead * (size - 1) / (batch_overhead_at - 1)
        batch_s = first_step_s = longest_s * stretch + step_overhead_s
    else:
        prompt_sum = 0
        pairs = 0.0  # attention's (query, key) pairs of every prompt's prefill
        longest = 0
        for j in range(size):
            prompt_sum += prompt[batch[j]]
            pairs += prompt[batch[j]] * (prompt[batch[j]] + 1) / 2
            longest = max(longest, output[batch[j]])
        first_step_s = roofline_step_s(k.constants, prompt_sum, 0, 0.0, pairs)
        batch_s = first_step_s + roofline_decode_span_s(
            k.constants, longest - 1, size, prompt_sum + size
        )
    first_token = now + first_step_s
    for j in range(size):
        member = batch[j]
        k.served_by[member] = replica
        k.start_s[member] = now
        k.first_token_s[member] = first_token
    k.in_service[replica] = request
    _schedule(k, 1 + 2 * replica, now + batch_s, False)


@njit(cache=True)
def _start_next_or_idle(k, replica, now):
    """The top of `Replica._serve_static`'s loop: batch, wait to fill, idle or stop."""
    request = _next_admissible(k, replica, now)
    if request < 0:
        if drained(k.draining[replica] != 0, k.running[replica]):
            _stop(k, replica, now)
        else:
            _go_idle(k, replica, now)
        return
    waiting = k.line_size[_line_of(k, replica)]
    wait_s = fill_wait_s(k.max_wait_s, waiting, k.max_batch, k.arrival_s[request], now)
    if wait_s > 0:
        k.activity[replica] = FILLING
        _schedule(k, 1 + 2 * replica, now + wait_s, False)
        return
    _start_batch(k, replica, request, now)


@njit(cache=True)
def _finish_one(k, replica, now):
    """Static: the batch is over; its members complete in the order admitted."""
    _account(k, replica, now)
    size = k.running[replica]
    k.running[replica] = 0
    for j in range(size):
        _end(k, k.finish_keys[replica, j], COMPLETED, now)
    k.in_service[replica] = -1


@njit(cache=True)
def _draw(k):
    """The router's next uniform number (the caller adds more when they may run out)."""
    tally = k.tally
    if tally[TALLY_DRAWS] >= k.draws.shape[0]:
        raise RuntimeError("the router ran out of draws")
    tally[TALLY_DRAWS] += 1
    return k.draws[tally[TALLY_DRAWS] - 1]


@njit(cache=True)
def _choose(k):
    """The replica a new request joins: `rules/routing.py` on the loads, with the draws."""
    tally = k.tally
    accepting = k.accepting
    count = tally[TALLY_ACCEPTING]
    if k.router == ROUND_ROBIN:
        tally[TALLY_TURN] += 1
        return accepting[round_robin_pick(tally[TALLY_TURN], count)]
    if k.router == RANDOM:
        return accepting[random_pick(_draw(k), count)]
    loads = np.empty(count, np.int64)
    for i in range(count):
        loads[i] = k.line_size[accepting[i] + 1] + k.running[accepting[i]]
    best, tied = fewest(loads)
    skip = tie_skip(_draw(k), tied) if tie_needs_draw(tied) else 0
    return accepting[nth_with_load(loads, best, skip)]


# What `_route_to` did with a request besides a replica to wake: it joined a line with
# nobody to wake, or it was dropped or held (no arrival for the serverless scaler).
JOINED, NOT_JOINED = -1, -2


@njit(cache=True)
def _route_to(k, request, now, front):
    """`EngineState.route` up to the wake-up: expiry, the queue cap, the router's choice
    and the line joined; the replica to notify, or JOINED or NOT_JOINED."""
    if k.expires:
        _expire_everywhere(k, now)
    tally = k.tally
    count = tally[TALLY_ACCEPTING]
    if k.router == SHARED_QUEUE:
        if not line_has_room(k.line_size[0], k.max_queue, count):
            _end(k, request, DROPPED, now)
            return NOT_JOINED
        if front:
            _push_front(k, 0, request, now)
        else:
            _push(k, 0, request, now)
        if tally[TALLY_IDLE] > 0:
            return k.idle[tally[TALLY_IDLE] - 1]
        if k.max_batch > 1:
            for i in range(count):
                replica = k.accepting[i]
                activity = k.activity[replica]
                if (activity == DECODING and k.running[replica] < k.max_batch) or (
                    activity == FILLING and starts_now(k.max_wait_s, k.line_size[0], k.max_batch)
                ):
                    return replica
        return JOINED
    if count == 0:
        # Nobody serves yet: wait in one line for whichever replica is ready first.
        if line_has_room(k.line_size[0], k.max_queue, 1):
            _push(k, 0, request, now)
        else:
            _end(k, request, DROPPED, now)
        return NOT_JOINED
    target = _choose(k)
    if not line_has_room(k.line_size[target + 1], k.max_queue, 1):
        _end(k, request, DROPPED, now)
        return NOT_JOINED
    if front:
        _push_front(k, target + 1, request, now)
    else:
        _push(k, target + 1, request, now)
    return target


@njit(cache=True)
def _withdraw(k, replica, now):
    """A replica stops taking work (a drain or a reclaim): it leaves the lists of those
    accepting and up; what waits in its own line goes to `scratch`; how many."""
    tally = k.tally
    tally[TALLY_ACCEPTING] = _remove(k.accepting, tally[TALLY_ACCEPTING], replica)
    tally[TALLY_UP] = _remove(k.up, tally[TALLY_UP], replica)
    return 0 if k.router == SHARED_QUEUE else _take_line(k, replica + 1, now)


@njit(cache=True)
def _reclaim(k, replica, now):
    """`Replica.kill`: the replica dies now; its requests in service go to `casualties`
    (continuous: in heap order, as heapq's list, then the part-way prompt); how many,
    and how many of its line's went to `scratch`."""
    if k.activity[replica] == IDLE:
        k.tally[TALLY_IDLE] = _remove(k.idle, k.tally[TALLY_IDLE], replica)
    requeue = _withdraw(k, replica, now)
    _account(k, replica, now)
    _unschedule(k, 1 + 2 * replica)
    n = k.arrival_s.shape[0]
    casualties = k.casualties
    lost = 0
    if k.continuous:
        for j in range(k.finishing[replica]):
            casualties[j] = k.finish_keys[replica, j] % n  # heap order, as heapq's list
        lost = k.finishing[replica]
        if k.partial[replica] >= 0:  # the prompt part-way through prefill comes last
            casualties[lost] = k.partial[replica]
            lost += 1
            k.partial[replica] = -1
            k.partial_left[replica] = 0
    elif k.in_service[replica] >= 0:
        for j in range(k.running[replica]):
            casualties[j] = k.finish_keys[replica, j]
        lost = k.running[replica]
    k.finishing[replica] = 0
    k.running[replica] = 0
    k.kv_reserved[replica] = 0
    k.in_service[replica] = -1
    k.activity[replica] = STOPPED
    k.stopped_s[replica] = now
    _log_fleet(k, now, replica, INTERRUPT)
    _log_fleet(k, now, replica, STOP)
    return lost, requeue


@njit(cache=True)
def _serve(k, horizon_s, drain_end_s):
    """Arrivals merged with replica events, then to the horizon, then the drain.

    Returns AT_CONTROL when it stops at a control instant (an autoscaler's sync, at
    `k.clock[CLOCK_CONTROL_S]`): the caller decides, sets a command (replicas to
    launch and to drain, the delay to the next control instant) and calls again,
    which applies the command and goes on. Returns MORE_DRAWS when the router may
    run out of draws (the caller adds some and calls again), AT_END at the end.

    The state is unpacked into local arrays that the helpers below close over;
    numba inlines each closure at every call, so what does not need the loop's
    other closures is a top-level function over `k` (above), compiled once.
    """
    # Each field by name: numba reads them once here, and the helpers close over them.
    expires = k.expires
    router = k.router
    continuous = k.continuous
    max_batch = k.max_batch
    kv_capacity = k.kv_capacity
    constants = k.constants
    dynamic = k.dynamic
    token_budget = k.token_budget
    max_wait_s = k.max_wait_s
    serverless = k.serverless
    max_replicas = k.max_replicas
    idle_since_s = k.idle_since_s
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
    deadline_s = k.deadline_s
    draws = k.draws
    start_s = k.start_s
    first_token_s = k.first_token_s
    served_by = k.served_by
    scratch = k.scratch
    line_size = k.line_size
    activity = k.activity
    draining = k.draining
    started_s = k.started_s
    ready_s = k.ready_s
    accepting = k.accepting
    up = k.up
    running = k.running
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
    clock = k.clock
    tally = k.tally
    n = arrival_s.shape[0]
    shared = router == SHARED_QUEUE
    uses_draws = router in (RANDOM, LEAST_LOADED)
    # ---------------------------------------------------------------- events

    def schedule(entity, time_s, urgent=False):
        """`_schedule`. Pass `urgent` by position: numba's inlined closures drop a keyword."""
        _schedule(k, entity, time_s, urgent)

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
        _unschedule(k, entity)

    def log_fleet(time_s, replica, kind):
        _log_fleet(k, time_s, replica, kind)

    # ---------------------------------------------------------------- requests and lines

    def end(request, outcome, time_s):
        _end(k, request, outcome, time_s)

    def line_of(replica):
        return _line_of(k, replica)

    def account_line(line, now):
        _account_line(k, line, now)

    def pop(line, now):
        return _pop(k, line, now)

    def expire(line, now):
        _expire(k, line, now)

    def next_admissible(replica, now):
        return _next_admissible(k, replica, now)

    # ---------------------------------------------------------------- replicas

    def account(replica, now):
        _account(k, replica, now)

    def leave_idle(replica):
        _leave_idle(k, replica)

    # ------------------------------------------------------------ serverless (serverless.py)

    def on_idle(replica, now):
        _on_idle(k, replica, now)

    def idle_timer(replica, now):
        _idle_timer(k, replica, now)

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
        _go_idle(k, replica, now)

    def stop(replica, now):
        _stop(k, replica, now)

    def start_batch(replica, request, now):
        _start_batch(k, replica, request, now)

    def start_next_or_idle(replica, now):
        _start_next_or_idle(k, replica, now)

    def finish_one(replica, now):
        _finish_one(k, replica, now)

    def admit_and_plan(replica, now):
        """Continuous: one step of decodes and prefill chunks within the token budget
        (the part-way prompt first, then newcomers), then, once no prompt is part-way
        and the budget was not used up, decode steps to the next finish."""
        line = line_of(replica)
        count = running[replica]
        chunked = partial[replica]
        decoders = count - 1 if chunked >= 0 else count
        room = token_budget - decoders
        joining = 0
        completing = -1  # the part-way prompt, if this step finishes its prefill
        prefill_tokens = 0
        prefill_pairs = 0.0
        if chunked >= 0:
            done = prompt[chunked] - partial_left[replica]
            chunk = min(partial_left[replica], room)
            prefill_tokens += chunk
            prefill_pairs += (chunk - 1) * done + chunk * (chunk + 1) / 2
            room -= chunk
            partial_left[replica] -= chunk
            if partial_left[replica] == 0:
                completing = chunked
                chunked = -1
        reserved = kv_reserved[replica]
        while room > 0 and count + joining < max_batch:
            request = next_admissible(replica, now)
            if request < 0:
                break
            need = prompt[request] + output[request]
            if reserved + need > kv_capacity:
                break
            pop(line, now)
            reserved += need
            admitted[joining] = request
            joining += 1
            chunk = min(prompt[request], room)
            prefill_tokens += chunk
            prefill_pairs += chunk * (chunk + 1) / 2
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
            first_step_s = roofline_step_s(
                constants, prefill_tokens, decoders, tokens, prefill_pairs
            )
            first_token = now + first_step_s
            prefilled = 0
            for j in range(-1, joining):
                request = completing if j < 0 else admitted[j]
                if j >= 0:
                    served_by[request] = replica
                    start_s[request] = now
                if request < 0 or request == chunked:
                    continue
                prefilled += 1
                first_token_s[request] = first_token
                key = (steps + output[request]) * n + request
                finishing[replica] = _heap_push(finish_keys[replica], finishing[replica], key)
            tokens += decoders + prefill_tokens + prefilled
            count += joining
            running[replica] = count
            steps += 1
        context[replica] = tokens
        steps_done[replica] = steps
        decode_steps = 0  # a prompt part-way, or the budget used up: admit at the next step
        if prefill_tokens == 0 or (chunked < 0 and room > 0):
            decode_steps = finish_keys[replica, 0] // n - steps
        span_s = first_step_s + roofline_decode_span_s(constants, decode_steps, count, tokens)
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
        steps = steps_done[replica] + decode_steps
        steps_done[replica] = steps
        tokens = context[replica] + count * decode_steps
        reserved = kv_reserved[replica]
        while finishing[replica] > 0 and finish_keys[replica, 0] // n <= steps:
            request = _heap_pop(finish_keys[replica], finishing[replica]) % n
            finishing[replica] -= 1
            need = prompt[request] + output[request]
            reserved -= need
            tokens -= need
            count -= 1
            end(request, COMPLETED, now)
        kv_reserved[replica] = reserved
        context[replica] = tokens
        running[replica] = count

    def cut_at_next_step(replica, now):
        """Continuous: end the decode run at the next step boundary, so newcomers join there."""
        first_step_s = plan_first_step_s[replica]
        decode_steps = plan_decode_steps[replica]
        tokens = plan_context[replica]
        elapsed_s = now - plan_start_s[replica]
        count = running[replica]
        if elapsed_s < first_step_s:
            done = 0
        else:
            into_decode_s = elapsed_s - first_step_s
            done = roofline_decode_steps_within(constants, into_decode_s, count, tokens)
            done = min(done + 1, decode_steps)
        if done >= decode_steps:
            return  # the run already ends at the next boundary
        boundary_s = first_step_s + roofline_decode_span_s(constants, done, count, tokens)
        cut_steps[replica] = done
        schedule(1 + 2 * replica, now + max(0.0, boundary_s - elapsed_s))

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
            cut_at_next_step(replica, now)
        elif activity[replica] == FILLING and starts_now(
            max_wait_s, line_size[line_of(replica)], max_batch
        ):
            activity[replica] = BUSY
            schedule(1 + 2 * replica, now)  # the batch is full: stop waiting for more

    # ---------------------------------------------------------------- routing

    def route(request, now, front=False):
        """A request joins a line (waking a replica that can take it), or is dropped."""
        target = _route_to(k, request, now, front)
        if serverless and target != NOT_JOINED:
            scale_for_arrival(now)
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
        requeue = _withdraw(k, replica, now)
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
        """A spot reclaim: the replica dies now (`_reclaim`); what it served is retried at
        the head of a line (or lost), what waited in its own line is routed again
        (`EngineState.kill_replica`)."""
        if activity[replica] == STOPPED:
            return
        lost, requeue = _reclaim(k, replica, now)
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
    lifecycle,
    routing,
    static_batch,
    line_rules,
):
    drop_stale_kernel_cache(Path(__file__).parent / "__pycache__", Path(_dependency.__file__))
