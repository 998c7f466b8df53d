"""Every wrong figure in seeds 003 (1B-user marketplace) and 004 (chat sizing calculator).

As tests/test_seed_audit.py does for seeds 000 and 001: each test names the seed's
figure, asserts capsim's (from `marketplace-1b` / `chat-sizing` or a --set variation)
and that the seed's differs; docs/seed-audit.md lists the same items with the reasons.
Where the error is in the seed's own sums, the test redoes them from its printed lines.
"""

from __future__ import annotations

import math

import pytest
from botec_helpers import lookup, run

from reports.botec_table import seed_rows

# Seed 003's "Total Monthly Cost Summary", as printed.
SEED_003_LINES = {
    "compute": 4_809_600,
    "database": 4_241_310,
    "ai": 6_520_000,
    "bandwidth": 4_090_000,
    "search": 175_000,
    "caching": 60_000,
    "object_storage": 3_400,
    "monitoring": 50_000,
    "ddos": 5_000,
    "kubernetes": 730,
}
SEED_003_OPTIMIZED = {
    "compute": 1_442_880,
    "database": 2_393_048,
    "ai": 4_020_000,
    "bandwidth": 290_000,
    "search": 175_000,
    "caching": 60_000,
    "other": 59_130,
}


@pytest.fixture(scope="module")
def market() -> dict:
    return run("marketplace-1b")


@pytest.fixture(scope="module")
def chat() -> dict:
    return run("chat-sizing")


def verdict(result: dict, label: str) -> str:
    return {check.figure.label: check.verdict for check in seed_rows(result)}[label]


def differs(capsim: str, seed: str) -> None:
    assert capsim != seed, f"capsim agrees with the seed's {seed}: not a wrong figure"


# ================================================================ seed 003: arithmetic


def test_003_api_servers_100_000_are_100(market):
    backend = market["platform"]["backend"]
    assert backend["min_pods_count"] == 100  # 500,000 requests/s / 5,000 per server
    assert 500_000 / 5_000 == 100
    assert verdict(market, "API servers needed") == "wrong"


def test_003_total_api_cost_22_68m_is_22_680(market):
    backend = market["platform"]["backend"]
    assert backend["peak_sized_usd_per_month"] == pytest.approx(22_680)  # 100 x $226.80
    assert backend["server_usd_per_month"] == pytest.approx(226.80)  # its $0.315 x 720 h: right
    differs(f"{backend['peak_sized_usd_per_month']:,.0f}", "22,680,000")


def test_003_autoscaled_api_20_000_servers_4_536m_is_20_and_4_536(market):
    backend = market["platform"]["backend"]
    assert backend["mean_pods_count"] == pytest.approx(20)
    assert backend["usd_per_month"] == pytest.approx(4_536)
    assert verdict(market, "API optimized ($/month)") == "wrong"


def test_003_frontend_10_000_servers_are_10(market):
    frontend = market["platform"]["frontend"]
    assert frontend["min_pods_count"] == 10  # 50,000 requests/s at the backend's 5,000
    assert frontend["peak_sized_usd_per_month"] == pytest.approx(1_368)
    assert frontend["usd_per_month"] == pytest.approx(273.60)
    assert 50_000 / 10_000 == 5  # the seed's 10,000 servers would take 5 requests/s each


def test_003_total_compute_4_809_600_is_4_809_60(market):
    platform = market["platform"]
    compute = platform["backend"]["usd_per_month"] + platform["frontend"]["usd_per_month"]
    assert compute == pytest.approx(4_809.60)
    assert compute * 1000 == pytest.approx(SEED_003_LINES["compute"])  # a thousandfold


def test_003_monitoring_5_000_per_tb_is_500_and_50_000_is_5_000(market):
    logging = market["platform"]["logging"]
    assert logging["usd_per_gb"] * 1000 == 500  # $0.50/GB is $500/TB, not $5,000
    assert logging["usd_per_month"] == pytest.approx(5_000)
    assert verdict(market, "Monitoring & logging ($/month)") == "wrong"


def test_003_cdn_100_gb_per_user_is_50_eb_not_50_pb(market):
    as_written = 500e6 * 100  # GB: 500M MAU x 100 GB
    assert as_written / 1e9 == 50  # 50 EB (1 EB = 1e9 GB), a thousand times 50 PB
    assert as_written * 0.08 == pytest.approx(4e9)  # $4.0B a month at its $0.08/GB
    cdn = market["platform"]["cdn"]  # the bundled scenario: 100 MB, which its 50 PB implies
    assert cdn["gb_per_month"] == pytest.approx(50e6)
    assert cdn["usd_per_month"] == pytest.approx(4e6)


def test_003_gke_73_per_cluster_is_72_at_720_hours(market):
    kubernetes = market["platform"]["kubernetes"]
    assert kubernetes["item_usd_per_month"] == pytest.approx(72.0)  # $0.10 x 720 h
    assert math.isclose(0.10 * 730, 73.0)  # the seed's 730-hour month, here only
    assert verdict(market, "GKE ($/month)") == "wrong"


def test_003_total_19_955_440_is_400_off_its_own_lines():
    assert sum(SEED_003_LINES.values()) == 19_955_040
    assert 19_955_440 - sum(SEED_003_LINES.values()) == 400
    assert sum(SEED_003_LINES.values()) * 12 == 239_460_480  # not its $239,465,280


def test_003_corrected_total_is_15_105_240(market):
    platform = market["platform"]
    assert platform["with_gpu_fleet_usd_per_month"] == pytest.approx(15_105_239.60)
    corrected = dict(SEED_003_LINES, compute=4_809.60, monitoring=5_000, kubernetes=720)
    assert sum(corrected.values()) == pytest.approx(platform["with_gpu_fleet_usd_per_month"])
    assert platform["with_gpu_fleet_usd_per_year"] == pytest.approx(181_262_875.2)
    assert verdict(market, "Total monthly cost ($)") == "wrong"


@pytest.mark.parametrize(
    "line, low, high, share",
    [
        ("database", 0.40, 0.50, 0.2125),
        ("ai", 0.15, 0.20, 0.3267),
        ("bandwidth", 0.10, 0.15, 0.2050),
    ],
)
def test_003_executive_summary_cost_driver_shares(line, low, high, share):
    total = sum(SEED_003_LINES.values())
    optimized = sum(SEED_003_OPTIMIZED.values())
    assert SEED_003_LINES[line] / total == pytest.approx(share, abs=5e-5)
    assert not low <= SEED_003_LINES[line] / total <= high
    assert not low <= SEED_003_OPTIMIZED[line] / optimized <= high  # nor after optimizing


def test_003_search_and_caching_5_to_10_percent_is_1_2_percent():
    share = (SEED_003_LINES["search"] + SEED_003_LINES["caching"]) / sum(SEED_003_LINES.values())
    assert share == pytest.approx(0.01178, abs=1e-5)


def test_003_connection_pooling_saves_640_000_not_848_262():
    assert math.isclose(0.20 * 4_241_310, 848_262)  # 20% of the whole line, storage too
    servers_left = 1_000 * 1_200 + 2 * 1_000 * 1_000  # primaries + 2 replicas per shard
    assert 0.20 * servers_left == pytest.approx(640_000)
    assert 4_241_310 - 1_000_000 - 640_000 == 2_601_310  # optimized database, not 2,393,048


def test_003_cache_hit_rate_cannot_cut_cdn_egress_by_3_8m():
    served_pb = 50.0  # users still receive every byte, from the cache or not
    fill_at_90, fill_at_95 = served_pb * 0.10, served_pb * 0.05
    assert fill_at_90 - fill_at_95 == pytest.approx(2.5)  # PB less cache fill from origin
    assert math.isclose((50 - 2.5) * 1e6 * 0.08, 3.8e6)  # the seed's 95% cut of egress


def test_003_break_even_0_168_transactions_per_user_is_0_000169(market):
    transactions = 8_440_058 / 50  # a month's bill / $50 fee
    per_user = transactions / 1e9
    assert per_user == pytest.approx(0.000169, rel=2e-3)
    differs(f"{per_user:.3f}", "0.168")
    assert per_user * 1000 == pytest.approx(0.168, rel=5e-3)  # 1,000x: 16.8% is 0.0169%


@pytest.mark.parametrize(
    "year, users, seed",
    [(1, 1e5, 8_440), (2, 1e6, 84_400), (3, 1e7, 844_000), (4, 1e8, 8_440_000)],
)
def test_003_scaling_timeline_is_ten_times_its_own_linear_rule(market, year, users, seed):
    linear = 8_440_058 * users / 1e9
    assert seed == pytest.approx(10 * linear, rel=1e-5)  # the seed's figure, 10x its rule
    row = lookup(market, f"platform.growth.rows[year_number={year}]")
    assert row["total_usd_per_month"] > linear  # re-sized, fixed costs do not shrink
    assert verdict(market, f"Scaling timeline, year {year} ($/month)") == "wrong"


def test_003_database_is_not_the_largest_cost_ai_is():
    optimized = sum(SEED_003_OPTIMIZED.values())
    assert SEED_003_OPTIMIZED["database"] / optimized == pytest.approx(0.2835, abs=5e-5)
    assert SEED_003_OPTIMIZED["ai"] > SEED_003_OPTIMIZED["database"]
    assert SEED_003_LINES["ai"] == max(SEED_003_LINES.values())  # before optimizing too
    # "48% of total (before optimization)": 48% is the optimized share; before, 32.7%
    assert SEED_003_OPTIMIZED["ai"] / optimized == pytest.approx(0.4763, abs=5e-5)


def test_003_ten_thousand_t4s_are_several_times_what_the_roofline_needs(market):
    gpus = market["inference_roofline"]["batched"]["gpus_needed_at_peak"]
    assert gpus < 10_000 / 3  # 2,786 at the 2x peak, batch 16, for the assumed 3B model


def test_003_right_figures_stay_right(market):
    right = {c.figure.label for c in seed_rows(market) if c.verdict == "agrees"}
    for label in (
        "Peak requests per second",
        "Database shards",
        "Total database ($/month)",
        "Total Redis ($/month)",
        "Total search ($/month)",
        "CDN ($/month)",
        "API bandwidth ($/month)",
        "Ollama servers ($/month)",
        "Optimized OpenAI ($/month)",
    ):
        assert label in right, label


# ================================================================ seed 004


def test_004_nodes_8_to_16_are_5_to_13_by_its_own_formula(chat):
    nodes = chat["platform"]["nodes"]
    assert (nodes["min_nodes_count"], nodes["max_nodes_count"]) == (5, 13)
    assert math.ceil((13 * 0.5 + 3 * 0.2) / 2 * 1.2) == 5  # requests: 7.1 cores on 2 vCPUs
    assert math.ceil((13 * 1.0 + 3 * 0.4) / 2 * 1.2) == 9  # even at the limits, not 8
    assert math.ceil((39 * 1.0 + 6 * 0.4) / 2 * 1.2) == 25
    assert verdict(chat, "Node count, minimum (t3.large)") == "wrong"
    assert verdict(chat, "Node count, maximum (t3.large)") == "wrong"


def test_004_the_100_user_example_is_not_its_formula():
    platform = run("chat-sizing", "platform.concurrent_users=100")["platform"]
    assert (platform["backend"]["min_pods_count"], platform["backend"]["max_pods_count"]) == (2, 6)
    assert (platform["frontend"]["min_pods_count"], platform["frontend"]["max_pods_count"]) == (
        1,
        2,
    )  # the seed prints 3-6 and 2-4


@pytest.mark.parametrize(
    "users, instance, nodes, seed",
    [
        (100, "aws-t3.medium", (1, 3), (2, 4)),
        (1500, "aws-t3.large", (7, 19), (10, 20)),
        (8000, "aws-c5.xlarge", (17, 50), (50, 100)),
    ],
)
def test_004_the_other_tiers_node_counts(users, instance, nodes, seed):
    platform = run(
        "chat-sizing", f"platform.concurrent_users={users}", f'platform.nodes.instance="{instance}"'
    )["platform"]
    got = (platform["nodes"]["min_nodes_count"], platform["nodes"]["max_nodes_count"])
    assert got == nodes and got != seed
    assert seed[1] == 2 * seed[0]  # the seed's maxima are twice its minima at every tier


def test_004_cost_500_to_800_is_639_to_1118_at_list_prices(chat):
    platform = chat["platform"]
    assert platform["total_usd_per_month"] == pytest.approx(639.0)
    assert platform["total_at_max_pods_usd_per_month"] == pytest.approx(1118.232)
    assert 500 / 10_000 == 0.05 and 800 / 10_000 == 0.08  # its per-user figure: its own range
    assert verdict(chat, "Cost per user, low ($/month)") == "wrong"


def test_004_1500_users_cost_more_than_1000_not_the_same_500_to_800():
    low = run("chat-sizing")["platform"]["total_usd_per_month"]
    high = run("chat-sizing", "platform.concurrent_users=1500")["platform"]["total_usd_per_month"]
    assert high > 1.3 * low  # 20 backend pods instead of 13, 7 nodes instead of 5


def test_004_requests_per_backend_pod_50_would_need_one_pod(chat):
    platform = chat["platform"]
    per_pod = platform["peak_requests_per_s"] / platform["backend"]["min_pods_count"]
    assert per_pod == pytest.approx(50 / 13)  # 3.8 requests/s each, 7.7% of the 50 it allows
    assert math.ceil(platform["peak_requests_per_s"] / 50) == 1


def test_004_right_figures_reproduce(chat):
    right = {c.figure.label for c in seed_rows(chat) if c.verdict == "agrees"}
    assert right == {
        "Requests/second",
        "Backend pods, minimum",
        "Backend pods, maximum",
        "Frontend pods, minimum",
        "Frontend pods, maximum",
        "Estimated RCU",
        "Estimated WCU",
    }
