"""queue-depth: a default target that one-at-a-time replicas can meet, and no oscillation.

With the old fixed 5 in-flight requests per replica, mmc (3.2 req/s, 1 s each) was
sized below its offered load, overloaded, then launched dozens of replicas: 79 at
peak and $16k a month against $1.5k fixed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from engine_helpers import run_once

from sim.baseline.queueing_theory import mmc_mean_wait_s
from sim.fleet.autoscaler import Observation, queue_depth_desired, queue_per_replica
from sim.scenario.schema import Autoscaling

QUEUE_DEPTH = ['autoscaling.policy="queue-depth"', "horizon=3h"]
RATE_PER_S = 3.2  # mmc: Poisson arrivals, exponential 1 s service, one request per replica


def observation(replicas: int, in_flight: float, slots: int) -> Observation:
    return Observation(0.0, replicas, in_flight, min(in_flight, replicas * slots), slots)


def test_the_default_is_the_target_per_batch_slot() -> None:
    config = Autoscaling(policy="queue-depth")  # target 0.7
    assert queue_per_replica(config, slots_per_replica=1) == pytest.approx(0.7)
    assert queue_per_replica(config, slots_per_replica=8) == pytest.approx(5.6)
    assert queue_depth_desired(observation(4, in_flight=3.5, slots=1), config) == 5
    in_flight = Autoscaling(policy="queue-depth", metric="in-flight", target=40)
    assert queue_per_replica(in_flight, slots_per_replica=64) == 40
    explicit = Autoscaling(policy="queue-depth", queue_per_replica=5.0)
    assert queue_per_replica(explicit, slots_per_replica=1) == 5.0


def settled_replicas(target: float = 0.7) -> int:
    """The fixed point of ceil(in-flight / target): the fewest replicas n whose M/M/n
    mean in-flight count (offered load plus the Erlang C queue) asks for no more than n."""
    for n in range(math.ceil(RATE_PER_S), 100):
        in_flight = RATE_PER_S + RATE_PER_S * mmc_mean_wait_s(n, RATE_PER_S, 1.0)
        if math.ceil(in_flight / target) <= n:
            return n
    raise AssertionError("no fixed point")


@pytest.mark.parametrize("replication", [0, 1, 2])
def test_queue_depth_settles_on_a_constant_load(replication: int) -> None:
    expected = settled_replicas()
    assert expected == 6  # 5 serve 3.2 Erlangs at 0.64, but their queue asks for a sixth
    result = run_once(QUEUE_DEPTH, replication=replication)
    series = result.fleet_series
    time_s = np.asarray(series["time_s"])
    up = np.asarray(series["replicas_up"])
    after_first_hour = up[time_s >= 3600.0]
    assert abs(after_first_hour.mean() - expected) <= 1.0
    assert up.max() <= 2 * expected
    events = result.events["scale_ups"] + result.events["scale_downs"]
    assert events <= 10  # of 360 decisions in 3 h; the old default made ~60
    assert result.requests["completed"] == result.requests["arrived"]
