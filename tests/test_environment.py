"""The clock reaches each arrival through SimPy's public API, by one rule both engines
share (`sim/engine/clock.py`), even where floating-point rounding ties."""

from __future__ import annotations

import ast
import dataclasses
import math
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from test_compiled_dynamic import assert_same_outcome

from distributions.traffic import generate_requests
from sim.engine.clock import landing_delay_s
from sim.engine.environment import ServingEnvironment
from sim.engine.service_time import build_service_model
from sim.montecarlo.replication import engine_outcome, replication_streams
from sim.scenario.file import load_scenario

times = st.floats(min_value=0.0, max_value=1e9, allow_nan=False, allow_infinity=False)
# From half an ulp of 1000 s, no delay lands on the float after 1000 s: `t - now` is a
# tie that rounds to even, and `now + t` is another that rounds up.
TIE_NOW_S = math.ulp(1000.0) / 2
TIE_TIME_S = math.nextafter(1000.0, math.inf)


@settings(deadline=None)  # the first call loads the compiled rule
@given(times, times)
def test_the_landing_is_the_first_reachable_time_at_or_after_the_arrival(a, b) -> None:
    now_s, time_s = min(a, b), max(a, b)
    delay_s = landing_delay_s(now_s, time_s)
    assert delay_s >= 0 and now_s + delay_s >= time_s
    if now_s + delay_s > time_s:  # not exact: no shorter delay reaches time_s at all
        shorter_s = math.nextafter(delay_s, -math.inf)
        assert now_s + shorter_s < time_s
        assert now_s + delay_s == math.nextafter(time_s, math.inf)
    if time_s <= 2 * now_s:  # Sterbenz: the difference is exact, and so is the landing
        assert now_s + delay_s == time_s


def test_a_tie_lands_one_step_later_and_everything_else_exactly() -> None:
    assert landing_delay_s(TIE_NOW_S, TIE_TIME_S) + TIE_NOW_S == math.nextafter(
        TIE_TIME_S, math.inf
    )
    env = ServingEnvironment()
    arrival_s = [0.25, 0.1 + 0.2, 1e5 + 1e-9, 1e5 + 1e-9, 3e7 / 7]
    seen: list[float] = []
    env.process(_ticker(env, 2000.0, 3))  # events between the later arrivals
    env.run_arrivals(arrival_s, lambda request: seen.append(env.now))
    assert seen == arrival_s


def _ticker(env: ServingEnvironment, period_s: float, ticks: int):
    for _ in range(ticks):
        yield env.timeout(period_s)


def test_both_engines_route_a_tied_arrival_at_the_same_instant() -> None:
    """Arrivals placed on the tie, an event due at its landing among them: the kernel
    and SimPy give the same log, fleet and bill."""
    # Service ends at the tie's landing: TIE_NOW_S + latency rounds to it.
    latency_s = math.nextafter(math.nextafter(1000.0, math.inf), math.inf)
    assert TIE_NOW_S + latency_s == math.nextafter(TIE_TIME_S, math.inf)
    sets = [
        "fleet.replicas=2",
        "horizon=2000",
        f'service.latency={{dist="fixed", value={latency_s!r}}}',
        'fleet.router="round-robin"',
    ]
    scenario = load_scenario("mmc", sets)
    outcomes = []
    for use_simpy in (False, True):
        streams = replication_streams(9, 0)
        requests = generate_requests(scenario, streams["traffic"])
        arrival_s = np.array([TIE_NOW_S, TIE_NOW_S, TIE_TIME_S, TIE_TIME_S + 1.0])
        requests = dataclasses.replace(
            requests,
            arrival_s=arrival_s,
            prompt_tokens=requests.prompt_tokens[:4],
            output_tokens=requests.output_tokens[:4],
            class_index=requests.class_index[:4],
        )
        service = build_service_model(scenario)
        outcomes.append(engine_outcome(scenario, requests, streams, service, use_simpy))
    kernel, simpy = outcomes
    landing_s = math.nextafter(TIE_TIME_S, math.inf)
    assert kernel.log.finish_s[0] == landing_s  # fired before the tied arrival was routed
    assert kernel.log.start_s[2] == landing_s
    assert_same_outcome(sets, kernel, simpy)


def test_the_environment_uses_no_private_simpy_attribute() -> None:
    source = Path(__file__).parents[1] / "sim" / "engine" / "environment.py"
    names = {
        node.attr
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Attribute) and node.attr.startswith("_")
    }
    assert names == set(), names
