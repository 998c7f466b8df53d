"""`capsim levers`: every lever against the baseline on the same seeds, the seed's
claims beside capsim's figures, reasons for levers that do not save, and a folder
`capsim report` reads."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sim.cli import app

SCENARIO = """\
name = "levers-cli"
horizon = "20m"
seed = 5
[traffic]
rate_per_s = 3.2
profile = "diurnal"
[service]
model = "latency"
latency = { dist = "exponential", mean = 1.0 }
[fleet]
gpu = "T4"
replicas = 6
router = "shared-queue"
[pricing]
minimum_billed = 0
[levers.routing]          # the scenario's own routing: a share to a dear hosted model
share = 0.7
input_usd_per_1k_tokens = 0.01
output_usd_per_1k_tokens = 0.03
"""


@pytest.fixture(scope="module")
def found(tmp_path_factory):
    folder = tmp_path_factory.mktemp("levers")
    path = folder / "levers-cli.toml"
    path.write_text(SCENARIO)
    out = folder / "out"
    args = ["levers", str(path), "-n", "1", "--workers", "1", "--json", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), out


def rows_by_name(document):
    return {row["policy"]: row for row in document["levers"]}


def test_every_lever_runs_on_the_baseline_traffic(found):
    document, _ = found
    rows = rows_by_name(document)
    assert {"baseline", "cache", "batch API", "model routing", "reserved base"} <= set(rows)
    arrived = {row["requests_arrived"] for row in rows.values()}
    assert len(arrived) == 1  # the same seeds give every lever the same requests
    for name in ("prompt compression", "max_tokens cap", "quantization int8"):
        assert "service.model = latency" in document["skipped"][name]


def test_the_cache_saves_and_the_table_names_its_default_and_the_seed_claim(found):
    rows = rows_by_name(found[0])
    cache, base = rows["cache"], rows["baseline"]
    assert cache["defaults"] == ["hit_rate 0.4"]
    assert "40-60%" in cache["seed_claim"]
    # The fixed fleet re-sized for 60% of the work: ceil(6 x 0.6) = 4 replicas.
    assert cache["replicas_setting"] == 4
    saving = 1 - cache["cost_monthly_usd_p50"] / base["cost_monthly_usd_p50"]
    assert cache["saving_fraction"] == pytest.approx(saving)
    assert cache["saving_fraction"] > 0.2
    assert cache["direction"] == "saves, as the seed claims"


def test_a_lever_that_does_not_save_says_why(found):
    rows = rows_by_name(found[0])
    # The scenario's 70% at $0.01/$0.03 per 1k tokens costs more than the T4 time it frees.
    routing = rows["model routing"]
    assert routing["defaults"] == []  # as the scenario wrote it
    assert routing["settings"]["levers.routing.input_usd_per_1k_tokens"] == 0.01
    assert routing["saving_fraction"] < 0
    assert rows["baseline"]["requests_arrived"] == routing["requests_arrived"]
    assert routing["direction"].startswith("does not save: its routed_api_tokens cost more")


def test_all_together_combines_the_levers_that_saved(found):
    rows = rows_by_name(found[0])
    together = rows["all together"]
    saved = [n for n, r in rows.items() if n not in ("baseline", "all together")]
    saved = [n for n in saved if rows[n]["saving_fraction"] > 0]
    assert set(together["defaults"]) <= set(saved)
    assert "cache" in together["defaults"]
    assert together["saving_fraction"] >= rows["cache"]["saving_fraction"]


def test_the_out_folder_is_a_report(found):
    _, out = found
    manifest = json.loads((out / "compare.json").read_text())
    assert manifest["kind_detail"] == "levers"
    assert (out / "cache" / "summary.json").exists()
    result = CliRunner().invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "report.html").stat().st_size > 0


def test_seed_002_routing_claim_against_its_own_prices():
    """Seed 002: 70% of requests at $0.65/1M and 30% at $30/1M "cuts cost 75%"; its
    own prices give 1 - (0.7 x 0.65 + 0.3 x 30) / 30 = 68.5%, which the table cites."""
    saving = 1 - (0.7 * 0.65 + 0.3 * 30.0) / 30.0
    assert round(100 * saving, 1) == 68.5
    from sim.montecarlo.levers import levers_of
    from sim.scenario.file import validate_scenario

    scenario = validate_scenario(
        {"traffic": {"rate_per_s": 1.0}, "service": {"model": "roofline"}}, source="t"
    )
    routing = next(lv for lv in levers_of(scenario) if lv.name == "model routing")
    assert "68.5%" in routing.seed_claim
