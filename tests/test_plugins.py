"""Plug-ins registered once: the schema, the CLI's messages and the engines take them
from the registries in sim/scenario/plugins.py."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from cli_error_helpers import assert_clean_error, invoke
from engine_helpers import run_once
from power_of_two_router import PLUGIN
from typer.testing import CliRunner

from sim.engine import compiled_loop
from sim.errors import CapsimError
from sim.fleet.compiled_fleet import runs_compiled
from sim.scenario import plugins
from sim.scenario.file import load_scenario

P2C = 'fleet.router="power-of-two-choices"'


@pytest.fixture
def power_of_two():
    """The test module's router, registered for one test only."""
    plugins.ROUTERS.register(PLUGIN)
    yield PLUGIN
    plugins.ROUTERS.unregister(PLUGIN.name)


def _allowed_in(message: str) -> list[str]:
    """The names an error line lists after `must be one of`."""
    listed = re.search(r"must be one of (.*?) \(got", message)
    assert listed, message
    return re.findall(r'"([^"]*)"', listed.group(1))


REGISTRIES = [
    plugins.ROUTERS,
    plugins.BATCHING,
    plugins.SERVICE_MODELS,
    plugins.AUTOSCALING,
    plugins.MARKETS,
]


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.key)
def test_an_unknown_name_lists_exactly_the_registry(registry):
    with pytest.raises(CapsimError) as caught:
        load_scenario("mmc", [f'{registry.key}="no-such-plugin"'])
    message = str(caught.value)
    assert f"{registry.key}: must be one of" in message
    assert _allowed_in(message) == list(registry.names())
    assert len(registry.names()) >= 2


def test_the_schema_accepts_a_registered_router_and_only_while_registered(power_of_two):
    assert load_scenario("mmc", [P2C]).fleet.router == "power-of-two-choices"
    plugins.ROUTERS.unregister(power_of_two.name)
    try:
        with pytest.raises(CapsimError, match=r"fleet\.router: must be one of"):
            load_scenario("mmc", [P2C])
    finally:
        plugins.ROUTERS.register(power_of_two)


def test_capsim_validate_lists_a_registered_router(power_of_two):
    result = invoke(CliRunner(), "validate", "mmc", "--set", 'fleet.router="power-of-two"')
    stderr = assert_clean_error(result, "fleet.router: must be one of")
    assert _allowed_in(stderr) == [
        *("least-loaded", "round-robin", "random", "shared-queue"),
        PLUGIN.name,
    ]
    assert 'Did you mean "power-of-two-choices"?' in stderr


def test_a_router_without_a_compiled_version_runs_on_simpy_deterministically(power_of_two):
    # mmc: M/M/4 at utilisation 0.8 for 2 h (about 23,000 requests).
    assert not runs_compiled(load_scenario("mmc", [P2C]))
    assert runs_compiled(load_scenario("mmc", ['fleet.router="random"']))
    first, again = run_once([P2C]), run_once([P2C], use_simpy=True)
    for column in ("arrival_s", "start_s", "finish_s", "status", "replica"):
        np.testing.assert_array_equal(getattr(first.log, column), getattr(again.log, column))
    counts = first.requests
    assert counts["arrived"] > 20_000
    assert counts["arrived"] == sum(
        counts[k] for k in ("completed", "dropped", "timed_out", "lost", "in_flight")
    )
    assert set(np.unique(first.log.replica)) == {0, 1, 2, 3}
    # Queueing theory: two choices wait far less than one random choice (four
    # independent M/M/1 queues: mean wait 0.8 / (1 - 0.8) = 4 s) and more than one
    # shared line (Erlang C, M/M/4 at 0.8: 0.75 s), on the same arrivals.
    waits = {
        router: run_once([f'fleet.router="{router}"']).latency_s["wait"]["mean"]
        for router in ("random", "shared-queue")
    }
    two_choices = first.latency_s["wait"]["mean"]
    assert waits["shared-queue"] < two_choices < waits["random"] / 2


def test_the_compiled_flags_match_the_compiled_loop():
    compiled = {n for n in plugins.ROUTERS.names() if plugins.ROUTERS[n].compiled}
    assert compiled == set(compiled_loop.ROUTERS)


def test_a_name_is_registered_once(power_of_two):
    with pytest.raises(ValueError, match="already registered"):
        plugins.ROUTERS.register(power_of_two)


def test_capsim_run_takes_a_registered_router(power_of_two):
    args = ("run", "mmc", "--set", P2C, "--set", "horizon=10m", "-n", "2", "--workers", "1")
    result = invoke(CliRunner(), *args, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["engine"] == "exact"
    counts = summary["requests"]
    assert counts["arrived"] > 0
    assert counts["arrived"] == sum(
        counts[k] for k in ("completed", "dropped", "timed_out", "lost", "in_flight")
    )
    assert invoke(CliRunner(), *args, "--json").stdout == result.stdout


def test_the_fast_engine_refuses_a_policy_it_has_no_model_of():
    """A newly registered autoscaling policy runs on the exact engine only: the fast
    engine refuses it by name rather than stepping it as some built-in."""
    from sim.fleetscale.run import check_fast

    policy = plugins.AutoscalingPolicy("step-up", "one more replica per sync", periodic=True)
    plugins.AUTOSCALING.register(policy)
    try:
        check_fast(load_scenario("mmc", []))  # the built-ins: accepted
        scenario = load_scenario("mmc", ['autoscaling.policy="step-up"'])
        with pytest.raises(CapsimError, match=re.escape("autoscaling.policy = 'step-up'")):
            check_fast(scenario)
    finally:
        plugins.AUTOSCALING.unregister(policy.name)


def test_a_registered_market_without_a_price_is_one_clear_line():
    market = plugins.Market("preemptible", "reclaimed without notice", reclaimed=True)
    plugins.MARKETS.register(market)
    try:
        with pytest.raises(CapsimError, match=r"fleet\.market: .*preemptible.*catalog"):
            load_scenario("mmc", ['fleet.market="preemptible"'])
    finally:
        plugins.MARKETS.unregister(market.name)
