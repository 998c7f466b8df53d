"""One replication of closed-loop clients on the SimPy engine, and the requests they sent.

Arrivals depend on completions, so neither the compiled kernel nor the fast engine
runs a closed loop: `simulate` sends it here by `traffic.arrival = "closed"`.
"""

from __future__ import annotations

import gc
import math

import numpy as np

from distributions.closed_loop import BLOCK, ClientDraws
from distributions.tokens import sample
from distributions.traffic import RequestChunk
from sim.engine.clients import ClosedLoopClients
from sim.engine.outcome import EngineOutcome
from sim.engine.service_time import LatencyModel, ServiceModel
from sim.engine.state import Workload
from sim.fleet.start import simpy_fleet
from sim.scenario.schema import Scenario


def run_closed_loop(
    scenario: Scenario,
    streams: dict[str, np.random.Generator],
    service: ServiceModel,
    patience_by_class: np.ndarray | None,
    end_s: float,
) -> tuple[EngineOutcome, RequestChunk]:
    """Serve `traffic.concurrency` clients until the horizon, then drain to `end_s`.

    `patience_by_class` is each class's admission timeout (inf: none), or None when
    no request expires. Returns the engine's outcome and the requests the clients sent.
    """
    draws = ClientDraws(scenario, streams["traffic"])
    latencies: list[float] = []
    classes: list[int] = []

    def next_latency_s() -> float | None:
        if not isinstance(service, LatencyModel):
            return None
        if not latencies:
            block = sample(scenario.service.latency, BLOCK, streams["service"])
            latencies.extend(block.tolist()[::-1])
        return latencies.pop()

    def new_request(_now_s: float) -> tuple[int, int, float | None, float | None]:
        prompt, output, class_index = draws.next_request()
        classes.append(class_index)
        patience = None if patience_by_class is None else float(patience_by_class[class_index])
        return prompt, output, next_latency_s(), patience

    latency_list = [] if isinstance(service, LatencyModel) else None
    patience_list = None if patience_by_class is None else []
    workload = Workload([], [], [], latency_list, patience_list)
    state = simpy_fleet(scenario, workload, service, streams)
    env = state.env
    clients = ClosedLoopClients(
        state, scenario.traffic.concurrency or 1, scenario.horizon, new_request, draws.next_think_s
    )
    clients.start()
    env.run(until=scenario.horizon)
    state.mark_arrivals_done()
    if state.resolved < state.request_count:
        env.run(until=env.any_of([env.timeout(end_s - env.now), state.all_resolved]))
    state.finish_run()
    outcome = state.outcome()
    requests = RequestChunk(
        np.asarray(state.arrival_s, dtype=float),
        np.asarray(state.prompt_tokens, dtype=np.int64),
        np.asarray(state.output_tokens, dtype=np.int64),
        np.asarray(classes, dtype=np.int16),
    )
    gc.collect()  # the engine's objects refer to each other (see replication.engine_outcome)
    return outcome, requests


def patience_table(timeouts: list[float | None]) -> np.ndarray | None:
    """Each class's admission timeout as an array (inf for none), or None if none has one."""
    if all(t is None for t in timeouts):
        return None
    return np.array([math.inf if t is None else t for t in timeouts])
