"""The compiled fixed-fleet kernel against the SimPy engine: the same draws, the same numbers.

`sim/engine/compiled_loop.py` claims to apply the SimPy engine's rules in the same order.
Each case runs one replication through both and demands an identical request log
(every timestamp, status and replica, bit for bit) and the same summary. The
cases cover every router, both service models, one-at-a-time and continuous
batching, queue caps, timeouts, request classes, KV memory too small for some
contexts, ties in time, overload that hits the drain limit, and no traffic at all.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import run_once

from sim.engine.compiled_loop import (
    _check_finish_keys_fit,
)
from sim.engine.numba_cache import drop_stale_cache
from sim.engine.request_log import COMPLETED, DROPPED, PENDING, TIMED_OUT
from sim.engine.service_time import build_service_model
from sim.errors import CapsimError
from sim.fleet.compiled_fleet import runs_compiled
from sim.montecarlo.results import ReplicationResult
from sim.scenario.file import load_scenario

ROOFLINE = ['service={model="roofline"}']
CONTINUOUS = [
    *ROOFLINE,
    'fleet.gpu="A100-80GB"',
    'batching={policy="continuous", max_batch=8}',
    'requests.output_tokens={dist="lognormal", mean=200, cv=0.5}',
]
CLASSES = 'requests.classes=[{name="chat", share=0.7, timeout="4s"}, {name="batch", share=0.3}]'

CASES = {
    "M/M/1": ["horizon=1500"],
    "M/M/4 least-loaded": [
        "fleet.replicas=4",
        "traffic.rate_per_s=3.6",
        'fleet.router="least-loaded"',
        "horizon=800",
    ],
    "M/M/4 shared queue, cap and timeout": [
        "fleet.replicas=4",
        "traffic.rate_per_s=4.4",
        'fleet.router="shared-queue"',
        "admission.max_queue=3",
        "admission.timeout=2",
        "horizon=800",
    ],
    "round-robin, cap and timeout": [
        "fleet.replicas=4",
        "traffic.rate_per_s=4.4",
        'fleet.router="round-robin"',
        "admission.max_queue=5",
        "admission.timeout=3",
        "horizon=800",
    ],
    "random router": [
        "fleet.replicas=3",
        "traffic.rate_per_s=2.5",
        'fleet.router="random"',
        "horizon=800",
    ],
    "fixed latency, ties in time": [
        "fleet.replicas=3",
        "traffic.rate_per_s=2.4",
        'service.latency={dist="fixed", value=1.0}',
        "horizon=600",
    ],
    "roofline, one at a time": [
        *ROOFLINE,
        "fleet.replicas=4",
        "traffic.rate_per_s=0.5",
        'requests.output_tokens={dist="lognormal", mean=100, cv=0.5}',
        "horizon=1500",
    ],
    "continuous, least-loaded": [
        *CONTINUOUS,
        "fleet.replicas=3",
        "traffic.rate_per_s=8",
        'fleet.router="least-loaded"',
        "horizon=600",
    ],
    "continuous, shared queue, cap and timeout": [
        *CONTINUOUS,
        "fleet.replicas=3",
        "traffic.rate_per_s=15",
        'fleet.router="shared-queue"',
        "admission.timeout=5",
        "admission.max_queue=10",
        "horizon=600",
    ],
    "continuous, request classes in overload": [
        *CONTINUOUS,
        CLASSES,
        "fleet.replicas=2",
        "traffic.rate_per_s=14",
        'fleet.router="round-robin"',
        "horizon=600",
    ],
    "continuous overload to the drain limit": [
        *CONTINUOUS,
        'fleet.router="least-loaded"',
        "fleet.replicas=2",
        "traffic.rate_per_s=16",
        "horizon=300",
    ],
    "continuous, KV memory for 2,200 tokens": [
        *CONTINUOUS,
        "model.kv_bytes_per_token=3e7",
        'requests.output_tokens={dist="lognormal", mean=300, cv=1.5}',
        "fleet.replicas=2",
        "traffic.rate_per_s=0.5",
        "horizon=1200",
    ],
    "no arrivals": ["traffic.rate_per_s=1e-6", "horizon=60"],
}


def assert_identical(kernel: ReplicationResult, simpy: ReplicationResult) -> None:
    for field in ("arrival_s", "start_s", "first_token_s", "finish_s", "status", "replica"):
        np.testing.assert_array_equal(getattr(kernel.log, field), getattr(simpy.log, field))
    assert kernel.requests == simpy.requests
    assert kernel.end_s == simpy.end_s
    np.testing.assert_equal(kernel.latency_s, simpy.latency_s)  # NaN equals NaN here
    assert kernel.utilization == simpy.utilization
    assert kernel.mean_running_per_replica == simpy.mean_running_per_replica
    np.testing.assert_equal(kernel.cost_usd, simpy.cost_usd)
    assert kernel.replicas == simpy.replicas
    assert kernel.events == simpy.events
    np.testing.assert_equal(kernel.classes, simpy.classes)  # NaN where a class has no tail
    assert kernel.mean_queue_length == simpy.mean_queue_length  # each line integrates its length
    assert kernel.billing == simpy.billing
    assert kernel.fleet_series == simpy.fleet_series


@pytest.mark.parametrize("name", list(CASES))
def test_kernel_reproduces_the_simpy_engine_exactly(name: str) -> None:
    sets = CASES[name]
    assert runs_compiled(load_scenario("mmc", sets))
    assert_identical(run_once(sets, seed=7), run_once(sets, seed=7, use_simpy=True))


def test_ties_at_the_drain_limit_resolve_as_in_simpy(tmp_path) -> None:
    """Arrivals on whole seconds and services of 0 or 10 s tie with each other and with
    the drain limit. There SimPy fires what was scheduled before its stop condition,
    and not a zero-length service that an event at the limit itself starts."""
    trace = tmp_path / "ticks.csv"
    trace.write_text("TIMESTAMP\n" + "".join(f"{t}\n" for t in range(400)))
    sets = [
        "horizon=400",
        "fleet.replicas=1",
        f'traffic={{profile="trace", arrival="trace", trace={{file="{trace}", loop=false}}}}',
        'service.latency={dist="empirical", values=[0, 10], weights=[1, 1]}',
    ]
    kernel, simpy = run_once(sets, seed=7), run_once(sets, seed=7, use_simpy=True)
    assert_identical(kernel, simpy)
    at_the_limit = kernel.log.start_s == kernel.end_s
    assert at_the_limit.any() and (kernel.log.status[at_the_limit] == PENDING).all()


def test_a_kernel_cache_built_against_another_roofline_is_dropped(tmp_path) -> None:
    cache, roofline = tmp_path / "__pycache__", tmp_path / "service_time.py"
    cache.mkdir()
    roofline.write_text("def step_s(): return 1.0\n")
    kernel_files = ["compiled_loop._serve-388.py311.nbi", "compiled_loop._serve-388.py311.1.nbc"]

    def write_cache() -> None:
        for name in [*kernel_files, "service_time.roofline_step_s-76.py311.nbi"]:
            (cache / name).write_bytes(b"compiled")

    def kernel_cached() -> bool:
        return all((cache / name).exists() for name in kernel_files)

    write_cache()
    drop_stale_cache(
        cache, "compiled_loop", roofline
    )  # no digest yet: built against who knows what
    assert not kernel_cached() and (cache / "service_time.roofline_step_s-76.py311.nbi").exists()
    write_cache()
    drop_stale_cache(cache, "compiled_loop", roofline)  # the same roofline: keep
    assert kernel_cached()
    roofline.write_text("def step_s(): return 2.0\n")
    drop_stale_cache(cache, "compiled_loop", roofline)  # changed: drop
    assert not kernel_cached()


def test_a_run_whose_finish_keys_could_overflow_is_refused() -> None:
    scenario = load_scenario("mmc", CONTINUOUS)
    service = build_service_model(scenario)
    _check_finish_keys_fit(service, requests=10**7, longest_output=5_000, drain_end_s=86_400)
    with pytest.raises(CapsimError, match="shorten the horizon"):
        _check_finish_keys_fit(service, requests=10**9, longest_output=5_000, drain_end_s=1e10)


def random_fixed_fleet(rng: np.random.Generator) -> list[str]:
    """A random fixed fleet: router, service model, batch, load from light to overload,
    timeouts and queue caps, sometimes KV memory too small for the longer contexts."""
    replicas = int(rng.integers(1, 6))
    router = rng.choice(["least-loaded", "round-robin", "random", "shared-queue"])
    sets = [f"fleet.replicas={replicas}", f'fleet.router="{router}"']
    if rng.random() < 0.5:
        max_batch = int(rng.integers(1, 17))
        output_mean, output_cv = int(rng.integers(20, 300)), rng.uniform(0.2, 1.5)
        sets += [
            *ROOFLINE,
            'fleet.gpu="A100-80GB"',
            f'batching={{policy="continuous", max_batch={max_batch}}}',
            f'requests.output_tokens={{dist="lognormal", mean={output_mean}, cv={output_cv:.2f}}}',
            f'requests.prompt_tokens={{dist="lognormal", mean={rng.integers(50, 2000)}, cv=0.8}}',
        ]
        if rng.random() < 0.3:
            sets.append(f"model.kv_bytes_per_token={rng.uniform(5e6, 4e7):.3g}")
        capacity_per_s = replicas * max_batch * 0.3
    else:
        latency = rng.choice(
            [
                'dist="exponential", mean=1.0',
                'dist="fixed", value=1.0',
                'dist="lognormal", mean=1.0, cv=2.0',
            ]
        )
        sets.append(f"service.latency={{{latency}}}")
        capacity_per_s = replicas
    sets.append(f"traffic.rate_per_s={capacity_per_s * rng.uniform(0.3, 1.6):.4g}")
    if rng.random() < 0.4:
        sets.append(f"admission.timeout={rng.uniform(0.5, 10):.3g}")
    if rng.random() < 0.4:
        sets.append(f"admission.max_queue={rng.integers(1, 20)}")
    return [*sets, f"horizon={rng.uniform(100, 600):.4g}"]


def test_kernel_reproduces_the_simpy_engine_on_random_fleets() -> None:
    """40 random fixed fleets (seeded): identical logs and summaries from both engines."""
    rng = np.random.default_rng(20261123)
    for case in range(40):
        sets = random_fixed_fleet(rng)
        kernel, simpy = run_once(sets, seed=case), run_once(sets, seed=case, use_simpy=True)
        try:
            assert_identical(kernel, simpy)
        except AssertionError as error:
            raise AssertionError(f"random case {case}: {sets}") from error


def test_the_cases_reach_every_outcome() -> None:
    """The comparison means something only where requests time out, drop and stay in flight."""
    seen = set()
    for name in (
        "M/M/4 shared queue, cap and timeout",
        "continuous, KV memory for 2,200 tokens",
        "continuous overload to the drain limit",
    ):
        result = run_once(CASES[name], seed=7)
        seen |= set(np.unique(result.log.status).tolist())
    assert {COMPLETED, DROPPED, TIMED_OUT, PENDING} <= seen
    kv = run_once(CASES["continuous, KV memory for 2,200 tokens"], seed=7)
    too_big = kv.log.status == DROPPED
    assert too_big.any() and not np.isnan(kv.log.finish_s[too_big]).any()
