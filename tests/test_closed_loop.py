"""Closed-loop clients (traffic.arrival = "closed"): Little's law, the machine-repairman
queue, the engines that refuse or route them, and the errors for bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from distributions.traffic import generate_requests
from sim.engine.request_log import COMPLETED
from sim.errors import CapsimError
from sim.fleet.compiled_fleet import runs_compiled
from sim.fleetscale.run import check_fast
from sim.montecarlo.engine_choice import choose_engine
from sim.montecarlo.replication import replication_streams, simulate
from sim.scenario.file import load_scenario, validate_scenario
from tests.cli_error_helpers import assert_clean_error, invoke

SERVICE_MEAN_S = 1.0
TRACE = str(Path(__file__).parents[1] / "scenarios" / "traces" / "azure_conv.csv")


def closed_scenario(concurrency: int, think_mean_s: float | None, horizon_s: float, **extra):
    """One replica serving one request at a time, exponential service (M/M/1//N)."""
    traffic = {"arrival": "closed", "concurrency": concurrency}
    if think_mean_s is not None:
        traffic["think_time"] = {"dist": "exponential", "mean": think_mean_s}
    data = {
        "horizon": horizon_s,
        "traffic": traffic,
        "service": {
            "model": "latency",
            "latency": {"dist": "exponential", "mean": SERVICE_MEAN_S},
        },
        "fleet": {"gpu": "T4", "replicas": 1, "router": "shared-queue"},
    }
    for section, keys in extra.items():
        data.setdefault(section, {}).update(keys)
    return validate_scenario(data, source="closed.toml")


def run(scenario, replication: int = 0):
    streams = replication_streams(scenario.seed, replication)
    requests = generate_requests(scenario, streams["traffic"])
    return simulate(scenario, requests, streams, replication, keep_log=True)


def machine_repairman_throughput_per_s(clients: int, service_s: float, think_s: float) -> float:
    """Exact throughput of M/M/1//N: (1 - p0) / S, p0 = 1 / sum_k N!/(N-k)! (S/Z)^k."""
    ratio = service_s / think_s
    total, term = 1.0, 1.0
    for k in range(1, clients + 1):
        term *= (clients - k + 1) * ratio
        total += term
    return (1.0 - 1.0 / total) / service_s


def test_one_client_completes_one_request_per_e2e_plus_think_time():
    """With one client a cycle is one request's e2e plus one think time, so the
    throughput is 1 / (mean e2e + mean think). Counted cycles are a renewal process:
    the throughput's relative standard error is cv(cycle) / sqrt(cycles)."""
    think_s, horizon_s = 0.5, 3000.0
    result = run(closed_scenario(1, think_s, horizon_s))
    log = result.log
    done = log.status == COMPLETED
    e2e = log.finish_s[done] - log.arrival_s[done]
    assert np.all(log.start_s[done] == log.arrival_s[done])  # never any queue
    cycles = int(done.sum())
    cycle_mean_s = SERVICE_MEAN_S + think_s
    cycle_cv = math.hypot(SERVICE_MEAN_S, think_s) / cycle_mean_s
    expected = 1.0 / (e2e.mean() + think_s)
    # The measured e2e mean stands in; what is left is the think times' own sampling
    # error, and one cycle cut by the horizon.
    tolerance = 4 * expected * (think_s / cycle_mean_s) / math.sqrt(cycles) + 1.0 / horizon_s
    assert result.throughput_per_s == pytest.approx(expected, abs=tolerance)
    # And against the model's own figures, without the measured e2e.
    tolerance = 4 * cycle_cv / math.sqrt(cycles) / cycle_mean_s + 1.0 / horizon_s
    assert result.throughput_per_s == pytest.approx(1.0 / cycle_mean_s, abs=tolerance)
    # Each request is sent exactly when the previous one ended plus a think time.
    gaps = log.arrival_s[1:] - log.finish_s[:-1]
    assert np.all(gaps >= 0)
    assert gaps.mean() == pytest.approx(think_s, rel=4 / math.sqrt(len(gaps)))


@pytest.mark.parametrize("clients", [2, 5, 20])
def test_throughput_matches_the_machine_repairman_formula_and_saturates(clients):
    """M/M/1//N: N clients thinking Z = 4 s (exponential) on one exponential server of
    mean 1 s. Ten independent replications; tolerance four standard errors."""
    think_s, horizon_s, warmup_s = 4.0, 1500.0, 100.0
    scenario = closed_scenario(clients, think_s, horizon_s)
    values = []
    for replication in range(10):
        finish_s = run(scenario, replication).log.finish_s
        # Completions after the warm-up (every client starts at t = 0), per second.
        steady = (finish_s >= warmup_s) & (finish_s < horizon_s)
        values.append(steady.sum() / (horizon_s - warmup_s))
    mean = float(np.mean(values))
    se = float(np.std(values, ddof=1) / math.sqrt(len(values)))
    exact = machine_repairman_throughput_per_s(clients, SERVICE_MEAN_S, think_s)
    assert abs(mean - exact) <= 4 * se, (mean, exact, se)
    # Little's law's asymptotic bounds hold, and the server bound is reached at N >> N*.
    assert mean <= min(clients / (SERVICE_MEAN_S + think_s), 1 / SERVICE_MEAN_S) + 4 * se
    if clients == 20:
        assert exact > 0.99  # saturated: N* = (S + Z) / S = 5 clients


def test_conservation_and_timeouts_send_the_next_request():
    """Requests that time out free their client: it thinks and sends again; every
    request is accounted for, and the same seed gives the same run."""
    scenario = closed_scenario(8, 0.2, 600.0, admission={"timeout": 2.0})
    result = run(scenario)
    counts = result.requests
    assert counts["timed_out"] > 0 and counts["completed"] > 0
    resolved = sum(counts[k] for k in ("completed", "dropped", "timed_out", "lost", "in_flight"))
    assert counts["arrived"] == resolved
    # At most `concurrency` requests exist at once: each arrival finds fewer than 8 others.
    log = result.log
    ends = np.where(np.isnan(log.finish_s), math.inf, log.finish_s)
    order = np.argsort(log.arrival_s, kind="stable")
    open_at = [
        int(((log.arrival_s <= log.arrival_s[i]) & (ends > log.arrival_s[i])).sum())
        for i in order[:: max(1, len(order) // 200)]
    ]
    assert max(open_at) <= 8
    again = run(scenario)
    assert again.requests == counts
    assert np.array_equal(again.log.finish_s, log.finish_s, equal_nan=True)


def test_compiled_and_fast_engines_refuse_or_route_it_by_name():
    scenario = closed_scenario(4, 1.0, 60.0)
    assert not runs_compiled(scenario)  # routed to the SimPy engine
    assert choose_engine(scenario, "auto") == "exact"
    with pytest.raises(CapsimError, match=r"traffic\.arrival = 'closed'"):
        check_fast(scenario)


@pytest.mark.parametrize(
    ("traffic", "extra", "key"),
    [
        ({"arrival": "closed"}, {}, "traffic.concurrency"),
        ({"rate_per_s": 1.0, "concurrency": 4}, {}, "traffic.concurrency"),
        ({"rate_per_s": 1.0, "think_time": {"dist": "fixed", "value": 1}}, {}, "think_time"),
        (
            {"arrival": "closed", "concurrency": 4, "rate_per_s": 1.0},
            {},
            "traffic.rate_per_s",
        ),
        (
            {"arrival": "closed", "concurrency": 4, "profile": "trace", "trace": {"file": TRACE}},
            {},
            "traffic.profile",
        ),
        (
            {"arrival": "closed", "concurrency": 4, "profile": "diurnal"},
            {},
            "traffic.profile",
        ),
        ({"arrival": "closed", "concurrency": 0}, {}, "traffic.concurrency"),
        ({"arrival": "closed", "concurrency": 4}, {"admission": {"max_queue": 3}}, "max_queue"),
        (
            {"arrival": "closed", "concurrency": 4},
            {"autoscaling": {"policy": "predictive", "min_replicas": 1}},
            "predictive",
        ),
    ],
)
def test_bad_closed_loop_input_gets_one_line_naming_the_key(tmp_path, traffic, extra, key):
    lines = ["[traffic]"] + [f"{k} = {_toml(v)}" for k, v in traffic.items()]
    lines += ["[service]", 'model = "latency"', 'latency = { dist = "fixed", value = 1 }']
    for section, keys in extra.items():
        lines += [f"[{section}]"] + [f"{k} = {_toml(v)}" for k, v in keys.items()]
    path = tmp_path / "bad.toml"
    path.write_text("\n".join(lines) + "\n")
    assert_clean_error(invoke(CliRunner(), "validate", str(path)), str(path), key)


def test_traffic_verb_says_arrivals_follow_completions(tmp_path):
    path = tmp_path / "closed.toml"
    path.write_text(
        '[traffic]\narrival = "closed"\nconcurrency = 3\n'
        '[service]\nmodel = "latency"\nlatency = { dist = "fixed", value = 1 }\n'
    )
    assert_clean_error(invoke(CliRunner(), "traffic", str(path)), "capsim run", "concurrency")


def test_botec_bound_is_littles_law():
    from sim.baseline.botec import botec

    scenario = closed_scenario(3, 2.0, 600.0)
    closed = botec(scenario)["closed_loop"]
    assert closed["clients_bound_per_s"] == pytest.approx(3 / (SERVICE_MEAN_S + 2.0))
    assert closed["fleet_bound_per_s"] == pytest.approx(1 / SERVICE_MEAN_S)
    assert closed["limited_by"] == "clients"
    assert closed["saturation_concurrency"] == pytest.approx(3.0)


def _toml(value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return repr(value)


def test_closed_loop_clients_refuse_the_levers_that_split_the_stream(tmp_path):
    example = Path(__file__).parents[1] / "docs" / "examples" / "closed-loop.toml"
    path = tmp_path / "closed.toml"
    path.write_text(example.read_text() + "\n[levers.cache]\nhit_rate = 0.3\n")
    with pytest.raises(CapsimError, match=r"levers: .*closed-loop"):
        load_scenario(path)
