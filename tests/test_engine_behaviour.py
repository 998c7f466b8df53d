"""The engine's behaviour beyond queueing theory: admission, batching, routing, determinism.

Every run here is checked for conservation (arrived = completed + dropped +
timed_out + in_flight + lost, each bucket consistent with its timestamps).
Continuous batching is held against a plain step-by-step reference
(`behaviour_helpers.reference_continuous`); static batching, timeouts and
max_wait against hand-worked timelines; capacity claims against the
service-time model's own figures. Seeds are fixed; statistical tolerances come
from the number of samples.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from behaviour_helpers import (
    LLAMA_7B_T4,
    LLAMA_8B_A100,
    assert_conserved,
    max_in_service,
    max_waiting,
    reference_continuous,
    run_requests,
)
from engine_helpers import run_once
from scipy import stats

from sim.engine.request_log import COMPLETED, DROPPED, TIMED_OUT
from sim.engine.routers import least_loaded
from sim.engine.service_time import RooflineModel, build_service_model
from sim.fleet.capacity import replica_capacity_per_s
from sim.montecarlo.replication import drain_limit_s
from sim.montecarlo.replications import run_replications
from sim.scenario.file import load_scenario


def roofline(sets: list[str]) -> RooflineModel:
    model = build_service_model(load_scenario("mmc", sets))
    assert isinstance(model, RooflineModel)
    return model


# ------------------------------------------------------------------ 1. admission under overload


@pytest.mark.parametrize("router", ["shared-queue", "least-loaded"])
def test_overload_with_queue_cap_and_timeout_finishes_and_counts_everything(router: str) -> None:
    """M/M/2 at utilisation 1.5 with at most 5 waiting per replica and a 3 s timeout."""
    replicas, max_queue, timeout_s = 2, 5, 3.0
    sets = [
        f"fleet.replicas={replicas}",
        "traffic.rate_per_s=3",
        "horizon=3000",
        f'fleet.router="{router}"',
        f"admission.max_queue={max_queue}",
        f"admission.timeout={timeout_s}",
    ]
    result = run_once(sets)
    assert_conserved(result, timeout_s=timeout_s)
    counts = result.requests
    scenario = load_scenario("mmc", sets)
    assert result.end_s <= scenario.horizon + drain_limit_s(scenario)
    assert counts["dropped"] > 0.05 * counts["arrived"], counts
    assert counts["timed_out"] > 0.05 * counts["arrived"], counts
    # Nobody waits beyond the cap, at any instant (log: arrived, not started, not resolved).
    assert max_waiting(result) <= max_queue * replicas
    assert result.mean_queue_length < max_queue * replicas
    # Completions are bounded by capacity: the busy time they used fits in 2 replicas.
    log = result.log
    done = log.status == COMPLETED
    assert float((log.finish_s - log.start_s)[done].sum()) <= replicas * result.end_s
    # ...so at most 2 requests a second (mean service 1 s) were served, within noise.
    served_per_s = counts["completed"] / result.end_s
    assert served_per_s <= replicas * (1 + 4 / math.sqrt(counts["completed"]))
    # The fleet runs close to flat out (0.997 on a shared line; 0.975 with least-loaded,
    # whose per-replica lines can leave one replica idle while another has a queue).
    assert result.utilization > 0.9


# ------------------------------------------------------------------ 2. static batching

STATIC = [
    "fleet.replicas=1",
    'service.latency={dist="fixed", value=2.0}',
    "service.batch_overhead=0.15",
    "service.batch_overhead_at=10",
]


def test_static_batching_throughput_ceiling_is_max_batch_over_batch_time() -> None:
    """10 requests take 2.3 s: at 8 req/s offered, one replica completes 10 / 2.3 = 4.348/s."""
    sets = [
        *STATIC,
        'batching={policy="static", max_batch=10}',
        "traffic.rate_per_s=8",
        "horizon=2000",
        "admission.max_queue=30",
    ]
    result = run_once(sets)
    assert_conserved(result)
    ceiling = 10 / 2.3
    assert result.throughput_per_s == pytest.approx(ceiling, rel=0.01)  # measured 4.342
    log = result.log
    done = log.status == COMPLETED
    starts, sizes = np.unique(log.start_s[done], return_counts=True)
    durations = np.array([log.finish_s[done][log.start_s[done] == s][0] - s for s in starts])
    # Every batch of n takes 2 x (1 + 0.15 (n - 1) / 9); batches run back to back.
    assert np.allclose(durations, 2 * (1 + 0.15 * (sizes - 1) / 9), rtol=1e-12)
    saturated = (starts > 10) & (starts < 1900)
    assert np.all(sizes[saturated] == 10)
    gaps = np.diff(starts[saturated])
    assert np.allclose(gaps, 2.3, rtol=1e-9)
    # In the saturated stretch the measured rate is the ceiling itself.
    window = starts[saturated]
    rate = 10 * (len(window) - 1) / (window[-1] - window[0])
    assert rate == pytest.approx(ceiling, rel=1e-9)
    assert max_waiting(result) <= 30


@pytest.mark.parametrize("router", ["shared-queue", "least-loaded"])
def test_max_wait_holds_a_lone_request_then_serves_what_came(router: str) -> None:
    sets = [
        *STATIC,
        f'fleet.router="{router}"',
        'batching={policy="static", max_batch=10, max_wait=0.5}',
        "horizon=100",
    ]
    # A lone request at 5; two at 20 and 20.2 (one batch of 2); one at 40.
    result = run_requests(sets, [5.0, 20.0, 20.2, 40.0])
    assert_conserved(result)
    log = result.log
    assert np.allclose(log.start_s, [5.5, 20.5, 20.5, 40.5], rtol=0, atol=1e-12)
    pair_s = 2 * (1 + 0.15 / 9)
    assert np.allclose(log.finish_s, [7.5, 20.5 + pair_s, 20.5 + pair_s, 42.5], atol=1e-12)


def full_batch_case(router: str):
    sets = [
        *STATIC,
        f'fleet.router="{router}"',
        'batching={policy="static", max_batch=10, max_wait=0.5}',
        "horizon=100",
    ]
    arrivals = [1.0 + 0.01 * i for i in range(10)]
    return run_requests(sets, arrivals), arrivals[-1]


def test_a_full_batch_starts_without_waiting_out_max_wait() -> None:
    result, tenth_arrival_s = full_batch_case("least-loaded")
    assert_conserved(result)
    assert np.allclose(result.log.start_s, tenth_arrival_s, atol=1e-12)


def test_a_full_batch_starts_without_waiting_out_max_wait_on_a_shared_line() -> None:
    result, tenth_arrival_s = full_batch_case("shared-queue")
    assert_conserved(result)
    # Starts at 1.5 (first arrival + max_wait) instead of 1.09.
    assert np.allclose(result.log.start_s, tenth_arrival_s, atol=1e-12)


# ------------------------------------------------------------------ 4. continuous batching

CONTINUOUS_8 = [*LLAMA_8B_A100, 'batching={policy="continuous", max_batch=8}', "fleet.replicas=1"]


def test_a_lone_request_finishes_at_request_alone_s() -> None:
    model = roofline(CONTINUOUS_8)
    result = run_requests([*CONTINUOUS_8, "horizon=100"], [3.0])
    assert_conserved(result)
    log = result.log
    alone_s = model.request_alone_s(200, 300)  # 4.0425 s
    assert log.start_s[0] == 3.0
    assert log.finish_s[0] - 3.0 == pytest.approx(alone_s, rel=1e-12)
    prefill_s = model.step_s(200, 0, 0.0, 200 * 201 / 2)
    assert log.first_token_s[0] - 3.0 == pytest.approx(prefill_s, rel=1e-12)
    tpot = result.latency_s["tpot"]["mean"]
    assert tpot == pytest.approx(model.decode_span_s(299, 1, 201) / 299, rel=1e-12)


def random_workload(seed: int, n: int, rate: float, prompt_max: int, output_max: int):
    rng = np.random.default_rng(seed)
    arrival = np.cumsum(rng.exponential(1 / rate, n))
    prompt = rng.integers(20, prompt_max, n)
    output = rng.integers(1, output_max, n)
    return arrival, prompt, output


@pytest.mark.parametrize("router", ["shared-queue", "least-loaded"])
@pytest.mark.parametrize(
    ("name", "sets", "max_batch", "workload"),
    [
        # Llama-8B on an A100, batch 4, near saturation: slots are the limit.
        ("slots", LLAMA_8B_A100, 4, (31, 300, 2.4, 800, 200)),
        # 7B on a T4 (3814 tokens of KV cache): memory is the limit; some requests
        # need more than the whole cache and are dropped.
        ("kv", LLAMA_7B_T4, 16, (37, 80, 0.04, 2500, 1500)),
        # A 96-token budget: prompts of up to 900 tokens are prefilled in chunks over
        # several steps that the running decodes share, and newcomers wait for room.
        ("chunked", LLAMA_8B_A100, 8, (41, 200, 1.5, 900, 150)),
    ],
)
def test_continuous_batching_matches_a_step_by_step_reference(
    router: str, name: str, sets: list[str], max_batch: int, workload
) -> None:
    """Start, first-token and finish times of every request equal a step-at-a-time model.

    The engine plans runs of decode steps as one event and cuts them at the next
    step boundary when a newcomer arrives; the reference steps one at a time.
    """
    seed, n, rate, prompt_max, output_max = workload
    arrival, prompt, output = random_workload(seed, n, rate, prompt_max, output_max)
    scenario_sets = [
        *sets,
        f'batching={{policy="continuous", max_batch={max_batch}}}',
        f'fleet.router="{router}"',
        "fleet.replicas=1",
        f"horizon={4 * arrival[-1]}",  # the run goes on 0.25 horizons: all finish
    ]
    if name == "chunked":
        scenario_sets.append("batching.max_num_batched_tokens=96")
    model = roofline(scenario_sets)
    result = run_requests(scenario_sets, arrival, prompt, output)
    assert_conserved(result)
    expected = reference_continuous(model, arrival, prompt, output, max_batch)
    log = result.log
    assert np.array_equal(log.status, expected["status"])
    for key in ("start_s", "first_token_s", "finish_s"):
        assert np.allclose(getattr(log, key), expected[key], rtol=1e-9, equal_nan=True), key
    served = log.status == COMPLETED
    assert served.sum() > 0.8 * n
    if name == "chunked":
        # The budget stretches time to first token beyond one whole-prompt prefill step.
        whole_prompt_s = np.array([model.step_s(p, 0, 0.0, p * (p + 1) / 2) for p in prompt])
        waited_s = (log.first_token_s - log.start_s)[served]
        assert np.mean(waited_s > 1.5 * whole_prompt_s[served]) > 0.5
    if name == "kv":
        assert (log.status == DROPPED).sum() > 0
        assert max_in_service(result, 0) < max_batch  # KV memory bound it, not slots
    elif name == "slots":
        assert max_in_service(result, 0) == max_batch
        assert (log.start_s - log.arrival_s)[served].max() > 1.0  # a real queue formed


def test_continuous_batching_under_load_respects_max_batch_and_token_timing() -> None:
    """3 replicas, max_batch 8, offered 6 req/s against a capacity of about 3 x 1.94."""
    sets = [*CONTINUOUS_8, "fleet.replicas=3", 'fleet.router="least-loaded"']
    sets += ["traffic.rate_per_s=6", "horizon=600"]
    result = run_once(sets)
    assert_conserved(result)
    model = roofline(sets)
    log = result.log
    done = log.status == COMPLETED
    ttft = (log.first_token_s - log.arrival_s)[done]
    e2e = (log.finish_s - log.arrival_s)[done]
    assert np.all(ttft <= e2e) and np.all(ttft > 0)
    # Each token after the first takes one step: at least a batch-1 decode step with the
    # request's own context, at most a step prefilling 7 prompts beside a full batch.
    tpot = (log.finish_s - log.first_token_s)[done] / 299
    assert np.all(tpot >= model.step_s(0, 1, 201) * (1 - 1e-12))
    assert np.all(tpot <= model.step_s(7 * 200, 8, 8 * 500, 7 * 200 * 201 / 2))
    # Slots: never more than max_batch in service per replica, and all 8 used.
    for replica in range(3):
        assert max_in_service(result, replica) == 8
    assert result.mean_running_per_replica <= 8
    assert result.mean_running_per_replica > 7.5  # overloaded: the batch stays full


def test_kv_memory_caps_concurrency_below_max_batch() -> None:
    """7B on a T4: 0.9 x (16 - 14) GB / 512 KiB per token = 3433 tokens = 6 requests of 500."""
    sets = [*LLAMA_7B_T4, 'batching={policy="continuous", max_batch=16}']
    sets += ["fleet.replicas=2", 'fleet.router="least-loaded"', "admission.max_queue=20"]
    sets += ["traffic.rate_per_s=5", "horizon=300"]
    model = roofline(sets)
    assert model.kv_capacity_tokens == int(0.9 * (16e9 - 14e9) // (2 * 32 * 32 * 128 * 2)) == 3433
    result = run_once(sets)
    assert_conserved(result)
    for replica in range(2):
        assert max_in_service(result, replica) == 3433 // 500 == 6
    assert 5.5 < result.mean_running_per_replica <= 6


# ------------------------------------------------------------------ 5. capacity is physical


def test_halving_the_replicas_lengthens_the_queue() -> None:
    """M/M/c at 3.2 req/s: c = 8 (utilisation 0.4) against c = 4 (0.8), 5 replications each.

    Erlang C gives a mean wait of 0.0025 s against 0.75 s, and a p99 time in system
    of 4.6 s against 6.9 s.
    """
    figures = {}
    for replicas in (8, 4):
        waits, p99s = [], []
        for replication in range(5):
            sets = [f"fleet.replicas={replicas}", "traffic.rate_per_s=3.2", "horizon=3000"]
            result = run_once(sets, replication=replication)
            assert_conserved(result)
            waits.append(result.latency_s["wait"]["mean"])
            p99s.append(result.latency_s["e2e"]["p99"])
        figures[replicas] = (np.mean(waits), np.mean(p99s), np.std(p99s, ddof=1) / np.sqrt(5))
    wait_8, p99_8, error_8 = figures[8]
    wait_4, p99_4, error_4 = figures[4]
    assert wait_4 > 20 * wait_8, figures
    assert p99_4 - p99_8 > 4 * math.hypot(error_4, error_8), figures
    assert p99_4 > 1.2 * p99_8, figures


def test_p99_at_4_replicas_is_far_above_p99_at_49() -> None:
    """A peer simulator that frees slots early barely moves its p99 between 4 and 49 GPUs.

    Load: 8 replicas' worth of continuous-batching capacity (batch 16), so 4 replicas
    are overloaded 2x and 49 are nearly idle.
    """
    base = [*LLAMA_8B_A100, 'batching={policy="continuous", max_batch=16}']
    base += ['fleet.router="least-loaded"', "horizon=300"]
    scenario = load_scenario("mmc", base)
    model = build_service_model(scenario)
    capacity = replica_capacity_per_s(scenario, model)  # 3.80 req/s per replica
    rate = 8 * capacity
    assert rate > 4 * capacity * 1.5  # theory: 4 replicas are overloaded
    results = {}
    for replicas in (4, 49):
        results[replicas] = run_once(
            [*base, f"fleet.replicas={replicas}", f"traffic.rate_per_s={rate}"]
        )
        assert_conserved(results[replicas])
    p99_4 = results[4].latency_s["e2e"]["p99"]
    p99_49 = results[49].latency_s["e2e"]["p99"]
    assert p99_4 > 5 * p99_49, (p99_4, p99_49)
    # The overloaded fleet also leaves work unfinished; the large one finishes everything.
    assert results[4].requests["in_flight"] > 0
    assert results[49].requests["completed"] == results[49].requests["arrived"]
    # At 49 replicas a request takes about its time alone, tokens at the batch-1 step time.
    alone_s = model.request_alone_s(200, 300)
    assert p99_49 < 1.1 * alone_s
    step_s = model.decode_span_s(299, 1, 201) / 299
    assert results[49].latency_s["tpot"]["p50"] == pytest.approx(step_s, rel=0.03)


# ------------------------------------------------------------------ 6. least-loaded routing


def test_least_loaded_picks_fewest_queued_plus_running() -> None:
    choose = least_loaded(np.random.default_rng(3))
    # The router is handed queued plus running: fewest waiting (0 + 5) is not fewest outstanding.
    assert choose([0 + 5, 2 + 0]) == 1
    loads = [q + r for q, r in [(3, 4), (1, 2), (0, 4), (2, 2), (0, 3), (5, 0)]]
    for _ in range(200):
        assert loads[choose(loads)] == 3


def test_least_loaded_breaks_ties_uniformly_at_random() -> None:
    choose = least_loaded(np.random.default_rng(2024))
    loads = [2, 1, 2, 3, 1, 1]
    tied = [1, 4, 5]  # load 1; the others carry 2 or 3
    draws = 30_000
    picks = [choose(loads) for _ in range(draws)]
    counts = np.bincount(picks, minlength=len(loads))
    assert counts.sum() == counts[tied].sum()  # never a replica off the minimum
    _, p_value = stats.chisquare(counts[tied])
    assert p_value > 1e-3, counts
    # A two-way tie at the ends of the list is split evenly too.
    firsts = sum(choose([0, 1, 0]) == 0 for _ in range(draws))
    assert abs(firsts - draws / 2) < 4 * math.sqrt(draws / 4), firsts


def test_least_loaded_gives_each_replica_a_fair_share() -> None:
    """8 replicas at utilisation 0.7: by symmetry each serves 1/8 of the requests.

    Tolerance: 4 binomial standard deviations of a 1/8 share of N requests (least
    loaded spreads work at least as evenly as independent coin flips would).
    """
    replicas = 8
    sets = [
        f"fleet.replicas={replicas}",
        'fleet.router="least-loaded"',
        "traffic.rate_per_s=5.6",
        "horizon=3000",
    ]
    result = run_once(sets)
    assert_conserved(result)
    log = result.log
    served = np.bincount(log.replica[log.status == COMPLETED], minlength=replicas)
    total = served.sum()
    sd = math.sqrt(total * (1 / replicas) * (1 - 1 / replicas))
    assert np.all(np.abs(served - total / replicas) < 4 * sd), (served, sd)


# ------------------------------------------------------------------ 7. determinism


def same_row(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    return all(
        (
            isinstance(a[k], float)
            and isinstance(b[k], float)
            and math.isnan(a[k])
            and math.isnan(b[k])
        )
        or a[k] == b[k]
        for k in a
    )


DETERMINISM = [
    *LLAMA_8B_A100,
    'requests.output_tokens={dist="lognormal", mean=300, cv=0.6}',
    'batching={policy="continuous", max_batch=8}',
    "fleet.replicas=3",
    'fleet.router="least-loaded"',
    "traffic.rate_per_s=4",
    "horizon=200",
]


def test_same_seed_same_results() -> None:
    first, second = run_once(DETERMINISM, seed=99), run_once(DETERMINISM, seed=99)
    assert_conserved(first)
    assert same_row(first.row(), second.row())
    for key in ("arrival_s", "start_s", "first_token_s", "finish_s", "status", "replica"):
        assert np.array_equal(getattr(first.log, key), getattr(second.log, key), equal_nan=True)
    other = run_once(DETERMINISM, seed=100)
    assert not same_row(first.row(), other.row())
    assert first.latency_s["e2e"]["mean"] != other.latency_s["e2e"]["mean"]


def test_replications_do_not_depend_on_the_number_of_workers() -> None:
    scenario = load_scenario("mmc", [*DETERMINISM, "seed=5"])
    one = run_replications(scenario, replications=3, workers=1)
    two = run_replications(scenario, replications=3, workers=2)
    assert [r.replication for r in two] == [0, 1, 2]
    for a, b in zip(one, two, strict=True):
        assert same_row(a.row(), b.row())
        for metric, histogram in a.latency_histograms.items():
            assert np.array_equal(histogram, b.latency_histograms[metric])
    assert not same_row(one[0].row(), one[1].row())  # replications differ from each other
    reseeded = run_replications(load_scenario("mmc", [*DETERMINISM, "seed=6"]), replications=1)
    assert not same_row(one[0].row(), reseeded[0].row())


# ------------------------------------------------------------------ 8. timeouts


# Horizons under a minute need a billing minimum that fits in them (see sim/money/billing.py).
SHORT_HORIZON_BILLING = ["pricing.minimum_billed=0"]


def test_a_request_that_waits_past_the_timeout_leaves_and_is_never_served() -> None:
    """One replica, 10 s per request, 5 s timeout. Hand-worked timeline:

    0 served 0-10; 1 and 2 (arrived 1, 2) would start at 10: they leave at 6 and 7;
    3 (arrived 6) starts at 10 after 4 s and ends at 20; 4 (arrived 12) would start
    at 20: leaves at 17; 5 (arrived 16.5) starts at 20 after 3.5 s.
    """
    sets = ["fleet.replicas=1", 'service.latency={dist="fixed", value=10.0}']
    sets += ["admission.timeout=5", "horizon=40", *SHORT_HORIZON_BILLING]
    result = run_requests(sets, [0.0, 1.0, 2.0, 6.0, 12.0, 16.5])
    assert_conserved(result, timeout_s=5.0)
    log = result.log
    expected_status = [COMPLETED, TIMED_OUT, TIMED_OUT, COMPLETED, TIMED_OUT, COMPLETED]
    assert log.status.tolist() == expected_status
    assert np.allclose(log.finish_s, [10, 6, 7, 20, 17, 30], atol=1e-12)
    assert np.allclose(log.start_s, [0, np.nan, np.nan, 10, np.nan, 20], equal_nan=True)
    assert result.requests["timed_out"] == 3 and result.requests["completed"] == 3


def test_requests_still_waiting_when_the_run_stops_time_out_at_arrival_plus_timeout() -> None:
    """A 100 s request holds the only replica past the end of the run (20 + 5 + 5 s)."""
    sets = ["fleet.replicas=1", 'service.latency={dist="fixed", value=100.0}']
    sets += ["admission.timeout=5", "horizon=20", *SHORT_HORIZON_BILLING]
    result = run_requests(sets, [0.0, 1.0])
    assert_conserved(result, timeout_s=5.0)
    assert result.end_s == pytest.approx(30.0)
    assert result.requests["in_flight"] == 1 and result.requests["timed_out"] == 1
    assert result.log.finish_s[1] == pytest.approx(6.0)


def test_continuous_batching_times_out_requests_that_cannot_get_a_slot() -> None:
    """max_batch 1 on the roofline: the second request waits 4.04 s, past a 2 s timeout."""
    sets = [*LLAMA_8B_A100, 'batching={policy="continuous", max_batch=1}', "fleet.replicas=1"]
    sets += ["admission.timeout=2", "horizon=50", *SHORT_HORIZON_BILLING]
    result = run_requests(sets, [0.0, 0.5, 10.0])
    assert_conserved(result, timeout_s=2.0)
    assert result.log.status.tolist() == [COMPLETED, TIMED_OUT, COMPLETED]
    assert result.log.finish_s[1] == pytest.approx(2.5)


@pytest.mark.parametrize("router", ["shared-queue", "least-loaded"])
def test_a_timed_out_request_frees_its_place_in_the_queue(router: str) -> None:
    """One replica, 10 s per request, max_queue 1, timeout 5.

    0 is served 0-10; 1 waits from 1 and leaves at 6; 7 arrives to an empty line (1
    has gone), waits 3 s < 5 s and is served 10-20. Mean queue length: (5 + 3) / 20.
    """
    sets = ["fleet.replicas=1", 'service.latency={dist="fixed", value=10.0}']
    sets += ["admission.timeout=5", "admission.max_queue=1", "horizon=40", *SHORT_HORIZON_BILLING]
    result = run_requests([*sets, f'fleet.router="{router}"'], [0.0, 1.0, 7.0])
    assert_conserved(result, timeout_s=5.0)
    log = result.log
    # The engine drops request 2 at 7.0: status [1, 3, 2], mean queue length 9 / 10.
    assert log.status.tolist() == [COMPLETED, TIMED_OUT, COMPLETED]
    assert np.allclose(log.finish_s, [10, 6, 20], atol=1e-12)
    # 8 request-seconds of waiting over the run (which lasts the whole horizon).
    assert result.mean_queue_length == pytest.approx(8 / result.end_s)
