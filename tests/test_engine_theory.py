"""The engine against queueing theory: Erlang C, Pollaczek-Khinchine, Little's law.

Each statistical check runs ten independent replications with fixed seeds,
drops the first 10% of each horizon as warm-up, and allows four standard errors
of the replication mean. (One long run with batch means understates the error
near saturation, where waits stay correlated for thousands of requests.)
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import replicated_mean, run_once

from sim.baseline.queueing_theory import (
    mmc_mean_wait_s,
    mmc_wait_quantile_s,
    pollaczek_khinchine_mean_wait_s,
)


def mean_wait(log, keep) -> float:
    return float((log.start_s - log.arrival_s)[keep].mean())


# (servers, utilisation, requests per replication): more where the queue relaxes slowly.
MMC_CASES = [(1, 0.8, 20_000), (1, 0.95, 60_000), (4, 0.8, 20_000), (4, 0.95, 40_000)]


@pytest.mark.parametrize(("servers", "rho", "requests"), MMC_CASES)
def test_mmc_waits_match_erlang_c(servers: int, rho: float, requests: int) -> None:
    rate = rho * servers  # exponential service, mean 1 s
    sets = [
        f"fleet.replicas={servers}",
        f"traffic.rate_per_s={rate}",
        f"horizon={requests / rate}",
        'fleet.router="shared-queue"',
    ]
    mean, error = replicated_mean(sets, mean_wait)
    theory = mmc_mean_wait_s(servers, rate, 1.0)
    assert abs(mean - theory) < 4 * error, (mean, theory, error)
    assert error < 0.1 * theory  # long enough for the check to mean something

    # p99: the share of waits above the theoretical p99 is 1%, within its own error.
    p99 = mmc_wait_quantile_s(servers, rate, 1.0, 0.99)

    def share_above_p99(log, keep) -> float:
        return float(((log.start_s - log.arrival_s)[keep] > p99).mean())

    share, share_error = replicated_mean(sets, share_above_p99)
    assert abs(share - 0.01) < 4 * share_error, (share, share_error, p99)


def test_random_router_splits_into_independent_mm1_queues() -> None:
    servers, rate = 4, 3.2  # each replica an M/M/1 at utilisation 0.8
    sets = [
        f"fleet.replicas={servers}",
        f"traffic.rate_per_s={rate}",
        f"horizon={40_000 / rate}",
        'fleet.router="random"',
    ]
    mean, error = replicated_mean(sets, mean_wait)
    theory = mmc_mean_wait_s(1, rate / servers, 1.0)
    assert abs(mean - theory) < 4 * error, (mean, theory, error)


@pytest.mark.parametrize(
    ("latency", "cv"),
    [('{dist="fixed", value=1.0}', 0.0), ('{dist="lognormal", mean=1.0, cv=0.5}', 0.5)],
)
def test_mg1_mean_wait_matches_pollaczek_khinchine(latency: str, cv: float) -> None:
    rate = 0.8
    sets = [
        "fleet.replicas=1",
        f"traffic.rate_per_s={rate}",
        f"horizon={25_000 / rate}",
        f"service.latency={latency}",
    ]
    mean, error = replicated_mean(sets, mean_wait)
    theory = pollaczek_khinchine_mean_wait_s(rate, 1.0, cv)
    assert abs(mean - theory) < 4 * error, (mean, theory, error)


def test_littles_law_holds_between_time_averages_and_request_waits() -> None:
    """Time-average queue length (from the waiting line) = arrival rate x mean wait."""
    result = run_once(["fleet.replicas=3", "traffic.rate_per_s=2.7", "horizon=20000"])
    log = result.log
    assert result.requests["completed"] == result.requests["arrived"]
    wait = log.start_s - log.arrival_s
    arrival_rate = result.requests["arrived"] / result.end_s
    assert result.mean_queue_length == pytest.approx(arrival_rate * wait.mean(), rel=1e-9)
    # And in service: busy replica-time per replica-second = mean requests in service.
    service = log.finish_s - log.start_s
    in_service = result.requests["arrived"] / result.end_s * service.mean() / 3
    assert result.mean_running_per_replica == pytest.approx(in_service, rel=1e-9)


def test_utilisation_is_offered_load_per_server() -> None:
    result = run_once(["fleet.replicas=4", "traffic.rate_per_s=2.4", "horizon=50000"])
    requests = result.requests["arrived"]
    expected = 2.4 / 4
    # Work is a compound Poisson sum of exponential services: relative sd sqrt(2 / N).
    assert result.utilization == pytest.approx(expected, abs=4 * expected * np.sqrt(2 / requests))
