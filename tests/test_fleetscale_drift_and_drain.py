"""The fast engine's replay sizes and spot drains, each against an independent figure:
the exact engine on the same seeds, or the exact engine's own saturated probe.

Small rows (seconds each); benchmarks/bench_fleetscale.py holds the full-size ones.
"""

from __future__ import annotations

import numpy as np
import pytest
from fleetscale_helpers import PROBE_REQUESTS, both_engines, relative, spot_chat_scenario

from sim.engine.service_time import build_service_model
from sim.fleetscale.latency_model import latency_table, token_pool
from sim.fleetscale.request_work import saturated_cost_s
from sim.fleetscale.run import run_fast
from sim.fleetscale.summary import _percentiles, shift_bins, shifted
from sim.montecarlo.latency_histogram import histogram_of
from sim.montecarlo.replications import run_replications
from sim.scenario.file import load_scenario

pytestmark = pytest.mark.usefixtures("shared_model_cache")


def test_a_saturated_replica_completes_one_over_the_mean_roofline_cost_per_second() -> None:
    """request_work's per-request cost (the engine's own step times) against the exact
    engine's saturated probe: ~15k completions counted, so the probe's rate is known
    to about 1%; 3% allows that and a batch that is not always quite full."""
    scenario = load_scenario("diurnal-chat", ["horizon=3600", 'traffic.profile="constant"'])
    service = build_service_model(scenario)
    pool = token_pool(scenario, PROBE_REQUESTS)
    cost_s = saturated_cost_s(service, pool.prompt_tokens, pool.output_tokens, 64)
    table = latency_table(scenario, PROBE_REQUESTS)
    assert 1.0 / cost_s.mean() == pytest.approx(table.capacity_per_s, rel=0.03)


def test_a_shifted_histogram_has_its_percentiles_times_the_scale() -> None:
    """Scaling every latency by 1.25 (or 0.8) moves each percentile by that factor, to
    within the histogram's resolution (0.1% bins, scales kept to 0.5%)."""
    values = np.random.default_rng(1).lognormal(0.0, 0.8, 50_000)
    hist = histogram_of(values).astype(float)
    for scale in (1.25, 0.8):
        moved = shifted(hist, int(shift_bins(np.array([scale]))[0]))
        assert moved.sum() == pytest.approx(hist.sum())
        for p in (50.0, 99.0):
            expected = np.percentile(values * scale, p)
            assert _percentiles(moved, [p])[0] == pytest.approx(expected, rel=0.006)


def test_a_replays_calm_latencies_follow_each_steps_request_sizes() -> None:
    """The Azure trace at 10x on 12 A100s: its replies run long in the calm stretches
    and short in the backlog, so the average request's latencies put the calm steps'
    median 20% short and the e2e p50 4-6% short. One replay of 197k requests: the exact
    p50 and p90 are known to well under 1%."""
    scenario = load_scenario(
        "azure-conv", ["traffic.trace.rate_scale=10", "fleet.replicas=12", "replications=1"]
    )
    fast, exact = both_engines(scenario)
    for p in ("p50", "p90"):
        assert relative(fast["latency_s"]["e2e"][p], exact["latency_s"]["e2e"][p]) < 0.05


def drain_scenario():
    return spot_chat_scenario(4.0, 4, "spot.notice=5")


def test_a_drained_spot_replica_decodes_faster_and_stays_up_till_its_last_request() -> None:
    """A 5 s notice: the drained replica admits nothing, so its steps prefill nothing
    and its requests decode ~15% faster; fewer outlive the notice (0.87 per reclaim in
    exact, 1.27 when the fast engine took the loaded residual times). It stays up (and
    billed) until its last request ends, so the fleet shows 7 replicas then.
    About 170 reclaims and 150 retries per engine: each count is known to ~8%, their
    ratio to ~11%, so 25% is over two standard errors."""
    scenario = drain_scenario()
    fast = run_fast(scenario, requests_per_probe=PROBE_REQUESTS)
    exact = run_replications(scenario)

    def per_reclaim(results) -> float:
        retried = sum(r.requests["retried"] for r in results)
        return retried / sum(r.events["interruptions"] for r in results)

    assert per_reclaim(exact) > 0.5  # some requests do outlive the notice
    assert relative(per_reclaim(fast), per_reclaim(exact)) < 0.25
    assert max(r.replicas["max"] for r in fast) >= 7
    # Replicas up beyond the 6 serving: drains of a few seconds at each of ~45 reclaims.
    extra = {
        n: np.mean([r.replicas["mean"] - 6 for r in rs]) for n, rs in (("f", fast), ("e", exact))
    }
    assert extra["e"] > 0
    assert relative(extra["f"], extra["e"]) < 0.4
