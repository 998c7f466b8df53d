"""Closed-form queueing results the engine is checked against (and planners can use).

Erlang C for M/M/c, Pollaczek-Khinchine for M/G/1. Rates are per second, and
times are in seconds.
"""

from __future__ import annotations

import math


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arrival waits in an M/M/c queue (offered load a = lambda / mu < c)."""
    if offered_load >= servers:
        return 1.0
    term = 1.0
    total = 1.0  # sum of a^k / k! for k < c, built up without factorial overflow
    for k in range(1, servers):
        term *= offered_load / k
        total += term
    last = term * offered_load / servers * servers / (servers - offered_load)
    return last / (total + last)


def mmc_mean_wait_s(servers: int, arrival_rate_per_s: float, service_rate_per_s: float) -> float:
    """Mean time in queue of an M/M/c FIFO queue."""
    load = arrival_rate_per_s / service_rate_per_s
    waiting = erlang_c(servers, load)
    return waiting / (servers * service_rate_per_s - arrival_rate_per_s)


def mmc_wait_quantile_s(
    servers: int, arrival_rate_per_s: float, service_rate_per_s: float, quantile: float
) -> float:
    """The `quantile` (0-1) of the time in queue of an M/M/c FIFO queue.

    P(W > t) = C(c, a) exp(-(c mu - lambda) t), so the quantile is zero when fewer
    than 1 - quantile of arrivals wait at all.
    """
    waiting = erlang_c(servers, arrival_rate_per_s / service_rate_per_s)
    tail = 1.0 - quantile
    if waiting <= tail:
        return 0.0
    return math.log(waiting / tail) / (servers * service_rate_per_s - arrival_rate_per_s)


def pollaczek_khinchine_mean_wait_s(
    arrival_rate_per_s: float, mean_service_s: float, service_cv: float
) -> float:
    """Mean time in queue of an M/G/1 queue: lambda E[S^2] / (2 (1 - rho))."""
    rho = arrival_rate_per_s * mean_service_s
    second_moment = mean_service_s**2 * (1.0 + service_cv**2)
    return arrival_rate_per_s * second_moment / (2.0 * (1.0 - rho))
