"""Inputs that once hung or exhausted memory end, quickly, in one clear line and exit 2.

A diurnal peak too sharp to integrate, spot reclaims faster than replicas can
start, fleets and batches of absurd size, and traffic bins in microseconds: each
is refused by the schema, the spot check, the run plan or the traffic verb, and
what is accepted at the limits runs in bounded time.
"""

from __future__ import annotations

import time

import pytest
from engine_helpers import run_once
from typer.testing import CliRunner

from distributions.profiles import DiurnalShape, diurnal
from distributions.traffic import expected_request_count, traffic_summary
from sim.cli import app
from sim.montecarlo.run_plan import expected_launches
from sim.scenario.file import load_scenario

INT64_MAX = 2**63 - 1


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def refused(runner: CliRunner, *args: str) -> str:
    """Run the CLI; assert it ends within seconds in one `capsim:` line and exit 2."""
    started = time.perf_counter()
    result = runner.invoke(app, list(args), env={"COLUMNS": "250"})
    assert time.perf_counter() - started < 20
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("capsim: ")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


# ---------------------------------------------------------------- the diurnal peak


@pytest.mark.parametrize("ratio", ["50", "1000"])
@pytest.mark.parametrize("verb", [("validate",), ("run", "-n", "1"), ("traffic",)], ids=" ".join)
def test_a_diurnal_peak_beyond_the_supported_ratio_is_refused(runner, verb, ratio) -> None:
    sets = ["--set", 'traffic.profile="diurnal"', "--set", f"traffic.peak_to_mean={ratio}"]
    message = refused(runner, verb[0], "redai-1k", *verb[1:], *sets)
    for fragment in ("traffic.peak_to_mean", "at most 10", f"(got {ratio})", "bursts"):
        assert fragment in message


def test_the_diurnal_shape_itself_refuses_a_sharper_peak_than_it_can_integrate() -> None:
    with pytest.raises(ValueError, match="peak_to_mean <= 10"):
        DiurnalShape(peak_to_mean=50.0)
    # At the limit the shape is exact and cheap: 32 cosine terms.
    profile = diurnal(1.0, 10.0)
    assert profile.diurnal.power == 32
    assert float(profile.cumulative(86400.0)) == pytest.approx(86400.0, rel=1e-12)


# ---------------------------------------------------------------- spot reclaims


def test_reclaims_faster_than_one_a_minute_are_refused(runner) -> None:
    sets = ['fleet.market="spot"', "spot.interruptions_per_hour=10000", 'horizon="10m"']
    message = refused(runner, "run", "mmc", "-n", "1", *[a for s in sets for a in ("--set", s)])
    for fragment in ("spot.interruptions_per_hour", "at most 60", "(got 10000)"):
        assert fragment in message


@pytest.mark.parametrize(
    ("sets", "fragments"),
    [
        (["spot.interruptions_per_hour=60", "spot.notice=61"], ["spot.notice", "61 s", "60 s"]),
        # The notice from the catalog: aws gives 120 s, so 40 an hour (90 s lives) is too many.
        (["spot.interruptions_per_hour=40"], ["spot.interruptions_per_hour", "aws", "90 s"]),
    ],
)
def test_a_notice_longer_than_the_mean_life_is_refused(runner, sets, fragments) -> None:
    sets = ['fleet.market="spot"', *sets]
    message = refused(runner, "validate", "mmc", *[a for s in sets for a in ("--set", s)])
    for fragment in fragments:
        assert fragment in message


def test_the_fastest_reclaims_accepted_run_in_bounded_time() -> None:
    """60 an hour with a 60 s notice and no cold start: 63 % of replicas are noticed as they
    start, so replacements come in chains at one instant; each chain is short (mean e)."""
    sets = [
        'autoscaling.policy="fixed"',
        "fleet.replicas=4",
        'fleet.market="spot"',
        "spot.interruptions_per_hour=60",
        "spot.notice=60",
        'autoscaling.cold_start={dist="fixed", value=0}',
        'horizon="30m"',
    ]
    started = time.perf_counter()
    result = run_once(sets, base="diurnal-api", seed=4)
    assert time.perf_counter() - started < 20
    scenario = load_scenario("diurnal-api", sets)
    estimate = expected_launches(scenario, expected_request_count(scenario))
    # 4 + 4 x 0.5 h x 60 / h x e = 330 expected; a Poisson count of that size is within 20 %.
    assert estimate == pytest.approx(4 + 4 * 30 * 2.718281828, rel=1e-6)
    assert 0.8 * estimate < result.events["launches"] < 1.2 * estimate


# ---------------------------------------------------------------- fleet and batch sizes


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("fleet.replicas=200000000", ["fleet.replicas", "at most 100000", "200000000"]),
        (f"fleet.replicas={INT64_MAX}", ["fleet.replicas", "at most 100000", str(INT64_MAX)]),
        (f"batching.max_batch={INT64_MAX}", ["batching.max_batch", "at most 65536"]),
        (f"fleet.gpus_per_replica={INT64_MAX + 1}", ["fleet.gpus_per_replica", "at most 1024"]),
        ("autoscaling.max_replicas=1000000000", ["autoscaling.max_replicas", "at most"]),
    ],
)
@pytest.mark.parametrize("verb", [("validate",), ("run", "-n", "1")], ids=" ".join)
def test_absurd_fleet_and_batch_sizes_are_refused_by_the_schema(
    runner, verb, override, fragments
) -> None:
    message = refused(runner, verb[0], "diurnal-chat", *verb[1:], "--set", override)
    assert "shorten the horizon" not in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("base", "sets"),
    [
        # The kernel: a finish key per batch slot, 1e5 x 65,536 x 8 B = 52 TB.
        ("diurnal-chat", ["fleet.replicas=100000", "batching.max_batch=65536"]),
        # SimPy: a container per request (idle_timeout 0), 1e9 requests a day for 30 days.
        ("redai-100k", ["traffic.requests_per_day=1e9", 'horizon="30d"']),
    ],
    ids=["kernel-batch-slots", "simpy-containers"],
)
def test_a_fleet_too_big_for_memory_is_refused_before_it_starts(runner, base, sets) -> None:
    args = [a for s in sets for a in ("--set", s)]
    # The exact engine's plan refuses; `--engine auto` would hand the run to the fast one.
    message = refused(runner, "run", base, "-n", "1", "--yes", "--engine", "exact", *args)
    assert "replicas launched" in message and "more than this machine" in message


def test_the_largest_queue_limit_is_no_limit_in_the_kernel() -> None:
    """max_queue x replicas (shared line) once overflowed the kernel's int64 at 2**63 - 1;
    the schema now stops at 1e9 a replica, and at that limit nothing overflows."""
    sets = ['horizon="10m"', 'fleet.router="shared-queue"']
    huge = run_once([*sets, "admission.max_queue=1000000000"])
    unbounded = run_once(sets)
    assert huge.requests == unbounded.requests
    assert huge.latency_s == unbounded.latency_s


# ---------------------------------------------------------------- traffic bins


def test_bins_too_narrow_for_the_horizon_are_refused_with_the_narrowest_allowed(runner) -> None:
    message = refused(runner, "traffic", "mmc", "--bins", "1us")  # 7.2e9 bins over 2 h
    for fragment in ("--bins", "7,200,000,000", "1,000,000", "--bins 7.2ms"):
        assert fragment in message
    result = runner.invoke(app, ["traffic", "mmc", "--bins", "7.2ms", "--csv"])
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 1 + 1_000_000  # a header and the bins


def test_the_traffic_summary_refuses_too_many_bins() -> None:
    with pytest.raises(ValueError, match="1,000,000 bins"):
        traffic_summary(load_scenario("mmc"), bin_s=1e-6)
