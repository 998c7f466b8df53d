"""The compiled kernel against the SimPy engine on fleets that change: the same draws,
the same request log, fleet events and bill, bit for bit.

`sim/fleet/compiled_fleet.py` stops the kernel at each autoscaler sync and applies the
SimPy engine's own policy decision; the kernel reproduces the engine's cold
starts, draining scale-downs, held requests and event order. Each case runs one
replication through both engines and compares everything the engine hands to
the summary, then the summary itself.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_fixed_fleet import ROOFLINE, assert_identical

from distributions.traffic import generate_requests
from sim.engine.outcome import EngineOutcome
from sim.engine.request_log import LOST
from sim.engine.service_time import build_service_model
from sim.fleet.compiled_fleet import runs_compiled
from sim.montecarlo.replication import _summarize, engine_outcome, replication_streams
from sim.scenario.file import load_scenario

POLICIES = ("target-tracking", "queue-depth", "scheduled", "predictive")


def both_engines(sets: list[str], seed: int) -> tuple[EngineOutcome, EngineOutcome]:
    """One replication of `mmc` with the overrides on the kernel, then on SimPy."""
    scenario = load_scenario("mmc", sets)
    outcomes = []
    for use_simpy in (False, True):
        streams = replication_streams(seed, 0)
        requests = generate_requests(scenario, streams["traffic"])
        service = build_service_model(scenario)
        outcomes.append(engine_outcome(scenario, requests, streams, service, use_simpy))
    return outcomes[0], outcomes[1]


def assert_same_outcome(sets: list[str], kernel: EngineOutcome, simpy: EngineOutcome) -> None:
    """Every timestamp, status and replica of each request; every fleet change; the
    books each replica keeps; then the summary and bill made from them."""
    for field in ("start_s", "first_token_s", "finish_s", "status", "retries", "replica"):
        np.testing.assert_array_equal(getattr(kernel.log, field), getattr(simpy.log, field))
    assert kernel.fleet_events == simpy.fleet_events
    assert kernel.lifetimes == simpy.lifetimes
    assert kernel.ready_s == simpy.ready_s
    assert kernel.counters == simpy.counters
    assert kernel.running_area == simpy.running_area
    assert kernel.queue_area == simpy.queue_area
    assert kernel.end_s == simpy.end_s
    scenario = load_scenario("mmc", sets)
    service = build_service_model(scenario)
    arrival_s = kernel.log.arrival_s
    assert_identical(
        _summarize(scenario, kernel, service, arrival_s, 0),
        _summarize(scenario, simpy, service, arrival_s, 0),
    )


def random_dynamic_fleet(rng: np.random.Generator) -> list[str]:
    """A random autoscaled fleet: every periodic policy with its knobs, cold starts from
    none to minutes (fixed ones tie with the syncs), a burst to scale for, scale to
    zero, every router and service model, timeouts, queue caps, request classes,
    sometimes KV memory too small for the longer contexts."""
    policy = rng.choice(POLICIES)
    low = int(rng.integers(0, 3))
    high = int(rng.integers(max(low, 1), 9))
    replicas = int(rng.integers(low, min(high, 4) + 1))
    router = rng.choice(["least-loaded", "round-robin", "random", "shared-queue"])
    sets = [
        f"fleet.replicas={replicas}",
        f'fleet.router="{router}"',
        f'autoscaling.policy="{policy}"',
        f"autoscaling.min_replicas={low}",
        f"autoscaling.max_replicas={high}",
        f"autoscaling.sync_period={rng.choice([5, 10, 15, 7.3])}",
        f"autoscaling.polling_interval={rng.choice([5, 15, 30])}",
        f"autoscaling.cooldown={rng.choice([0, 30, 120])}",
        f"autoscaling.scale_down_stabilization={rng.choice([0, 30, 120])}",
        f"autoscaling.scale_up_stabilization={rng.choice([0, 0, 20])}",
        f'autoscaling.metric="{rng.choice(["utilization", "in-flight"])}"',
        f"autoscaling.target={rng.uniform(0.4, 0.9):.2f}",
        f"autoscaling.queue_per_replica={rng.choice([1, 3, 5])}",
    ]
    cold = rng.choice(["none", "fixed", "lognormal", "exponential"])
    if cold == "none":
        sets.append('autoscaling.cold_start={dist="fixed", value=0}')
    elif cold == "fixed":
        sets.append(f'autoscaling.cold_start={{dist="fixed", value={rng.choice([5, 10, 30])}}}')
    elif cold == "lognormal":
        mean = rng.uniform(5, 90)
        sets.append(f'autoscaling.cold_start={{dist="lognormal", mean={mean:.3g}, cv=0.4}}')
    else:
        sets.append(f'autoscaling.cold_start={{dist="exponential", mean={rng.uniform(5, 60):.3g}}}')
    if rng.random() < 0.5:
        sets.append(f"autoscaling.max_step_up={rng.integers(1, 3)}")
    if rng.random() < 0.3:
        sets.append(f"autoscaling.max_step_down={rng.integers(1, 3)}")
    if policy == "scheduled":
        times = np.sort(rng.choice(np.arange(0, 1800, 60), size=3, replace=False))
        table = ", ".join(f"[{t}, {rng.integers(0, 6)}]" for t in times)
        sets.append(f"autoscaling.schedule=[{table}]")
    if rng.random() < 0.5:
        max_batch = int(rng.integers(1, 17))
        # Prompts above the token budget are chunked. A child stream draws it, so the
        # cases' other draws are those the fleets had before the budget existed.
        budget = int(rng.spawn(1)[0].choice([max_batch, 256, 2048, 8192]))
        sets += [
            *ROOFLINE,
            'fleet.gpu="A100-80GB"',
            f'batching={{policy="continuous", max_batch={max_batch}, '
            f"max_num_batched_tokens={budget}}}",
            f'requests.output_tokens={{dist="lognormal", mean={rng.integers(20, 200)}, cv=0.8}}',
            f'requests.prompt_tokens={{dist="lognormal", mean={rng.integers(50, 2000)}, cv=0.8}}',
        ]
        if rng.random() < 0.3:
            sets.append(f"model.kv_bytes_per_token={rng.uniform(5e6, 4e7):.3g}")
        per_replica_per_s = max_batch * 0.4
    else:
        latency = rng.choice(
            [
                'dist="exponential", mean=1.0',
                'dist="fixed", value=1.0',
                'dist="lognormal", mean=1.0, cv=2.0',
            ]
        )
        sets.append(f"service.latency={{{latency}}}")
        per_replica_per_s = 1.0
    rate = per_replica_per_s * rng.uniform(0.5, 4.0)
    start, length = int(rng.integers(60, 900)), int(rng.integers(120, 900))
    burst = f"start={start}, duration={length}, multiplier={rng.uniform(1.5, 4):.2f}"
    sets += [f"traffic.rate_per_s={rate:.4g}", f"traffic.bursts=[{{{burst}}}]"]
    if rng.random() < 0.3:
        sets.append(
            'requests.classes=[{name="chat", share=0.7, timeout="4s"}, {name="batch", share=0.3}]'
        )
    if rng.random() < 0.4:
        sets.append(f"admission.timeout={rng.uniform(0.5, 20):.3g}")
    if rng.random() < 0.4:
        sets.append(f"admission.max_queue={rng.integers(1, 20)}")
    return [*sets, f"horizon={rng.uniform(600, 1800):.4g}"]


def test_kernel_reproduces_the_simpy_engine_on_random_dynamic_fleets() -> None:
    """40 random autoscaled fleets (seeded): identical logs, fleet events and bills."""
    rng = np.random.default_rng(20261201)
    scaled = changed = 0
    for case in range(40):
        sets = random_dynamic_fleet(rng)
        assert runs_compiled(load_scenario("mmc", sets)), sets
        kernel, simpy = both_engines(sets, seed=case)
        try:
            assert_same_outcome(sets, kernel, simpy)
        except AssertionError as error:
            raise AssertionError(f"random case {case}: {sets}") from error
        scaled += kernel.counters["scale_ups"] > 0 and kernel.counters["scale_downs"] > 0
        changed += kernel.counters["scale_ups"] + kernel.counters["scale_downs"] > 0
    print(f"{changed} of 40 fleets changed size, {scaled} both ways")
    # Most fleets change size, many both ways, so the comparison means something.
    assert changed >= 30 and scaled >= 15


def random_static_fleet(rng: np.random.Generator) -> list[str]:
    """A random fleet (fixed or autoscaled, as above) serving static batches: up to
    `max_batch` requests run as one, the head waiting up to `max_wait` for a fuller one."""
    sets = random_dynamic_fleet(rng)
    if rng.random() < 0.25:
        sets = [s for s in sets if not s.startswith("autoscaling.policy")]
        sets.append("fleet.replicas=" + str(rng.integers(1, 4)))
    max_batch = int(rng.integers(1, 9))
    max_wait_s = rng.choice([0.0, 0.05, 0.5, 2.0, 1.0])
    batching = f'policy="static", max_batch={max_batch}, max_wait={max_wait_s}'
    return [*sets, f"batching={{{batching}}}"]


def test_kernel_reproduces_the_simpy_engine_on_random_static_batching() -> None:
    """14 random fleets serving static batches with max_wait (seeded): identical logs,
    fleet events and bills; most batches hold more than one request."""
    rng = np.random.default_rng(20261202)
    batched = waited = 0
    for case in range(14):
        sets = random_static_fleet(rng)
        assert runs_compiled(load_scenario("mmc", sets)), sets
        kernel, simpy = both_engines(sets, seed=100 + case)
        try:
            assert_same_outcome(sets, kernel, simpy)
        except AssertionError as error:
            raise AssertionError(f"random static case {case}: {sets}") from error
        starts = kernel.log.start_s[np.isfinite(kernel.log.start_s)]
        batched += len(np.unique(starts)) < 0.9 * len(starts)  # requests sharing a start
        waited += "max_wait=0.0" not in sets[-1]
    print(f"{batched} of 14 static fleets batched requests together, {waited} waited to fill")
    assert batched >= 8 and waited >= 8


def random_serverless_fleet(rng: np.random.Generator) -> list[str]:
    """A random serverless fleet: containers from zero or a few, an idle timeout from none
    to half a minute, concurrency per container under static or continuous batching,
    busy-only or whole-life billing, on the knobs of the fleets above."""
    sets = random_dynamic_fleet(rng)
    sets += [
        'autoscaling.policy="serverless"',
        'fleet.market="serverless"',
        "pricing.serverless_usd_per_s=0.0002",
        f"autoscaling.idle_timeout={rng.choice([0, 0, 0.5, 2, 5, 30])}",
        f"autoscaling.billed_only_busy={str(rng.random() < 0.3).lower()}",
    ]
    if rng.random() < 0.4:
        sets.append(f"autoscaling.concurrency_per_replica={rng.integers(1, 6)}")
    if rng.random() < 0.3:
        wait_s = rng.choice([0.0, 0.5, 2.0])
        sets.append(
            f'batching={{policy="static", max_batch={rng.integers(1, 6)}, max_wait={wait_s}}}'
        )
    return sets


def test_kernel_reproduces_the_simpy_engine_on_random_serverless_fleets() -> None:
    """14 random serverless fleets (seeded): identical logs, fleet events and bills;
    containers start on demand and most fleets retire some."""
    rng = np.random.default_rng(20261203)
    launched = retired = 0
    for case in range(14):
        sets = random_serverless_fleet(rng)
        assert runs_compiled(load_scenario("mmc", sets)), sets
        kernel, simpy = both_engines(sets, seed=200 + case)
        try:
            assert_same_outcome(sets, kernel, simpy)
        except AssertionError as error:
            raise AssertionError(f"random serverless case {case}: {sets}") from error
        launched += kernel.counters["launches"] > 0
        retired += any(event.kind == "drain" for event in kernel.fleet_events)
    print(f"of 14 serverless fleets, {launched} started containers, {retired} retired some")
    assert launched >= 10 and retired >= 8


def random_spot_fleet(rng: np.random.Generator) -> list[str]:
    """A random fleet (fixed or autoscaled, as above) with spot replicas, all or a share:
    reclaims from rare to several an hour, with no notice, a short one or one longer
    than the lifetimes, retry or loss of the work in flight, capacity shortages."""
    sets = random_dynamic_fleet(rng)
    if rng.random() < 0.3:
        sets = [s for s in sets if not s.startswith("autoscaling.policy")]
        sets.append("fleet.replicas=" + str(rng.integers(1, 5)))
    if rng.random() < 0.6:
        sets.append('fleet.market="spot"')
    else:
        sets.append(f"fleet.spot_fraction={rng.choice([0.3, 0.5, 0.8])}")
    sets += [
        "pricing.spot_usd_per_hour=1.2",
        f"spot.interruptions_per_hour={rng.choice([0.5, 4, 10, 30])}",
        f"spot.notice={rng.choice([0, 0, 5, 30, 120])}",
        f"spot.retry={str(rng.random() < 0.6).lower()}",
        f"spot.capacity_shortage_probability={rng.choice([0, 0, 0.3, 1])}",
    ]
    if rng.random() < 0.2:
        batch = f'policy="static", max_batch={rng.integers(1, 6)}, max_wait={rng.choice([0, 0.5])}'
        sets.append(f"batching={{{batch}}}")
    return sets


def test_kernel_reproduces_the_simpy_engine_on_random_spot_fleets() -> None:
    """16 random spot fleets (seeded): identical logs (retries too), fleet events and
    bills; most fleets lose replicas to reclaims, and some requests are retried or lost."""
    rng = np.random.default_rng(20261204)
    interrupted = retried = lost = 0
    for case in range(16):
        sets = random_spot_fleet(rng)
        assert runs_compiled(load_scenario("mmc", sets)), sets
        kernel, simpy = both_engines(sets, seed=300 + case)
        try:
            assert_same_outcome(sets, kernel, simpy)
        except AssertionError as error:
            raise AssertionError(f"random spot case {case}: {sets}") from error
        interrupted += kernel.counters["interruptions"] > 0
        retried += bool((kernel.log.retries > 0).any())
        lost += bool((kernel.log.status == LOST).any())
    print(f"of 16 spot fleets, {interrupted} reclaimed, {retried} retried, {lost} lost work")
    assert interrupted >= 12 and retried >= 3 and lost >= 3


@pytest.mark.parametrize("policy", POLICIES)
def test_the_diurnal_api_day_matches_on_every_policy(policy: str) -> None:
    """A bundled scenario's night and morning ramp (about 16,000 requests) on each
    periodic policy, with its own lognormal cold starts."""
    sets = [f'autoscaling.policy="{policy}"', "autoscaling.queue_per_replica=0.5"]
    sets += ["fleet.replicas=2", "horizon=12h", "traffic.requests_per_day=40000"]
    scenario = load_scenario("diurnal-api", sets)
    outcomes = []
    for use_simpy in (False, True):
        streams = replication_streams(11, 0)
        requests = generate_requests(scenario, streams["traffic"])
        service = build_service_model(scenario)
        outcomes.append(engine_outcome(scenario, requests, streams, service, use_simpy))
    kernel, simpy = outcomes
    assert kernel.counters["launches"] > 0
    np.testing.assert_array_equal(kernel.log.finish_s, simpy.log.finish_s)
    assert kernel.fleet_events == simpy.fleet_events
    assert kernel.lifetimes == simpy.lifetimes
    assert kernel.counters == simpy.counters


def test_a_reclaim_takes_down_the_prompt_part_way_through_prefill_on_both_engines() -> None:
    """Long prompts over a small token budget are always part-way through prefill: a
    reclaim without notice retries that prompt too (`Replica.in_service`), on both."""
    sets = [
        *ROOFLINE,
        'fleet.gpu="A100-80GB"',
        "fleet.replicas=3",
        'fleet.market="spot"',
        "pricing.spot_usd_per_hour=1.2",
        "spot.interruptions_per_hour=30",
        "spot.notice=0",
        "horizon=1200",
        "traffic.rate_per_s=2",
        'batching={policy="continuous", max_batch=8, max_num_batched_tokens=64}',
        'requests.prompt_tokens={dist="fixed", value=1500}',
        'requests.output_tokens={dist="fixed", value=20}',
    ]
    assert runs_compiled(load_scenario("mmc", sets))
    kernel, simpy = both_engines(sets, seed=5)
    assert_same_outcome(sets, kernel, simpy)
    assert kernel.counters["interruptions"] > 0 and (kernel.log.retries > 0).any()
