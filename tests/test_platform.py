"""The [platform] section: seed 004's sizing rules, prices from the catalog, the bill a run
adds, the growth projection, and the one-line errors for a bad price.

Figures are checked against seed 004's printed tiers (chat-sizing) and against the
arithmetic each rule states; the money adds up line by line.
"""

from __future__ import annotations

import math
import re
import tomllib

import pytest
from botec_helpers import run
from cli_error_helpers import assert_clean_error, invoke
from typer.testing import CliRunner

from scenarios import bundled_scenario_names, bundled_scenario_path
from sim.money.platform import (
    ceil_count,
    platform_bill,
    platform_usd_per_month,
    scaled_platform,
)
from sim.montecarlo.replications import run_replication
from sim.scenario.file import load_scenario
from sim.scenario.platform_prices import platform_prices
from sim.scenario.units import SECONDS_PER_MONTH


def tier(users: float, *sets: str) -> dict:
    return run("chat-sizing", f"platform.concurrent_users={users}", *sets)["platform"]


def pods(platform: dict, name: str) -> tuple[int, int]:
    return platform[name]["min_pods_count"], platform[name]["max_pods_count"]


# ---------------------------------------------------------------- seed 004's rules


def test_1000_concurrent_users_give_the_seeds_pods_requests_and_units():
    platform = run("chat-sizing")["platform"]
    assert pods(platform, "backend") == (13, 39)  # 1000 / 100 x 1.3 = 13, x 3
    assert pods(platform, "frontend") == (3, 6)  # 1000 / 500 x 1.2 = 2.4 -> 3, x 2
    assert platform["peak_requests_per_s"] == 50  # 1000 x 3 / 60
    database = platform["database"]
    assert database["read_capacity_units_count"] == 250  # 500 reads/s / 2 (eventual, 4 KB)
    assert database["write_capacity_units_count"] == 100  # 100 writes/s x 1 KB


@pytest.mark.parametrize(
    "users, backend, frontend",
    [(1500, (20, 60), (4, 8)), (8000, (104, 312), (20, 40))],
)
def test_the_seeds_other_tiers_follow_its_formulas(users, backend, frontend):
    platform = tier(users)
    assert pods(platform, "backend") == backend
    assert pods(platform, "frontend") == frontend


def test_buffered_pods_are_not_rounded_up_by_float_dust():
    # 5000 / 100 x (1 + 0.1) is 55.00000000000001 in floats: a plain ceil gives 56 pods
    assert math.ceil(5000 / 100 * (1 + 0.1)) == 56
    assert ceil_count(5000 / 100 * (1 + 0.1)) == 55
    assert ceil_count(13.2) == 14 and ceil_count(0.0) == 0
    assert ceil_count(1e16 + 2.0) == 10**16 + 2  # large counts keep every unit
    assert ceil_count(0.00025) == 1  # a tiny read still takes a whole unit
    platform = tier(5000, "platform.backend.buffer=0.1")
    assert platform["backend"]["min_pods_count"] == 55


def test_nodes_are_the_larger_of_cpu_and_memory_with_the_buffer():
    nodes = run("chat-sizing")["platform"]["nodes"]
    cpu = 13 * 0.5 + 3 * 0.2  # 7.1 cores at the minimum
    assert nodes["cpu_cores_at_min_pods"] == pytest.approx(cpu)
    assert nodes["min_nodes_count"] == math.ceil(cpu / 2 * 1.2)  # CPU-bound: 5
    heavy = run("chat-sizing", "platform.backend.memory_gb=4")["platform"]["nodes"]
    memory = 13 * 4 + 3 * 0.256  # now memory-bound on 8 GB nodes
    assert heavy["min_nodes_count"] == math.ceil(memory / 8 * 1.2)
    assert heavy["min_nodes_count"] > nodes["min_nodes_count"]


def test_strong_reads_and_larger_items_take_more_units():
    database = run(
        "chat-sizing", 'platform.database.consistency="strong"', "platform.database.read_item_kb=8"
    )["platform"]["database"]
    assert database["read_capacity_units_count"] == 500 * 2  # 2 RCU per strong 8 KB read
    writes = run("chat-sizing", "platform.database.write_item_kb=2.5")["platform"]["database"]
    assert writes["write_capacity_units_count"] == 100 * 3  # 2.5 KB rounds up to 3 WCU


def test_dynamodb_is_billed_per_request_on_demand_and_per_unit_hour_provisioned():
    prices = platform_prices()
    on_demand = run("chat-sizing")["platform"]["database"]
    month_s = SECONDS_PER_MONTH
    reads = 250 * month_s / 1e6 * prices["aws-dynamodb-on-demand-read"].usd
    writes = 100 * month_s / 1e6 * prices["aws-dynamodb-on-demand-write"].usd
    assert on_demand["usd_per_month"] == pytest.approx(reads + writes)
    provisioned = run("chat-sizing", 'platform.database.billing="provisioned"')["platform"]
    units = 250 * prices["aws-dynamodb-provisioned-rcu"].usd
    units += 100 * prices["aws-dynamodb-provisioned-wcu"].usd
    assert provisioned["database"]["usd_per_month"] == pytest.approx(units * 720)
    assert provisioned["database"]["usd_per_month"] < on_demand["usd_per_month"]


def test_sql_shards_round_up_and_carry_their_replicas():
    database = run("marketplace-1b", "platform.database.users_per_shard=3e6")["platform"]
    database = database["database"]
    assert database["shards_count"] == 334  # 1e9 / 3e6 = 333.3
    assert database["replicas_count"] == 334 * 3


def test_the_platform_total_is_the_sum_of_its_lines_and_the_cost_per_user_its_share():
    for name in ("chat-sizing", "marketplace-1b"):
        platform = run(name)["platform"]
        lines = [
            v["usd_per_month"]
            for v in platform.values()
            if isinstance(v, dict) and "usd_per_month" in v
        ]
        assert platform["total_usd_per_month"] == pytest.approx(sum(lines), rel=1e-12)
        users = platform["total_users_count"]
        assert platform["usd_per_user_per_month"] == pytest.approx(
            platform["total_usd_per_month"] / users
        )


def test_servers_of_their_own_are_billed_at_the_mean_fleet():
    backend = run("marketplace-1b")["platform"]["backend"]
    assert backend["min_pods_count"] == 100  # 500,000 requests/s / 5,000
    assert backend["mean_pods_count"] == pytest.approx(20)  # 20% of peak
    assert backend["usd_per_month"] == pytest.approx(20 * 0.315 * 720)


# ---------------------------------------------------------------- growth


def test_growth_resizes_the_stack_and_is_not_linear_in_users():
    platform = run("marketplace-1b")["platform"]
    rows = platform["growth"]["rows"]
    assert [r["total_users_count"] for r in rows] == [1e5, 1e6, 1e7, 1e8, 1e9]
    last = rows[-1]
    assert last["platform_usd_per_month"] == pytest.approx(platform["total_usd_per_month"])
    first = rows[0]
    # flat lines (5 DDoS regions, 10 control planes), one cluster, one shard at least
    assert first["platform_usd_per_month"] > 10 * first["platform_linear_usd_per_month"]
    per_user = [r["usd_per_user_per_month"] for r in rows]
    assert per_user == sorted(per_user, reverse=True)  # economies of scale


def test_scaling_keeps_minimum_pods_and_fixed_lines():
    scenario = load_scenario("chat-sizing")
    small = platform_bill(scaled_platform(scenario.platform, 10))  # 1 concurrent user
    assert small["backend"]["min_pods_count"] == 1  # min_pods, not 0.013
    assert small["kubernetes"]["usd_per_month"] == 72.0  # the control plane does not shrink


# ---------------------------------------------------------------- the run's bill


def test_a_run_bills_the_platform_as_one_line_and_leaves_the_gpu_bill_alone():
    scenario = load_scenario("chat-sizing", ['horizon="10m"'])
    without = scenario.model_copy(update={"platform": None})
    with_platform = run_replication(scenario, 0).cost_usd
    plain = run_replication(without, 0).cost_usd
    monthly = platform_usd_per_month(scenario.platform)
    assert with_platform["monthly_platform"] == pytest.approx(monthly)
    assert with_platform["horizon_platform"] == pytest.approx(monthly * 600 / SECONDS_PER_MONTH)
    assert "monthly_platform" not in plain
    for key, value in plain.items():
        if key.startswith("monthly_") and key != "monthly_total":
            assert with_platform[key] == value  # the GPU lines are the same to the bit
    assert with_platform["monthly_total"] == pytest.approx(plain["monthly_total"] + monthly)


def test_scenarios_without_platform_have_no_platform_section():
    assert "platform" not in run("diurnal-api")
    assert load_scenario("smartpal").platform is None


# ---------------------------------------------------------------- prices and errors


def test_every_platform_price_in_the_catalog_has_a_source_and_a_date():
    for key, price in platform_prices().items():
        assert price.source.strip(), key
        assert re.fullmatch(r"20\d\d-\d\d", price.date), key
        assert price.usd >= 0, key


def test_a_scenario_figure_for_a_platform_price_says_it_is_the_seeds():
    for name in bundled_scenario_names():
        text = bundled_scenario_path(name).read_text(encoding="utf-8")
        if "platform" not in tomllib.loads(text):
            continue
        section = ""
        for line in text.splitlines():
            if line.startswith("["):
                section = line
            key, _, rest = line.partition("=")
            value, _, comment = rest.partition("#")
            is_price = key.strip().endswith("price") or key.strip() == "usd_per_request"
            if section.startswith("[platform") and is_price and not value.strip().startswith('"'):
                assert "seed" in comment, f"{name}: {line.strip()} must say where it comes from"


@pytest.fixture
def runner():
    return CliRunner()


def _bad(tmp_path, *sets: str) -> list[str]:
    path = tmp_path / "s.toml"
    path.write_text(bundled_scenario_path("chat-sizing").read_text(encoding="utf-8"))
    return [str(path), *(part for s in sets for part in ("--set", s))]


def test_an_unknown_price_key_is_one_line_naming_file_and_key(runner, tmp_path):
    args = _bad(tmp_path, 'platform.cache.node_price="aws-cache.t9.huge"')
    result = invoke(runner, "validate", *args)
    assert_clean_error(result, "s.toml", "platform.cache.node_price", "aws-cache.t9.huge")


def test_a_price_in_the_wrong_unit_is_refused(runner, tmp_path):
    args = _bad(tmp_path, 'platform.kubernetes.price="aws-s3-standard"')
    result = invoke(runner, "botec", *args)
    assert_clean_error(result, "platform.kubernetes.price", "per gb-month")


def test_a_node_instance_must_have_cpus_and_memory(runner, tmp_path):
    args = _bad(tmp_path, 'platform.nodes.instance="aws-eks-cluster"')
    result = invoke(runner, "validate", *args)
    assert_clean_error(result, "platform.nodes.instance", "vcpus")


def test_a_pod_tier_needs_exactly_one_capacity(runner, tmp_path):
    args = _bad(tmp_path, "platform.backend.requests_per_s_per_pod=50")
    result = invoke(runner, "validate", *args)
    assert_clean_error(result, "platform.backend", "exactly one of users_per_pod")


def test_lifecycle_tiers_hold_the_inflow_times_the_days_they_keep_it():
    sets = [
        "platform.object_storage_new_tb_per_month=12",
        'platform.object_storage=[{name="hot", days=30, price="aws-s3-standard"}, '
        '{name="cold", days=365, price="aws-s3-glacier-deep-archive"}]',
    ]
    storage = run("chat-sizing", *sets)["platform"]["object_storage"]
    hot, cold = storage["tiers"]
    assert hot["stored_tb"] == pytest.approx(12.0)  # a month's writes
    assert cold["stored_tb"] == pytest.approx(12 * 365 / 30)  # a year's, at 1/23 the price
    prices = platform_prices()
    expected = 12_000 * prices["aws-s3-standard"].usd
    expected += 146_000 * prices["aws-s3-glacier-deep-archive"].usd
    assert storage["usd_per_month"] == pytest.approx(expected)
    grown = platform_bill(scaled_platform(load_scenario("chat-sizing", sets).platform, 20_000))[
        "object_storage"
    ]
    assert grown["stored_tb"] == pytest.approx(2 * storage["stored_tb"])  # twice the users


def test_the_run_table_puts_the_botec_platform_bill_beside_the_simulated_line():
    result = invoke(CliRunner(), "run", "chat-sizing", "-n", "1", "--set", 'horizon="5m"')
    assert result.exit_code == 0, result.stderr
    (line,) = [ln for ln in result.stdout.splitlines() if "platform per month" in ln]
    assert line.count("$639") == 4  # p5 / p50 / p95 simulated (deterministic), the BOTEC's
    assert "its platform section" in line


def test_a_vanishing_pod_capacity_is_refused_not_a_crash(runner, tmp_path):
    # 1,000 users / 5e-324 users per pod overflowed to inf pods, and ceil(inf) crashed
    args = _bad(tmp_path, "platform.backend.users_per_pod=5e-324")
    result = invoke(runner, "botec", *args)
    assert_clean_error(result, "platform.backend.users_per_pod", "at least 0.001")


def test_the_largest_allowed_loads_give_finite_bills():
    sets = [
        "platform.concurrent_users=1e11",
        "platform.total_users=1e11",
        "platform.backend.users_per_pod=0.001",
        "platform.backend.buffer=100",
        "platform.backend.max_over_min=1000",
    ]
    platform = run("chat-sizing", *sets)["platform"]
    assert math.isfinite(platform["total_at_max_pods_usd_per_month"])
    assert platform["backend"]["max_pods_count"] == pytest.approx(1e14 * 101 * 1000, rel=1e-12)
