"""Closed-loop clients: each sends its next request when its last one ends.

How genai-perf, vLLM's and SGLang's bench scripts with a maximum concurrency and
NIM benchmarks drive load, and how chat users behave: `concurrency` clients start
at time 0; a request that completes, is dropped, times out or is lost sends its
client to think for a drawn time, then to send the next one. Arrivals therefore
depend on completions, so they are made during the run, on the SimPy engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sim.engine.state import EngineState
from sim.errors import CapsimError

# Requests a client loop may send at one instant before the run is stopped: only
# requests refused as they arrive (a context no replica's KV memory holds) with no
# think time can loop without time passing.
MAX_SENT_PER_INSTANT = 1000

NewRequest = Callable[[float], tuple[int, int, float | None, float | None]]


@dataclass
class ClosedLoopClients:
    """`concurrency` clients on one engine state, sending until `stop_s`.

    `new_request(now)` gives the next request's (prompt tokens, output tokens,
    latency or None, patience or None); `think_s()` the next think time.
    """

    state: EngineState
    concurrency: int
    stop_s: float
    new_request: NewRequest
    think_s: Callable[[], float]
    client_of: list[int] = field(default_factory=list)  # each request's client
    _instant_s: float = -1.0
    _sent_at_instant: int = 0

    def start(self) -> None:
        """Every client sends its first request at time 0; each reply starts the next."""
        self.state.on_end = self._request_ended
        for client in range(self.concurrency):
            self._schedule(client, 0.0)

    def _request_ended(self, request: int, time_s: float) -> None:
        """A reply (or a failure) is back: the client thinks, then sends again."""
        env = self.state.env
        # A timeout is noticed when a line is next looked at: never send before now.
        send_s = max(env.now, time_s + self.think_s())
        self._schedule(self.client_of[request], send_s - env.now)

    def _schedule(self, client: int, delay_s: float) -> None:
        env = self.state.env
        if env.now + delay_s >= self.stop_s:
            return  # the client's next request would fall after the horizon
        event = env.timeout(delay_s)
        event.callbacks.append(lambda _: self._send(client))

    def _send(self, client: int) -> None:
        state = self.state
        now = state.env.now
        if now == self._instant_s:
            self._sent_at_instant += 1
            if self._sent_at_instant > MAX_SENT_PER_INSTANT * self.concurrency:
                raise CapsimError(
                    f"traffic.arrival = 'closed': over {MAX_SENT_PER_INSTANT:,} requests per "
                    f"client refused as they were sent at t = {now:g} s (a context larger "
                    "than a replica's KV memory?); give traffic.think_time or smaller "
                    "requests.prompt_tokens/output_tokens"
                )
        else:
            self._instant_s, self._sent_at_instant = now, 1
        prompt, output, latency_s, patience_s = self.new_request(now)
        request = state.add_request(now, prompt, output, latency_s, patience_s)
        self.client_of.append(client)
        state.route(request)
