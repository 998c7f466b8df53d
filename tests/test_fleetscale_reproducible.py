"""The fast engine's replication i depends only on (seed, i): alone, in a batch, on dask."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fleetscale_helpers import PROBE_REQUESTS

from sim.fleetscale.run import run_fast
from sim.montecarlo.executors import DaskExecutor
from sim.scenario.file import load_scenario

# Every random part of the fleet at once: cold starts (target tracking), spot notices
# with their replacements, spot shortages, and a drain after the horizon.
SETS = [
    "horizon=5400",
    "fleet.spot_fraction=0.5",
    "spot.interruptions_per_hour=3.0",
    "spot.capacity_shortage_probability=0.2",
    "pricing.spot_usd_per_hour=0.2",
    "traffic.requests_per_day=400000",
]


pytestmark = pytest.mark.usefixtures("shared_model_cache")


def flat(result) -> dict:
    """Every figure of a replication, histograms included, as plain values."""
    out = dict(result.row())
    for metric, hist in result.latency_histograms.items():
        out[f"hist_{metric}"] = tuple(np.asarray(hist, float).tolist())
    for name, series in {**result.fleet_series, **result.latency_series}.items():
        out[f"series_{name}"] = tuple(series)
    out["cost"] = tuple(sorted(result.cost_usd.items()))
    return out


def same(a: dict, b: dict) -> bool:
    def equal(x, y) -> bool:
        if isinstance(x, float) and math.isnan(x):
            return isinstance(y, float) and math.isnan(y)
        if isinstance(x, tuple):
            return len(x) == len(y) and all(equal(p, q) for p, q in zip(x, y, strict=True))
        return x == y

    return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)


def test_replication_three_is_the_same_alone_and_in_a_batch_of_five() -> None:
    scenario = load_scenario("diurnal-api", SETS)
    batch = run_fast(scenario, 5, PROBE_REQUESTS)
    alone = run_fast(scenario, 1, PROBE_REQUESTS, first_replication=3)[0]
    assert [r.replication for r in batch] == [0, 1, 2, 3, 4]
    assert alone.replication == 3
    assert batch[3].events["interruptions"] > 0  # the fleet really drew something
    assert batch[3].events["cold_starts"] > 0
    assert same(flat(alone), flat(batch[3]))
    # ...and the replications are not copies of one another.
    assert not same(flat(batch[2]), flat(batch[3]))
    pair = run_fast(scenario, 2, PROBE_REQUESTS, first_replication=2)
    assert same(flat(pair[1]), flat(batch[3]))


def test_the_dask_executor_gives_the_local_replications() -> None:
    scenario = load_scenario("diurnal-api", SETS)
    local = run_fast(scenario, 3, PROBE_REQUESTS)  # also puts the model in the cache
    executor = DaskExecutor(workers=1)  # one worker process: blocks still cross to it
    try:
        remote = run_fast(scenario, 3, PROBE_REQUESTS, executor=executor)
    finally:
        executor.close()
    assert [r.replication for r in remote] == [0, 1, 2]
    for a, b in zip(local, remote, strict=True):
        assert same(flat(a), flat(b))
