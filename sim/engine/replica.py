"""A GPU replica: one model instance as a SimPy process that admits, batches and serves.

Requests are indices into the replication's arrays, never processes. A replica
yields one event per batch (static) or per change of its running set
(continuous): decode steps that admit or finish nobody are summed into one
timeout. A request holds its batch slot and its KV memory from admission to its
last token.
"""

from __future__ import annotations

import heapq
import math
from typing import TYPE_CHECKING

import simpy

from sim.engine.request_log import COMPLETED, DROPPED
from sim.engine.rules.books import accrue, accrue_busy
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
from sim.engine.rules.lifecycle import drained
from sim.engine.rules.static_batch import (
    add_member,
    batch_open,
    fill_wait_s,
    latency_batch_s,
    roofline_batch_times_s,
    starts_now,
)
from sim.engine.service_time import LatencyModel, RooflineModel
from sim.scenario.plugins import BATCHING

if TYPE_CHECKING:
    from sim.engine.state import EngineState
    from sim.engine.waiting_line import WaitingLine

# Replica lifecycle and activity states.
STARTING = "starting"  # cold start: billed, serves nothing
IDLE = "idle"  # ready, nothing to do
BUSY = "busy"  # in a step or batch that nobody can join
DECODING = "decoding"  # in a run of decode steps that a new request may join
FILLING = "filling"  # static batching: waiting up to max_wait for a fuller batch
STOPPED = "stopped"


class Replica:
    """One model instance on `gpus_per_replica` GPUs."""

    def __init__(self, state: EngineState, index: int, line: WaitingLine, market: str) -> None:
        self.state_of_engine = state
        self.env: simpy.Environment = state.env
        self.index = index
        self.market = market  # on-demand, spot, reserved or serverless: how it is billed
        self.line = line
        self.status = STARTING
        self.draining = False  # told to stop: finishes what it holds, takes nothing new
        self.running = 0  # requests admitted and not finished
        self.kv_reserved_tokens = 0
        self.started_s = self.env.now
        self.ready_s: float | None = None
        self.stopped_s: float | None = None
        self.idle_since_s = self.env.now
        self.busy_s = 0.0  # time with at least one request in service
        self.running_area = 0.0  # integral of `running` over time
        self._last_change_s = self.env.now
        self._wake: simpy.Event | None = None
        self._plan: tuple[float, float, int, int] = (0.0, 0.0, 0, 0)
        self._cut_decode_steps: int | None = None
        self._batch: list[int] = []  # static batching: the batch in service
        self._static = not (
            isinstance(state.service, RooflineModel)
            and BATCHING[state.batching.policy].per_token_steps
        )
        self._finishing: list[tuple[int, int]] = []  # continuous: (finish step, request) heap
        self._partial: int | None = None  # continuous: the prompt part-way through prefill
        self._partial_left = 0  # its prompt tokens still to prefill
        self.process: simpy.Process | None = None
        self._waiting_on: simpy.Event | None = None  # what the serve loop waits for

    # ----------------------------------------------------------- lifecycle

    def start(self, cold_start_s: float) -> None:
        """Begin the cold start; serve once it is over."""
        serve = self._serve_static if self._static else self._serve_continuous
        self.process = self.env.process(serve(cold_start_s))

    def _warm_up(self, cold_start_s: float):
        """The cold start, then join the fleet (the first steps of every serve loop)."""
        if cold_start_s > 0:
            yield self._wait(self.env.timeout(cold_start_s))
        self.ready_s = self.env.now
        # Requests held while nobody served are routed now; this replica takes its
        # share from its line as soon as its serve loop starts.
        self.state_of_engine.replica_ready(self)
        self.status = BUSY

    def notify(self) -> bool:
        """Work arrived: wake if idle, or rejoin a decode run at the next step. True if woken."""
        if self.status == IDLE:
            self.status = BUSY
            idle = self.state_of_engine.idle_replicas
            if idle[-1] is self:
                idle.pop()  # the usual case: the router wakes the replica idle last
            else:
                idle.remove(self)
            if self._static and not self.draining and self._can_start_batch_now():
                # Start now and sleep to the batch's end: one event instead of two.
                self._retarget(self._start_batch(self.env.now))
            else:
                self._wake.succeed()
            return True
        if self.status == DECODING:
            self.status = BUSY
            self._cut_plan_at_next_step()
            return True
        if self.status == FILLING and len(self.line) >= self.state_of_engine.max_batch:
            self.status = BUSY
            self._retarget(0.0)  # the batch is full: stop waiting for more
            return True
        return False

    def can_take_more(self) -> bool:
        """Would new work start here soon: idle, a decode run with a free slot, or a
        static batch waiting to fill whose line now holds a full batch."""
        max_batch = self.state_of_engine.max_batch
        return (
            self.status == IDLE
            or (self.status == DECODING and self.running < max_batch)
            or (self.status == FILLING and self.line.size >= max_batch)
        )

    def _idle(self):
        self.status = IDLE
        self._wake = self.env.event()
        self.idle_since_s = self.env.now
        state = self.state_of_engine
        state.idle_replicas.append(self)
        if state.on_idle is not None:
            state.on_idle(self)
        yield self._wait(self._wake)

    def _wait(self, event: simpy.Event) -> simpy.Event:
        """The event the serve loop yields next, remembered so it can be retargeted."""
        self._waiting_on = event
        return event

    def _retarget(self, delay_s: float) -> None:
        """Resume the serve loop `delay_s` from now instead of when its event fires."""
        self._waiting_on = self.env.retarget(self._waiting_on, delay_s)

    def _account(self) -> None:
        now = self.env.now
        if self.running:
            self.busy_s, self.running_area = accrue_busy(
                self.busy_s, self.running_area, self.running, self._last_change_s, now
            )
        self._last_change_s = now

    # ----------------------------------------------------------- admission

    def _next_admissible(self, now: float) -> int | None:
        """The next waiting request that has not timed out (left in the line), or None."""
        if self.draining:
            return None
        line = self.line
        state = self.state_of_engine
        if state.expires:
            state.expire(line)
        capacity = state.kv_capacity_tokens
        while line.size:
            request = line.head()
            if capacity == math.inf:
                return request  # every context fits (a given per-request latency)
            if not never_fits(state.prompt_tokens[request], state.output_tokens[request], capacity):
                return request
            line.pop(now)  # its context can never fit in this replica's KV memory
            state.end_request(request, DROPPED, now)
        return None

    # ----------------------------------------------------------- static / none

    def _serve_static(self, cold_start_s: float):
        """Take up to max_batch waiting requests, run them as one batch, repeat.

        An idle replica that is handed work starts its batch at once from `notify`
        and sleeps to the batch's end, so a request that finds it idle costs one
        event, not two.
        """
        env = self.env
        max_batch = self.state_of_engine.max_batch
        max_wait_s = self.state_of_engine.batching.max_wait
        arrival = self.state_of_engine.arrival_s
        timeout = env.timeout
        yield from self._warm_up(cold_start_s)
        while True:
            if self._batch:
                self._finish_batch()
            now = env.now
            head = self._next_admissible(now)
            if head is None:
                if drained(self.draining, self.running):
                    return self._stop()
                yield from self._idle()
                continue
            wait_s = fill_wait_s(max_wait_s, self.line.size, max_batch, arrival[head], now)
            if wait_s > 0:
                self.status = FILLING
                yield self._wait(timeout(wait_s))  # or less, if it fills
                continue
            yield self._wait(timeout(self._start_batch(now)))

    def _can_start_batch_now(self) -> bool:
        """A static batch may start: someone waits, and no fuller batch is worth waiting for."""
        state = self.state_of_engine
        if self._next_admissible(self.env.now) is None:
            return False
        return starts_now(state.batching.max_wait, self.line.size, state.max_batch)

    def _start_batch(self, now: float) -> float:
        """Admit up to max_batch waiting requests as one batch; return its duration."""
        state = self.state_of_engine
        line = self.line
        capacity = state.kv_capacity_tokens
        prompt, output = state.prompt_tokens, state.output_tokens
        batch = self._batch = [line.pop(now)]
        reserved = kv_need_tokens(prompt[batch[0]], output[batch[0]])
        while batch_open(len(batch), state.max_batch):
            request = self._next_admissible(now)
            if request is None:
                break
            need = kv_need_tokens(prompt[request], output[request])
            if not kv_fits(reserved, need, capacity):
                break  # a static batch holds every member's whole context until it ends
            reserved += need
            batch.append(line.pop(now))
        self.status = BUSY
        self.running = len(batch)
        self._last_change_s = now
        first_s, duration_s = self._batch_times_s(batch)
        first_token = now + first_s
        for request in batch:
            state.served_by[request] = self.index
            state.start_s[request] = now
            state.first_token_s[request] = first_token
        return duration_s

    def _batch_times_s(self, batch: list[int]) -> tuple[float, float]:
        """(time to first token, duration) of a static batch run as one unit."""
        state = self.state_of_engine
        service = state.service
        latency_s = state.workload.latency_s
        if isinstance(service, LatencyModel):
            if len(batch) == 1:
                duration_s = service.alone_s(latency_s[batch[0]])
            else:
                duration_s = latency_batch_s(
                    max(latency_s[r] for r in batch),
                    len(batch),
                    service.batch_overhead,
                    float(service.batch_overhead_at),
                    service.step_overhead_s,
                )
            return duration_s, duration_s
        prompt, output = state.prompt_tokens, state.output_tokens
        if len(batch) == 1:
            return service.alone_times_s(prompt[batch[0]], output[batch[0]])
        prompt_sum, pairs, longest = 0, 0.0, 0
        for request in batch:
            prompt_sum, pairs, longest = add_member(
                prompt_sum, pairs, longest, prompt[request], output[request]
            )
        return roofline_batch_times_s(service.constants, prompt_sum, pairs, longest, len(batch))

    def _finish_batch(self) -> None:
        self._account()
        self.running = 0
        batch, self._batch = self._batch, []
        state = self.state_of_engine
        now = self.env.now
        for request in batch:
            state.end_request(request, COMPLETED, now)

    # ----------------------------------------------------------- continuous

    def _serve_continuous(self, cold_start_s: float):
        """Iteration-level batching: admit at step boundaries, run decode steps in between.

        Each pass admits what fits, then plans one prefill step (if anyone was
        admitted) and the decode steps up to the next finish, as one timeout. A
        request that arrives meanwhile cuts the plan at the next step boundary
        (see `notify`), where it is admitted. The rules are `rules/continuous.py`'s,
        the compiled loop's own.
        """
        env = self.env
        timeout = env.timeout
        state = self.state_of_engine
        end_request = state.end_request
        model: RooflineModel = state.service
        constants = model.constants
        max_batch = state.max_batch
        kv_capacity = float(model.kv_capacity_tokens)
        prompt = state.prompt_tokens
        output = state.output_tokens
        start_s = state.start_s
        first_token_s = state.first_token_s
        served_by = state.served_by
        line = self.line
        finishing = self._finishing  # (step count at which it finishes, request)
        heappush, heappop = heapq.heappush, heapq.heappop
        steps = 0  # steps completed
        context_tokens = 0  # sum over running requests of prompt + generated tokens
        yield from self._warm_up(cold_start_s)
        budget = model.token_budget
        while True:
            now = env.now
            admitted = []
            completing = None  # the part-way prompt, if this step finishes its prefill
            chunked = self._partial
            decoders = self.running - 1 if chunked is not None else self.running
            room = step_room_tokens(budget, decoders)
            prefill_tokens = 0
            prefill_pairs = 0.0
            if chunked is not None:
                chunk, pairs = partial_chunk(prompt[chunked], self._partial_left, room)
                prefill_tokens += chunk
                prefill_pairs += pairs
                room -= chunk
                self._partial_left -= chunk
                if self._partial_left == 0:
                    completing, chunked = chunked, None
            while may_admit(room, self.running + len(admitted), max_batch):
                request = self._next_admissible(now)
                if request is None:
                    break
                need = kv_need_tokens(prompt[request], output[request])
                if not kv_fits(self.kv_reserved_tokens, need, kv_capacity):
                    break
                line.pop(now)
                self.kv_reserved_tokens += need
                admitted.append(request)
                chunk, pairs = newcomer_chunk(prompt[request], room)
                prefill_tokens += chunk
                prefill_pairs += pairs
                room -= chunk
                if chunk < prompt[request]:
                    chunked = request
                    self._partial_left = prompt[request] - chunk
                    break
            self._partial = chunked
            running = self.running
            if not admitted and not running:
                if self.draining:
                    return self._stop()
                yield from self._idle()
                continue
            self._account()
            first_step_s = 0.0
            if prefill_tokens:
                prefilled = prompts_prefilled(
                    completing is not None, len(admitted), chunked in admitted
                )
                first_step_s, context_tokens = prefill_step(
                    constants, prefill_tokens, prefill_pairs, decoders, context_tokens, prefilled
                )
                first_token = now + first_step_s
                index = self.index
                if completing is not None:
                    first_token_s[completing] = first_token
                    heappush(finishing, (finish_step(steps, output[completing]), completing))
                for request in admitted:
                    served_by[request] = index
                    start_s[request] = now
                    if request == chunked:
                        continue
                    first_token_s[request] = first_token
                    heappush(finishing, (finish_step(steps, output[request]), request))
                running = self.running = running + len(admitted)
                steps += 1
            next_finish = finishing[0][0] if finishing else steps
            decode_steps = decode_steps_planned(
                prefill_tokens, -1 if chunked is None else chunked, room, next_finish, steps
            )
            span_s = run_span_s(constants, first_step_s, decode_steps, running, context_tokens)
            self._plan = (now, first_step_s, decode_steps, context_tokens)
            self._cut_decode_steps = None
            self.status = DECODING if running < max_batch and not self.draining else BUSY
            yield self._wait(timeout(span_s))
            if self._cut_decode_steps is not None:
                decode_steps = self._cut_decode_steps
            self._account()
            steps, context_tokens = after_decode_steps(steps, context_tokens, running, decode_steps)
            now = env.now
            while finishing and finishing[0][0] <= steps:
                request = heappop(finishing)[1]
                need = kv_need_tokens(prompt[request], output[request])
                self.kv_reserved_tokens, context_tokens, self.running = release_finished(
                    self.kv_reserved_tokens, context_tokens, self.running, need
                )
                end_request(request, COMPLETED, now)

    def _cut_plan_at_next_step(self) -> None:
        """End the current decode plan at the next step boundary, so newcomers join there."""
        plan_start_s, first_step_s, decode_steps, context_tokens = self._plan
        done, delay_s = cut_at_next_step(
            self.state_of_engine.service.constants,
            self.env.now - plan_start_s,
            first_step_s,
            decode_steps,
            self.running,
            context_tokens,
        )
        if done < 0:
            return  # the plan already ends at the next boundary
        self._cut_decode_steps = done
        self._retarget(delay_s)

    # ----------------------------------------------------------- stopping

    def in_service(self) -> list[int]:
        """Requests admitted here and not finished (what a sudden death takes down)."""
        partial = [] if self._partial is None else [self._partial]
        return list(self._batch) + [request for _, request in self._finishing] + partial

    def kill(self) -> list[int]:
        """Die now (a spot interruption): stop serving, return the requests that were in service."""
        self._account()
        self.env.abandon(self._waiting_on)
        lost = self.in_service()
        self._batch = []
        self._finishing.clear()
        self._partial = None
        self.running = 0
        self.kv_reserved_tokens = 0
        self.status = STOPPED
        self.stopped_s = self.env.now
        return lost

    def cancel(self) -> None:
        """Stop during the cold start, having served nothing (scaled down before ready)."""
        self.env.abandon(self._waiting_on)
        self.draining = True
        self._stop()

    def drain(self) -> None:
        """Stop taking new work; stop once what is held has finished."""
        self.draining = True
        if self.status == IDLE:
            self.notify()

    def running_area_until(self, now_s: float) -> float:
        """The integral of `running` up to `now_s`, without changing the books."""
        return accrue(self.running_area, self.running, self._last_change_s, now_s)

    def close_books(self) -> None:
        """Bring the busy-time integrals up to now (end of the run)."""
        self._account()

    def _stop(self) -> None:
        self._account()
        self.status = STOPPED
        self.stopped_s = self.env.now
        self.state_of_engine.replica_stopped(self)
