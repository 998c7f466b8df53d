"""`capsim report`: the HTML and CSVs for a run, a compare and a sweep, and the page in Chromium."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from report_browser_check import check_page, find_browser
from typer.testing import CliRunner

from sim.cli import app

SHORT = ["--set", 'horizon="3h"']


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def _invoke(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def folders(tmp_path_factory, runner: CliRunner) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("reports")
    out = {"run": root / "run", "compare": root / "compare", "sweep": root / "sweep"}
    _invoke(runner, ["run", "diurnal-api", *SHORT, "-n", "3", "--out", str(out["run"])])
    compare = ["compare", "diurnal-api", *SHORT, "-n", "2", "--policies", "fixed,target-tracking"]
    _invoke(runner, [*compare, "--out", str(out["compare"])])
    sweep = ["sweep", "diurnal-api", *SHORT, "--set", 'autoscaling.policy="fixed"']
    sweep += ["--set", "slo.latency_p99=3.4", "--vary", "fleet.replicas=1:3"]
    sweep += ["--vary", "fleet.gpu=T4,A10G", "-n", "3", "--out", str(out["sweep"])]
    _invoke(runner, sweep)
    for folder in out.values():
        _invoke(runner, ["report", str(folder)])
    return out


def _html(folder: Path) -> str:
    return (folder / "report.html").read_text(encoding="utf-8")


def _images(html: str) -> list[bytes]:
    found = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    return [base64.b64decode(data) for data in found]


def test_a_run_report_says_how_it_ran_and_sets_the_botec_beside_it(folders) -> None:
    html = _html(folders["run"])
    summary = json.loads((folders["run"] / "summary.json").read_text())
    assert "<th>seed</th><td>7</td>" in html and "<th>replications</th><td>3</td>" in html
    assert "compiled loop (numba)" in html and "capsim version" in html
    replicas = summary["replicas"]["mean"]["p50"]
    assert f"The BOTEC says {summary['botec_headline']['replicas_at_peak']} replicas" in html
    assert f"the simulation ran {replicas:.2f} replicas" in html
    for heading in ("Latency over every completed request", "Latency per replication"):
        assert heading in html
    assert "Cost by line item" in html and "Wilson 95% intervals" in html
    images = _images(html)
    assert len(images) == 4  # CDF, p99 by hour, cost, fleet
    assert all(image[:4] == b"\x89PNG" for image in images)
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing to fetch: opens offline


def test_every_table_is_also_a_csv_beside_the_html(folders) -> None:
    html = _html(folders["run"])
    names = re.findall(r'<a href="(report_[\w-]+\.csv)">', html)
    assert len(names) == 5
    for name in names:
        assert (folders["run"] / name).exists()
    risk = pd.read_csv(folders["run"] / "report_risk.csv")
    summary = json.loads((folders["run"] / "summary.json").read_text())
    violation = summary["risk"]["p_slo_violation"]
    assert f"{100 * violation:.1f}%" in set(risk["estimate"])
    cost = pd.read_csv(folders["run"] / "report_cost.csv")
    total = cost[cost["line item"] == "total"].iloc[0]
    assert total["per month p50"] == f"${summary['cost_usd']['monthly']['p50']:,.0f}"


def test_a_compare_report_has_a_bar_group_per_policy_and_each_policys_run(folders) -> None:
    html = _html(folders["compare"])
    assert "One bar group per policy" in html
    assert "fixed: Latency" in html and "target-tracking: Latency" in html
    assert len(_images(html)) == 1 + 2 * 4
    assert (folders["compare"] / "report_policies.csv").exists()
    assert (folders["compare"] / "report_target-tracking_risk.csv").exists()


def test_a_sweep_report_names_the_cheapest_point_meeting_the_slo(folders) -> None:
    html = _html(folders["sweep"])
    rows = pd.read_parquet(folders["sweep"] / "rows")
    met = rows.groupby("point").agg(
        met=("slo_met", "mean"), cost=("cost_monthly_total_usd", "median")
    )
    settings = rows.groupby("point")[["fleet.replicas", "fleet.gpu"]].first()
    meeting = met[met["met"] >= 0.95].join(settings).sort_values("cost")
    assert len(meeting) > 0
    cheapest = meeting.iloc[0]
    assert (
        f"takes {cheapest['fleet.replicas']} replicas" in html
    )  # the fewest that meet p99 on 95% of days
    assert f"fleet.replicas={cheapest['fleet.replicas']}, fleet.gpu={cheapest['fleet.gpu']}" in html
    assert "Chance of meeting the SLO" in html and "Cost against p99" in html
    assert len(_images(html)) == 2
    points = pd.read_csv(folders["sweep"] / "report_points.csv")
    assert len(points) == 6


def test_a_folder_without_results_is_one_line(runner: CliRunner, tmp_path) -> None:
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "holds no summary.json, compare.json or sweep.json" in result.stderr
    assert not (tmp_path / "report.html").exists()


needs_chromium = pytest.mark.skipif(
    find_browser() is None, reason="no chromium installed (.ci/run installs it)"
)


@needs_chromium
def test_each_report_opens_in_chromium_with_every_image_loaded(folders, tmp_path) -> None:
    browser = find_browser()
    for kind, folder in folders.items():
        result = check_page(folder / "report.html", tmp_path / f"{kind}.png", browser)
        assert result.problems == [], (kind, result)
        assert result.images == len(_images(_html(folder)))


@needs_chromium
def test_the_browser_check_catches_an_image_that_does_not_load(folders, tmp_path) -> None:
    page = tmp_path / "broken.html"
    page.write_text(_html(folders["run"]).replace("base64,iVBOR", "base64,AAAA", 1))
    result = check_page(page, tmp_path / "broken.png", find_browser())
    assert result.problems == ["1 of 4 images did not load"]
