"""The fleet's random draws (cold starts, spot notices and shortages), one stream per replication.

Replication r draws only from its own generator, seeded by (seed, r), and only as its
own state asks, so its numbers are the same run alone, in any batch, on any executor.
"""

from __future__ import annotations

import numpy as np

from sim.montecarlo.replication import replication_streams


class FleetDraws:
    """Per-replication generators for the fleet loop; each draw is one call per replication
    that needs it (none for a zero count)."""

    def __init__(self, seed: int, first_replication: int, replications: int) -> None:
        streams = [replication_streams(seed, first_replication + r) for r in range(replications)]
        self.fleet = [s["fleet"] for s in streams]
        self.spot = [s["spot"] for s in streams]
        self.service = [s["service"] for s in streams]

    def binomial(self, n: np.ndarray, p: float, spot: bool = False) -> np.ndarray:
        """Binomial(n[r], p) for each replication r, from its own stream."""
        out = np.zeros(len(n), np.int64)
        if p <= 0:
            return out
        gens = self.spot if spot else self.fleet
        for r in np.flatnonzero(n > 0):
            out[r] = gens[r].binomial(int(n[r]), p)
        return out

    def hypergeometric(self, good: np.ndarray, bad: np.ndarray, k: np.ndarray) -> np.ndarray:
        """How many of k[r] drawn without replacement from good[r] + bad[r] are good, for
        each replication r, from its spot stream."""
        out = np.zeros(len(k), np.int64)
        for r in np.flatnonzero((k > 0) & (good > 0)):
            if bad[r] == 0:
                out[r] = min(int(k[r]), int(good[r]))
            else:
                out[r] = self.spot[r].hypergeometric(int(good[r]), int(bad[r]), int(k[r]))
        return out

    def multinomial(self, k: np.ndarray, shares: np.ndarray) -> np.ndarray:
        """Multinomial(k[r], shares) for each replication r: (replications, len(shares))."""
        out = np.zeros((len(k), len(shares)), np.int64)
        for r in np.flatnonzero(k > 0):
            out[r] = self.fleet[r].multinomial(int(k[r]), shares)
        return out

    def uniforms(self, steps: int) -> np.ndarray:
        """(replications, steps) uniforms on [0, 1), row r from replication r's fleet stream."""
        return np.stack([g.random(steps) for g in self.fleet])

    def normals(self, steps: int) -> np.ndarray:
        """(replications, steps) standard normals, row r from replication r's service stream."""
        return np.stack([g.standard_normal(steps) for g in self.service])


def delay_rng(seed: int) -> np.random.Generator:
    """The stream of the cold-start delay table, shared by every replication of a seed."""
    return np.random.default_rng(np.random.SeedSequence([seed, 0xFA57]))
