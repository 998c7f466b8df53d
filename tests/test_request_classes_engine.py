"""Request classes in the engine: each class's own admission deadline, and its own SLO risk."""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import run_once

from distributions.traffic import generate_requests
from sim.engine.request_log import TIMED_OUT
from sim.montecarlo.aggregate import aggregate
from sim.montecarlo.replication import replication_streams
from sim.montecarlo.replications import run_replications
from sim.scenario.file import load_scenario

CLASSES = (
    'requests.classes=[{name="chat", share=0.7, timeout="5s", latency_slo_p99="5s"}, '
    '{name="batch", share=0.3, timeout="10m", latency_slo_p99="20m"}]'
)
# One replica at utilisation ~1.1: queues build, so impatient chat requests leave.
OVERLOAD = [CLASSES, "fleet.replicas=1", "traffic.rate_per_s=1.1", "horizon=3000"]


def test_each_class_waits_only_as_long_as_its_own_timeout() -> None:
    result = run_once(OVERLOAD, seed=5)
    scenario = load_scenario("mmc", OVERLOAD)
    classes = generate_requests(scenario, replication_streams(5, 0)["traffic"]).class_index
    log = result.log
    timed_out = log.status == TIMED_OUT
    chat, batch = classes == 0, classes == 1
    assert timed_out[chat].sum() > 50  # the queue outgrows 5 s often
    waited = (log.finish_s - log.arrival_s)[timed_out & chat]
    assert np.allclose(waited, 5.0)  # each left exactly at its class's deadline
    # Batch jobs tolerate 10 minutes; none of them gave up within this run's queues.
    assert timed_out[batch].sum() == 0
    assert result.classes["chat"]["failed"] == timed_out[chat].sum()
    assert result.classes["batch"]["completed"] == batch.sum()


def test_class_slo_risk_is_reported_per_class() -> None:
    scenario = load_scenario("mmc", OVERLOAD)
    summary = aggregate(scenario, run_replications(scenario, replications=3))
    risk = summary["risk"]["classes"]
    assert risk["chat"]["p_slo_violation"] == pytest.approx(1.0)  # > 1% of chats time out
    assert risk["batch"]["p_slo_violation"] == pytest.approx(0.0)  # 20 min is plenty
    assert (
        summary["classes"]["chat"]["arrived"] + summary["classes"]["batch"]["arrived"]
        == (summary["requests"]["arrived"])
    )
