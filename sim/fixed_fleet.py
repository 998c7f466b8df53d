"""A fixed fleet run as one compiled event loop: the SimPy engine's results, far faster.

When nothing changes the fleet during a run (the `fixed` policy, no spot market,
every replica warm at t = 0) and replicas serve one request at a time or batch
continuously on the roofline, every event is a replica finishing work,
reaching a step boundary (or waking from idle, which continuous batching does as
an event, as SimPy does). This kernel keeps each replica's one pending event in
a heap ordered by (time, order scheduled), as SimPy orders its queue, and applies
the rules of `replica.py` and `engine_state.py` in the same order, so it
reproduces the SimPy engine's request log exactly (`tests/test_fixed_fleet.py`
runs both on the same draws). Compiled by numba, it runs over a million
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

from sim import service_time
from sim.billing import ReplicaLifetime
from sim.engine_outcome import FLEET_COUNTERS, EngineOutcome, FleetEvent
from sim.errors import CapsimError
from sim.fleet import initial_markets, uses_spot
from sim.request_log import COMPLETED, DROPPED, PENDING, TIMED_OUT, RequestLog
from sim.router import uniform_draws
from sim.scenario import Scenario
from sim.service_time import (
    LatencyModel,
    RooflineModel,
    ServiceModel,
    roofline_alone_times_s,
    roofline_decode_span_s,
    roofline_decode_steps_within,
    roofline_step_s,
)
from sim.traffic import RequestChunk

# Replica activity, as in `replica.py`.
IDLE = 0  # ready, nothing to do
BUSY = 1  # in a step or request that nobody can join
DECODING = 2  # in a run of decode steps that a new request may join at the next step

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


def runs_as_fixed_fleet(scenario: Scenario) -> bool:
    """True if the kernel can run the scenario: a fixed fleet, no spot, no static
    batches, and a router and service model the kernel knows.

    Everything else runs on the SimPy engine, which is where a new router, batching
    policy or service model goes first. (Validation already ensures a fixed fleet
    has a replica and continuous batching a roofline.)
    """
    return (
        scenario.autoscaling.policy == "fixed"
        and not uses_spot(scenario)
        and scenario.batching.policy in ("none", "continuous")
        and scenario.fleet.router in ROUTERS
        and scenario.service.model in ("latency", "roofline")
    )


def run_fixed_fleet(
    scenario: Scenario,
    service: ServiceModel,
    requests: RequestChunk,
    latency_s: np.ndarray | None,
    patience_s: np.ndarray | None,
    routing_rng: np.random.Generator,
    drain_end_s: float,
) -> EngineOutcome:
    """Serve `requests` on the scenario's fixed fleet; stop as `simulation.simulate` does.

    After the last arrival the run goes on to the horizon, then until every
    request is resolved or `drain_end_s`.
    """
    arrival_s = np.ascontiguousarray(requests.arrival_s, dtype=np.float64)
    prompt = np.ascontiguousarray(requests.prompt_tokens, dtype=np.int64)
    output = np.ascontiguousarray(requests.output_tokens, dtype=np.int64)
    n = len(arrival_s)
    continuous = scenario.batching.policy == "continuous"
    constants = (0.0, 0.0, 0.0, 0.0)
    kv_capacity = math.inf
    if isinstance(service, RooflineModel):
        constants = service.constants
        kv_capacity = float(service.kv_capacity_tokens)
    if continuous:
        first_s = duration_s = np.empty(0)
    elif isinstance(service, LatencyModel):
        duration_s = first_s = service.alone_s(np.asarray(latency_s, dtype=np.float64))
    else:
        first_s, duration_s = _alone_times_s(constants, prompt, output)
    expires = patience_s is not None
    deadline_s = arrival_s + patience_s if expires else np.empty(0)
    router = ROUTERS[scenario.fleet.router]
    draws = uniform_draws(routing_rng, n) if router in (RANDOM, LEAST_LOADED) else np.empty(0)
    max_queue = scenario.admission.max_queue
    replicas = scenario.fleet.replicas
    if max_queue is None:
        queue_limit = -1
    else:
        # A limit no line can reach is no limit; clamped, it fits the kernel's int64.
        queue_limit = min(max_queue * (replicas if router == SHARED_QUEUE else 1), 2**62)
    max_batch = scenario.batching.max_batch if continuous else 1
    if continuous:
        _check_finish_keys_fit(service, n, int(output.max(initial=0)), drain_end_s)
    k = _new_kernel(
        arrival_s,
        prompt,
        output,
        first_s,
        duration_s,
        deadline_s,
        draws,
        settings={
            "expires": expires,
            "replicas": replicas,
            "router": router,
            "queue_limit": queue_limit,
            "continuous": continuous,
            "max_batch": max_batch,
            "kv_capacity": kv_capacity,
            "constants": constants,
        },
    )
    end_s = float(_serve(k, float(scenario.horizon), float(drain_end_s)))
    log = RequestLog(
        arrival_s=arrival_s,
        start_s=k.start_s,
        first_token_s=k.first_token_s,
        finish_s=k.finish_s,
        status=k.status,
        retries=np.zeros(n, dtype=np.int16),
        replica=k.served_by,
    )
    markets = initial_markets(scenario)
    return EngineOutcome(
        log=log,
        prompt_tokens=prompt,
        output_tokens=output,
        lifetimes=[
            ReplicaLifetime(market, 0.0, None, float(busy))
            for market, busy in zip(markets, k.busy_s, strict=True)
        ],
        ready_s=[0.0] * replicas,
        running_area=float(sum(k.running_area.tolist())),
        queue_area=_queue_area(log, end_s),
        fleet_events=[FleetEvent(0.0, r, "start") for r in range(replicas)]
        + [FleetEvent(0.0, r, "ready") for r in range(replicas)],
        counters=dict.fromkeys(FLEET_COUNTERS, 0),
        end_s=end_s,
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
            "on one replica, more than the fixed-fleet kernel can count; shorten the horizon"
        )


def _queue_area(log: RequestLog, end_s: float) -> float:
    """The time integral of requests waiting, as the sum of each request's time in line.

    A request waits from arrival until admission, its deadline (timed out), its
    refusal (dropped: at once if the line was full) or the end of the run.
    """
    started = ~np.isnan(log.start_s)
    left_s = np.where(started, log.start_s, np.where(log.status == PENDING, end_s, log.finish_s))
    return float(np.sum(left_s - log.arrival_s))


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
    """The event loop's state: settings, then arrays the compiled functions share."""

    # settings
    expires: bool
    replicas: int
    router: int
    queue_limit: int  # -1: unbounded
    continuous: bool
    max_batch: int
    kv_capacity: float
    constants: tuple[float, float, float, float]  # RooflineModel.constants
    # requests
    arrival_s: np.ndarray
    prompt: np.ndarray
    output: np.ndarray
    first_s: np.ndarray  # one at a time: time to first token, alone
    duration_s: np.ndarray  # one at a time: end-to-end time, alone
    deadline_s: np.ndarray
    draws: np.ndarray  # uniform numbers for the router, in the order it uses them
    start_s: np.ndarray
    first_token_s: np.ndarray
    finish_s: np.ndarray
    status: np.ndarray
    served_by: np.ndarray
    # FIFO lines as linked lists through `next_in_line`: one shared, or one per replica
    next_in_line: np.ndarray
    line_head: np.ndarray
    line_tail: np.ndarray
    line_size: np.ndarray
    # replicas
    activity: np.ndarray
    idle: np.ndarray  # ready replicas waiting for work, idle last at the end
    running: np.ndarray
    busy_s: np.ndarray
    running_area: np.ndarray
    last_change_s: np.ndarray
    in_service: np.ndarray  # one at a time: the request served
    # continuous batching: KV reserved, steps run, context held, finishes, the plan
    kv_reserved: np.ndarray
    steps_done: np.ndarray
    context: np.ndarray
    # (replica, slot): a min-heap per replica of finish step x n + request, which orders
    # like (step, request) while it stays below 2**63 (see `_check_finish_keys_fit`)
    finish_keys: np.ndarray
    finishing: np.ndarray
    plan_start_s: np.ndarray
    plan_first_step_s: np.ndarray
    plan_decode_steps: np.ndarray
    plan_context: np.ndarray
    cut_steps: np.ndarray  # -1: the plan runs to its end
    admitted: np.ndarray
    # each replica's next event, in a heap indexed by replica, ordered by (time, order)
    event_s: np.ndarray
    event_order: np.ndarray
    event_heap: np.ndarray
    event_slot: np.ndarray  # -1: no event pending
    tally: np.ndarray  # see the TALLY_ indices


# Counters in `Kernel.tally`.
TALLY_IDLE, TALLY_RESOLVED, TALLY_SCHEDULED, TALLY_DRAWS, TALLY_TURN, TALLY_EVENTS = range(6)


def _new_kernel(
    arrival_s: np.ndarray,
    prompt: np.ndarray,
    output: np.ndarray,
    first_s: np.ndarray,
    duration_s: np.ndarray,
    deadline_s: np.ndarray,
    draws: np.ndarray,
    settings: dict,
) -> Kernel:
    """A kernel for these requests and settings (the Kernel's first eight fields),
    every replica idle at t = 0."""
    n = len(arrival_s)
    replicas, max_batch = settings["replicas"], settings["max_batch"]
    lines = 1 if settings["router"] == SHARED_QUEUE else replicas
    tally = np.zeros(6, np.int64)
    tally[TALLY_IDLE] = replicas
    return Kernel(
        **settings,
        arrival_s=arrival_s,
        prompt=prompt,
        output=output,
        first_s=np.ascontiguousarray(first_s, dtype=np.float64),
        duration_s=np.ascontiguousarray(duration_s, dtype=np.float64),
        deadline_s=np.ascontiguousarray(deadline_s, dtype=np.float64),
        draws=draws,
        start_s=np.full(n, np.nan),
        first_token_s=np.full(n, np.nan),
        finish_s=np.full(n, np.nan),
        status=np.zeros(n, np.int8),  # PENDING
        served_by=np.full(n, -1, np.int32),
        next_in_line=np.full(n, -1, np.int64),
        line_head=np.full(lines, -1, np.int64),
        line_tail=np.full(lines, -1, np.int64),
        line_size=np.zeros(lines, np.int64),
        activity=np.zeros(replicas, np.int64),  # IDLE
        idle=np.arange(replicas, dtype=np.int64),
        running=np.zeros(replicas, np.int64),
        busy_s=np.zeros(replicas),
        running_area=np.zeros(replicas),
        last_change_s=np.zeros(replicas),
        in_service=np.full(replicas, -1, np.int64),
        kv_reserved=np.zeros(replicas, np.int64),
        steps_done=np.zeros(replicas, np.int64),
        context=np.zeros(replicas, np.int64),
        finish_keys=np.zeros((replicas, max_batch), np.int64),
        finishing=np.zeros(replicas, np.int64),
        plan_start_s=np.zeros(replicas),
        plan_first_step_s=np.zeros(replicas),
        plan_decode_steps=np.zeros(replicas, np.int64),
        plan_context=np.zeros(replicas, np.int64),
        cut_steps=np.full(replicas, -1, np.int64),
        admitted=np.zeros(max_batch, np.int64),
        event_s=np.zeros(replicas),
        event_order=np.zeros(replicas, np.int64),
        event_heap=np.zeros(replicas, np.int64),
        event_slot=np.full(replicas, -1, np.int64),
        tally=tally,
    )


@njit(cache=True)
def _sift_event(event_s, event_order, event_heap, event_slot, size, slot):
    """Move the replica at `slot` of the event heap up or down to where its event belongs.

    Events are ordered by time, then by the order they were scheduled in.
    """
    replica = event_heap[slot]
    time_s, order = event_s[replica], event_order[replica]
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
    event_heap[slot] = replica
    event_slot[replica] = slot


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
    """Remove and return the least key of the min-heap in heap[:size]."""
    top = heap[0]
    size -= 1
    key = heap[size]
    at = 0
    while 2 * at + 1 < size:
        child = 2 * at + 1
        if child + 1 < size and heap[child + 1] < heap[child]:
            child += 1
        if key <= heap[child]:
            break
        heap[at] = heap[child]
        at = child
    heap[at] = key
    return top


# Stages of a run: arrivals, then on to the horizon, then the drain.
ARRIVING, TO_HORIZON, DRAINING = 0, 1, 2


@njit(cache=True)
def _serve(k, horizon_s, drain_end_s):
    """Arrivals merged with replica events, then to the horizon, then the drain; the end time.

    The state is unpacked into local arrays that the helpers below close over;
    numba inlines each helper where it is called, and each big one is called from
    one place, so the compiled kernel stays small (about 12 s to compile, once).
    """
    # Each field by name: numba reads them once here, and the helpers close over them.
    expires = k.expires
    replicas = k.replicas
    router = k.router
    queue_limit = k.queue_limit
    continuous = k.continuous
    max_batch = k.max_batch
    kv_capacity = k.kv_capacity
    constants = k.constants
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
    line_head = k.line_head
    line_tail = k.line_tail
    line_size = k.line_size
    activity = k.activity
    idle = k.idle
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
    admitted = k.admitted
    event_s = k.event_s
    event_order = k.event_order
    event_heap = k.event_heap
    event_slot = k.event_slot
    tally = k.tally
    n = arrival_s.shape[0]
    # ---------------------------------------------------------------- events

    def schedule(replica, time_s):
        """Wake `replica` at `time_s`, in place of any event it had pending."""
        tally[TALLY_SCHEDULED] += 1
        event_s[replica] = time_s
        event_order[replica] = tally[TALLY_SCHEDULED]
        slot = event_slot[replica]
        if slot < 0:
            slot = tally[TALLY_EVENTS]
            tally[TALLY_EVENTS] += 1
            event_heap[slot] = replica
        _sift_event(event_s, event_order, event_heap, event_slot, tally[TALLY_EVENTS], slot)

    def pop_event():
        """Remove and return the replica whose event is next."""
        heap = event_heap
        replica = heap[0]
        event_slot[replica] = -1
        tally[TALLY_EVENTS] -= 1
        size = tally[TALLY_EVENTS]
        if size > 0:
            heap[0] = heap[size]
            _sift_event(event_s, event_order, event_heap, event_slot, size, 0)
        return replica

    # ---------------------------------------------------------------- requests and lines

    def end(request, outcome, time_s):
        status[request] = outcome
        finish_s[request] = time_s
        tally[TALLY_RESOLVED] += 1

    def line_of(replica):
        return 0 if router == SHARED_QUEUE else replica

    def push(line, request):
        if line_size[line] == 0:
            line_head[line] = request
        else:
            next_in_line[line_tail[line]] = request
        line_tail[line] = request
        line_size[line] += 1

    def pop(line):
        request = line_head[line]
        line_head[line] = next_in_line[request]
        line_size[line] -= 1
        return request

    def expire(line, now):
        """Clients at the head of the line who gave up leave it, at their deadlines."""
        while line_size[line] > 0 and deadline_s[line_head[line]] < now:
            request = pop(line)
            end(request, TIMED_OUT, deadline_s[request])

    def next_admissible(line, now):
        """The head once timed-out clients and contexts that never fit are gone; -1: none."""
        if expires:
            expire(line, now)
        while line_size[line] > 0:
            request = line_head[line]
            if prompt[request] + output[request] <= kv_capacity:
                return request
            pop(line)
            end(request, DROPPED, now)
        return -1

    # ---------------------------------------------------------------- replicas

    def account(replica, now):
        count = running[replica]
        if count:
            span_s = now - last_change_s[replica]
            busy_s[replica] += span_s
            running_area[replica] += count * span_s
        last_change_s[replica] = now

    def go_idle(replica):
        activity[replica] = IDLE
        idle[tally[TALLY_IDLE]] = replica
        tally[TALLY_IDLE] += 1

    def leave_idle(replica):
        activity[replica] = BUSY
        last = tally[TALLY_IDLE] - 1
        if idle[last] != replica:
            at = 0
            while idle[at] != replica:
                at += 1
            idle[at:last] = idle[at + 1 : last + 1].copy()
        tally[TALLY_IDLE] = last

    def start_one(replica, request, now):
        """One at a time: take the head of the line and serve it alone."""
        pop(line_of(replica))
        activity[replica] = BUSY
        running[replica] = 1
        last_change_s[replica] = now
        served_by[request] = replica
        start_s[request] = now
        first_token_s[request] = now + first_s[request]
        in_service[replica] = request
        schedule(replica, now + duration_s[request])

    def start_next_or_idle(replica, now):
        request = next_admissible(line_of(replica), now)
        if request < 0:
            go_idle(replica)
        else:
            start_one(replica, request, now)

    def finish_one(replica, now):
        account(replica, now)
        running[replica] = 0
        end(in_service[replica], COMPLETED, now)
        start_next_or_idle(replica, now)

    def admit_and_plan(replica, now):
        """Continuous: admit what fits at this step boundary, then run to the next finish."""
        line = line_of(replica)
        count = running[replica]
        joining = 0
        prefill_tokens = 0
        reserved = kv_reserved[replica]
        while count + joining < max_batch:
            request = next_admissible(line, now)
            if request < 0:
                break
            need = prompt[request] + output[request]
            if reserved + need > kv_capacity:
                break
            pop(line)
            reserved += need
            admitted[joining] = request
            joining += 1
            prefill_tokens += prompt[request]
        kv_reserved[replica] = reserved
        if joining == 0 and count == 0:
            go_idle(replica)
            return
        account(replica, now)
        tokens = context[replica]
        steps = steps_done[replica]
        first_step_s = 0.0
        if joining:
            first_step_s = roofline_step_s(constants, prefill_tokens, count, tokens)
            tokens += count + prefill_tokens + joining
            first_token = now + first_step_s
            for j in range(joining):
                request = admitted[j]
                served_by[request] = replica
                start_s[request] = now
                first_token_s[request] = first_token
                key = (steps + output[request]) * n + request
                finishing[replica] = _heap_push(finish_keys[replica], finishing[replica], key)
            count += joining
            running[replica] = count
            steps += 1
        context[replica] = tokens
        steps_done[replica] = steps
        decode_steps = finish_keys[replica, 0] // n - steps
        span_s = first_step_s + roofline_decode_span_s(constants, decode_steps, count, tokens)
        plan_start_s[replica] = now
        plan_first_step_s[replica] = first_step_s
        plan_decode_steps[replica] = decode_steps
        plan_context[replica] = tokens
        cut_steps[replica] = -1
        activity[replica] = DECODING if count < max_batch else BUSY
        schedule(replica, now + span_s)

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
        admit_and_plan(replica, now)

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
        schedule(replica, now + max(0.0, boundary_s - elapsed_s))

    def wake(replica, now):
        """The replica's event: its request finished, or its steps reached the planned point."""
        if continuous:
            finish_steps(replica, now)
        else:
            finish_one(replica, now)

    def notify(replica, now):
        """Work arrived: an idle replica starts; a decode run stops at the next step to admit it."""
        if activity[replica] == IDLE:
            leave_idle(replica)
            if continuous:
                # Resume at `now`, after what is already due then, as SimPy's wake event
                # does; zero steps to finish, so the wake goes straight to admission.
                cut_steps[replica] = 0
                schedule(replica, now)
            else:
                start_next_or_idle(replica, now)
        elif activity[replica] == DECODING:
            activity[replica] = BUSY
            cut_at_next_step(replica, now)

    # ---------------------------------------------------------------- routing

    def choose():
        """The replica a new request joins: the rules of `router.py`, on the same draws."""
        if router == ROUND_ROBIN:
            tally[TALLY_TURN] += 1
            return tally[TALLY_TURN] % replicas
        if router == RANDOM:
            tally[TALLY_DRAWS] += 1
            return int(draws[tally[TALLY_DRAWS] - 1] * replicas)
        best = line_size[0] + running[0]
        tied = 1
        for replica in range(1, replicas):
            load = line_size[replica] + running[replica]
            if load < best:
                best = load
                tied = 1
            elif load == best:
                tied += 1
        skip = 0
        if tied > 1:
            tally[TALLY_DRAWS] += 1
            skip = int(draws[tally[TALLY_DRAWS] - 1] * tied)
        for replica in range(replicas):
            if line_size[replica] + running[replica] == best:
                if skip == 0:
                    return replica
                skip -= 1
        return -1

    def route(request, now):
        """A new request joins a line (waking a replica that can take it), or is dropped."""
        if expires:
            for line in range(line_size.shape[0]):
                expire(line, now)
        target = -1
        if router == SHARED_QUEUE:
            if 0 <= queue_limit <= line_size[0]:
                end(request, DROPPED, now)
                return
            push(0, request)
            if tally[TALLY_IDLE] > 0:
                target = idle[tally[TALLY_IDLE] - 1]
            elif max_batch > 1:
                for replica in range(replicas):
                    if activity[replica] == DECODING and running[replica] < max_batch:
                        target = replica
                        break
        else:
            target = choose()
            if 0 <= queue_limit <= line_size[target]:
                end(request, DROPPED, now)
                return
            push(target, request)
        if target >= 0:
            notify(target, now)

    # ------------------------------------------------------------ the run
    stage = ARRIVING
    request = 0
    now = 0.0
    limit_s = 0.0
    inclusive = True  # fire events at exactly limit_s too
    # The drain ends as SimPy's run(until=any_of([timeout, ...])) does. At the limit
    # the timeout fires after the events scheduled before the drain began; the
    # condition it triggers then fires after every event scheduled by that moment,
    # and the run stops. Events scheduled later, even for that instant, never fire.
    drain_order = 0  # the last order scheduled before the drain's timeout
    stop_order = -1  # the last order scheduled before its condition; -1: not yet
    while True:
        if stage == ARRIVING:
            if request < n:
                limit_s = arrival_s[request]
            else:
                stage = TO_HORIZON
                now = arrival_s[n - 1] if n > 0 else 0.0
                limit_s = -math.inf
                if now < horizon_s:
                    # SimPy's run(until=...) stops at now + (until - now), before events then.
                    now += horizon_s - now
                    limit_s = now
                    inclusive = False
        if tally[TALLY_EVENTS] > 0:
            next_replica = event_heap[0]
            time_s = event_s[next_replica]
            due = time_s < limit_s or (inclusive and time_s == limit_s)
            if due and stage == DRAINING and time_s == limit_s:
                if event_order[next_replica] > drain_order and stop_order < 0:
                    stop_order = tally[TALLY_SCHEDULED]  # the drain's timeout fires now
                due = stop_order < 0 or event_order[next_replica] <= stop_order
            if due:
                wake(pop_event(), time_s)
                if stage == DRAINING and tally[TALLY_RESOLVED] == n:
                    now = time_s
                    break
                continue
        if stage == ARRIVING:
            route(request, limit_s)
            request += 1
        elif stage == TO_HORIZON and tally[TALLY_RESOLVED] < n:
            stage = DRAINING
            now += drain_end_s - now
            limit_s = now
            inclusive = True
            drain_order = tally[TALLY_SCHEDULED]
        else:
            break
    if expires:
        for line in range(line_size.shape[0]):
            expire(line, now)
    for replica in range(replicas):
        account(replica, now)
    return now


drop_stale_kernel_cache(Path(__file__).parent / "__pycache__", Path(service_time.__file__))
