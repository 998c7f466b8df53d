"""Arrivals per time step of each replication: Poisson or gamma-renewal counts of the profile's
integral, or a replayed trace's own arrivals binned.

Replication r draws from its own traffic stream (`replication_streams(seed, r)`), so its
counts depend only on (seed, r).
"""

from __future__ import annotations

import numpy as np

from distributions.traffic import iter_request_chunks, traffic_profile
from sim.montecarlo.replication import replication_streams
from sim.scenario.schema import Scenario


def expected_counts(scenario: Scenario, edges_s: np.ndarray) -> np.ndarray:
    """The profile's expected arrivals in each step [edges[i], edges[i+1])."""
    profile = traffic_profile(scenario)
    return np.maximum(np.asarray(profile.integral(edges_s[:-1], edges_s[1:]), float), 0.0)


def renewal_counts(mean: np.ndarray, cv: float, rng: np.random.Generator) -> np.ndarray:
    """Counts with the mean and the variance (cv^2 x mean) a renewal process has over a step.

    cv = 1 is Poisson; cv > 1 a gamma-mixed Poisson (negative binomial); cv < 1 a binomial.
    """
    if cv == 1.0:
        return rng.poisson(mean)
    if cv > 1.0:
        shape = np.maximum(mean, 1e-12) / (cv * cv - 1.0)
        return rng.poisson(rng.gamma(shape, mean / shape))
    trials = np.ceil(mean / (1.0 - cv * cv)).astype(np.int64)
    p = np.where(trials > 0, mean / np.maximum(trials, 1), 0.0)
    return rng.binomial(trials, np.minimum(p, 1.0))


def trace_step_work(
    scenario: Scenario, replication: int, edges_s: np.ndarray, figures, rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """A replay's arrivals per step, and per step the sums over its requests (the same
    requests `step_counts` bins) of each row of `figures(prompt, output)`, a (rows, n)
    array of per-request figures: (steps,) counts and (rows, steps) sums."""
    rng = replication_streams(scenario.seed, replication)["traffic"]
    counts = np.zeros(len(edges_s) - 1, np.int64)
    sums = np.zeros((rows, len(counts)))
    for chunk in iter_request_chunks(scenario, rng):
        index = np.searchsorted(edges_s, chunk.arrival_s, side="right") - 1
        keep = (index >= 0) & (index < len(counts))
        found = figures(chunk.prompt_tokens[keep], chunk.output_tokens[keep])
        counts += np.bincount(index[keep], minlength=len(counts))
        for row, values in zip(sums, found, strict=True):
            row += np.bincount(index[keep], values, minlength=len(counts))
    return counts, sums


def step_counts(scenario: Scenario, replication: int, edges_s: np.ndarray) -> np.ndarray:
    """Replication `replication`'s arrivals per step (int64, one per step)."""
    rng = replication_streams(scenario.seed, replication)["traffic"]
    traffic = scenario.traffic
    if traffic.profile == "trace":
        counts = np.zeros(len(edges_s) - 1, np.int64)
        for chunk in iter_request_chunks(scenario, rng):
            index = np.searchsorted(edges_s, chunk.arrival_s, side="right") - 1
            index = index[(index >= 0) & (index < len(counts))]
            counts += np.bincount(index, minlength=len(counts))
        return counts
    arrival_rng = rng.spawn(1)[0]
    mean = expected_counts(scenario, edges_s)
    cv = traffic.cv if traffic.arrival == "gamma" else 1.0
    return renewal_counts(mean, cv, arrival_rng).astype(np.int64)
