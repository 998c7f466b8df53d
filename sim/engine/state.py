"""The state one replication shares between its processes: requests, fleet, lines, log.

The dispatcher, the replicas, the autoscaler and the spot market all act on this
object; it owns the rules they share (routing, admission limits, accounting).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import simpy

from sim.engine.exact_sum import add_exactly
from sim.engine.outcome import FLEET_COUNTERS, EngineOutcome, FleetEvent, ReplicaLifetime
from sim.engine.replica import STARTING, STOPPED, Replica
from sim.engine.request_log import DROPPED, LOST, PENDING, TIMED_OUT, RequestLog
from sim.engine.routers import Router
from sim.engine.rules.lifecycle import retried_after_reclaim
from sim.engine.rules.waiting_line import line_has_room
from sim.engine.service_time import ServiceModel
from sim.engine.waiting_line import WaitingLine
from sim.scenario.plugins import BATCHING
from sim.scenario.schema import Batching


@dataclass
class Workload:
    """One replication's requests as plain lists (fast to index from Python)."""

    arrival_s: list[float]
    prompt_tokens: list[int]
    output_tokens: list[int]
    latency_s: list[float] | None = None  # per-request latency for the latency model
    patience_s: list[float] | None = None  # longest wait for admission; None: no limit

    @classmethod
    def from_arrays(
        cls,
        arrival_s: np.ndarray,
        prompt_tokens: np.ndarray,
        output_tokens: np.ndarray,
        latency_s: np.ndarray | None = None,
        patience_s: np.ndarray | None = None,
    ) -> Workload:
        return cls(
            arrival_s=np.asarray(arrival_s, dtype=float).tolist(),
            prompt_tokens=np.asarray(prompt_tokens, dtype=np.int64).tolist(),
            output_tokens=np.asarray(output_tokens, dtype=np.int64).tolist(),
            latency_s=None if latency_s is None else np.asarray(latency_s, dtype=float).tolist(),
            patience_s=None if patience_s is None else np.asarray(patience_s, float).tolist(),
        )


@dataclass
class EngineState:
    env: simpy.Environment
    workload: Workload
    service: ServiceModel
    batching: Batching
    router: Router | None  # None: one shared line
    max_queue: int | None
    replicas: list[Replica] = field(default_factory=list)
    fleet_events: list[FleetEvent] = field(default_factory=list)
    resolved: int = 0

    def __post_init__(self) -> None:
        n = self.request_count = len(self.workload.arrival_s)
        self.arrival_s = self.workload.arrival_s
        self.prompt_tokens = self.workload.prompt_tokens
        self.output_tokens = self.workload.output_tokens
        self.max_batch = self.batching.max_batch if BATCHING[self.batching.policy].batches else 1
        self.queue_cap = -1 if self.max_queue is None else self.max_queue  # -1: no cap
        # KV-cache tokens a replica holds (unbounded for a given per-request latency).
        self.kv_capacity_tokens = getattr(self.service, "kv_capacity_tokens", math.inf)
        self.start_s = [math.nan] * n
        self.first_token_s = [math.nan] * n
        self.finish_s = [math.nan] * n
        self.status = [PENDING] * n
        self.retries = [0] * n
        self.served_by = [-1] * n  # replica that served the request last
        # When each client gives up waiting: arrival + patience, restarted on a retry.
        self.patience_s = self.workload.patience_s
        self.expires = self.patience_s is not None
        self.deadline_s = (
            [a + p for a, p in zip(self.arrival_s, self.patience_s, strict=True)]
            if self.expires
            else [math.inf] * n
        )
        self.shared_line = WaitingLine() if self.router is None else None
        self.holding_line = WaitingLine()  # requests that found no replica yet
        self.accepting: list[Replica] = []
        self.idle_replicas: list[Replica] = []  # ready replicas waiting for work, oldest first
        self.all_resolved = self.env.event()
        self.arrivals_done = False
        self.cold_start_sampler = lambda: 0.0  # set by the simulation from the scenario
        self.on_arrival = None  # a hook for the serverless scaler: called after each routing
        self.on_idle = None  # a hook for the serverless scaler: called when a replica idles
        self.on_start = None  # a hook for the spot market: called when a replica starts
        self.on_end = None  # a hook for closed-loop clients: called as a request ends
        self.counters = dict.fromkeys(FLEET_COUNTERS, 0)
        # Kept as replicas change, so no event scans every replica ever launched:
        # those up and not draining, and those not stopped, each in launch order.
        self._active: dict[int, Replica] = {}
        self._live: dict[int, Replica] = {}
        # Integrals of the stopped replicas (frozen once a replica stops), summed exactly.
        self._stopped_running_area: list[float] = []
        self._stopped_queue_area: list[float] = []

    # ----------------------------------------------------------- fleet

    def add_replica(self, cold_start_s: float, market: str) -> Replica:
        """Start a new replica; it is billed from now and serves after its cold start."""
        line = self.shared_line if self.shared_line is not None else WaitingLine()
        replica = Replica(self, len(self.replicas), line, market)
        self.replicas.append(replica)
        self._active[replica.index] = replica
        self._live[replica.index] = replica
        self.fleet_events.append(FleetEvent(self.env.now, replica.index, "start"))
        replica.start(cold_start_s)
        if self.on_start is not None:
            self.on_start(replica)
        return replica

    def replica_ready(self, replica: Replica) -> None:
        self.fleet_events.append(FleetEvent(self.env.now, replica.index, "ready"))
        self.accepting.append(replica)
        now = self.env.now
        while self.holding_line:
            self.route(self.holding_line.pop(now))

    def drain_replica(self, replica: Replica) -> None:
        """Take a replica out of service: it finishes what it holds, then stops.

        A replica still in its cold start is cancelled; what waits in its own line
        goes back to the router.
        """
        if replica.draining or replica.status == STOPPED:
            return
        self._active.pop(replica.index, None)
        if replica in self.accepting:
            self.accepting.remove(replica)
        requeue = self._take_line(replica)
        if replica.status == STARTING:
            replica.cancel()
        else:
            self.fleet_events.append(FleetEvent(self.env.now, replica.index, "drain"))
            replica.drain()
        for request in requeue:
            self.route(request)

    def kill_replica(self, replica: Replica, retry: bool) -> None:
        """A replica dies now (a spot reclaim): its requests are retried or lost."""
        if replica.status == STOPPED:
            return
        self._active.pop(replica.index, None)
        if replica in self.accepting:
            self.accepting.remove(replica)
        if replica in self.idle_replicas:
            self.idle_replicas.remove(replica)
        requeue = self._take_line(replica)
        in_service = replica.kill()
        self._retire(replica)
        now = self.env.now
        self.fleet_events.append(FleetEvent(now, replica.index, "interrupt"))
        self.fleet_events.append(FleetEvent(now, replica.index, "stop"))
        for request in in_service:
            self.start_s[request] = math.nan
            self.first_token_s[request] = math.nan
            if retry:
                patience_s = self.patience_s[request] if self.expires else math.inf
                self.retries[request], deadline_s = retried_after_reclaim(
                    self.retries[request], now, patience_s
                )
                if self.expires:
                    self.deadline_s[request] = deadline_s
                self.route(request, front=True)
            else:
                self.end_request(request, LOST, now)
        for request in requeue:
            self.route(request)

    def _take_line(self, replica: Replica) -> list[int]:
        if replica.line is self.shared_line:
            return []
        return replica.line.drain(self.env.now)

    def active_replicas(self) -> list[Replica]:
        """Replicas up and not draining (serving or in their cold start), newest first."""
        return list(reversed(self._active.values()))

    def iter_active(self):
        """The active replicas oldest first, without a copy (do not change the fleet meanwhile)."""
        return self._active.values()

    def active_count(self) -> int:
        """How many replicas are up and not draining, without listing them."""
        return len(self._active)

    def _retire(self, replica: Replica) -> None:
        """A replica stopped: its integrals no longer change, so add them up once."""
        del self._live[replica.index]
        add_exactly(self._stopped_running_area, replica.running_area)
        if replica.line is not self.shared_line:
            add_exactly(self._stopped_queue_area, replica.line.length_area_until(self.env.now))

    def load_integrals(self, now_s: float) -> tuple[float, float]:
        """Integrals up to `now_s` of requests in service and of requests waiting (all lines).

        Stopped replicas count through their frozen totals, so this costs the
        replicas still up, not every replica ever launched. The sums are correctly
        rounded (`math.fsum`): the compiled loop, which keeps its replicas in
        another order, gets the same figures.
        """
        live = self._live.values()
        running = math.fsum(
            [*self._stopped_running_area, *(r.running_area_until(now_s) for r in live)]
        )
        waiting = [*self._stopped_queue_area, self.holding_line.length_area_until(now_s)]
        if self.shared_line is not None:
            waiting.append(self.shared_line.length_area_until(now_s))
        else:
            waiting.extend(r.line.length_area_until(now_s) for r in live)
        return running, math.fsum(waiting)

    def launch(self, market: str) -> Replica:
        """Start one more replica after a cold start drawn from the scenario's distribution."""
        cold_start_s = float(self.cold_start_sampler())
        self.counters["launches"] += 1
        self.counters["cold_starts"] += cold_start_s > 0
        return self.add_replica(cold_start_s, market)

    def replica_stopped(self, replica: Replica) -> None:
        self._retire(replica)
        self.fleet_events.append(FleetEvent(self.env.now, replica.index, "stop"))

    # ----------------------------------------------------------- requests

    def route(self, request: int, front: bool = False) -> None:
        """Send a request to a replica's line (or the shared line), or drop it.

        `front` puts a retried request ahead of those waiting: it had been served.
        """
        now = self.env.now
        if self.expires:
            self._expire_everywhere()
        if self.shared_line is not None:
            if not line_has_room(self.shared_line.size, self.queue_cap, len(self.accepting)):
                self.end_request(request, DROPPED, now)
                return
            self.shared_line.push(request, now, front)
            if self.on_arrival is not None:
                self.on_arrival()
            if self.idle_replicas:
                # The replica that went idle last: warm containers stay busy, and the
                # ones idle longest can reach their idle timeout.
                self.idle_replicas[-1].notify()
            elif self.max_batch > 1:
                for replica in self.accepting:
                    if replica.can_take_more():
                        replica.notify()
                        break
            return
        candidates = self.accepting
        if not candidates:
            # Nobody serves yet: wait in one line for whichever replica is ready first.
            if not line_has_room(self.holding_line.size, self.queue_cap, 1):
                self.end_request(request, DROPPED, now)
            else:
                self.holding_line.push(request, now)
            return
        replica = candidates[self.router([r.line.size + r.running for r in candidates])]
        if not line_has_room(replica.line.size, self.queue_cap, 1):
            self.end_request(request, DROPPED, now)
            return
        replica.line.push(request, now, front)
        replica.notify()

    def expire(self, line: WaitingLine) -> None:
        """End the requests at the head of `line` whose clients gave up waiting."""
        deadline_s = self.deadline_s
        for request in line.drop_expired(self.env.now, deadline_s):
            self.end_request(request, TIMED_OUT, deadline_s[request])

    def _expire_everywhere(self) -> None:
        """Clients who gave up leave every line, so they hold no queue place or router load."""
        self.expire(self.holding_line)
        if self.shared_line is not None:
            self.expire(self.shared_line)
            return
        for replica in self.accepting:
            self.expire(replica.line)

    def add_request(
        self,
        arrival_s: float,
        prompt_tokens: int,
        output_tokens: int,
        latency_s: float | None = None,
        patience_s: float | None = None,
    ) -> int:
        """A request made during the run (a closed-loop client's next one); its index.

        The per-request lists grow in place, so the replicas' references to them stay
        valid. `latency_s` is needed under the latency model, `patience_s` when
        requests expire.
        """
        request = self.request_count
        self.request_count += 1
        self.arrival_s.append(arrival_s)
        self.prompt_tokens.append(prompt_tokens)
        self.output_tokens.append(output_tokens)
        if self.workload.latency_s is not None:
            self.workload.latency_s.append(latency_s)
        for column, value in (
            (self.start_s, math.nan),
            (self.first_token_s, math.nan),
            (self.finish_s, math.nan),
            (self.status, PENDING),
            (self.retries, 0),
            (self.served_by, -1),
        ):
            column.append(value)
        if self.expires:
            self.patience_s.append(patience_s)
            self.deadline_s.append(arrival_s + patience_s)
        else:
            self.deadline_s.append(math.inf)
        return request

    def end_request(self, request: int, status: int, time_s: float) -> None:
        self.status[request] = status
        self.finish_s[request] = time_s
        self.resolved += 1
        if self.on_end is not None:
            self.on_end(request, time_s)
        everyone = self.resolved == self.request_count and self.arrivals_done
        if everyone and not self.all_resolved.triggered:
            self.all_resolved.succeed()

    def mark_arrivals_done(self) -> None:
        """No request arrives any more; fire `all_resolved` if every one has ended."""
        self.arrivals_done = True
        if self.resolved == self.request_count and not self.all_resolved.triggered:
            self.all_resolved.succeed()

    def finish_run(self) -> None:
        """Close the books at the end of the run: waiting requests time out or stay in flight."""
        now = self.env.now
        lines = [self.holding_line]
        lines += [self.shared_line] if self.shared_line is not None else []
        lines += [r.line for r in self.replicas if r.line is not self.shared_line]
        for line in lines:
            if self.expires:
                self.expire(line)
            line.close(now)
        for replica in self.replicas:
            replica.close_books()

    def outcome(self) -> EngineOutcome:
        """The run's results, once `finish_run` has closed the books."""
        lines = {id(r.line): r.line for r in self.replicas}
        return EngineOutcome(
            log=RequestLog(
                arrival_s=np.asarray(self.arrival_s, dtype=float),
                start_s=np.asarray(self.start_s, dtype=float),
                first_token_s=np.asarray(self.first_token_s, dtype=float),
                finish_s=np.asarray(self.finish_s, dtype=float),
                status=np.asarray(self.status, dtype=np.int8),
                retries=np.asarray(self.retries, dtype=np.int16),
                replica=np.asarray(self.served_by, dtype=np.int32),
            ),
            prompt_tokens=np.asarray(self.prompt_tokens),
            output_tokens=np.asarray(self.output_tokens),
            lifetimes=[
                ReplicaLifetime(r.market, r.started_s, r.stopped_s, r.busy_s) for r in self.replicas
            ],
            ready_s=[r.ready_s for r in self.replicas],
            running_area=sum(r.running_area for r in self.replicas),
            queue_area=sum(line.length_area for line in lines.values())
            + self.holding_line.length_area,
            fleet_events=self.fleet_events,
            counters=dict(self.counters),
            end_s=self.env.now,
        )
