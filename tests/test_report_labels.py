"""What a new user reads: durations, row and column labels, help text, bins, plot axes."""

from __future__ import annotations

import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

from reports.compare_table import compare_table
from reports.fleet_figure import fleet_figure
from reports.run_table import latency_table
from sim.scenario.units import format_duration, round_bin_s

SHORT_RUN = ["--set", 'horizon="10m"', "-n", "1"]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.0, "0 s"), (2e-7, "0.2 us"), (5e-6, "5 us"), (0.0254, "25.4 ms"), (2.81, "2.81 s"),
     (600.0, "10.0 min"), (86400.0, "24.0 h")],
)  # fmt: skip
def test_format_duration_never_prints_a_zero_in_microseconds(seconds, shown):
    assert format_duration(seconds) == shown


def _text(renderable, width: int = 200) -> str:
    console = Console(width=width, record=True)
    console.print(renderable)
    return console.export_text()


def _policy_row(policy: str) -> dict:
    return {
        "policy": policy,
        "replications": 2,
        "cost_monthly_usd_p50": 1523.0,
        "cost_monthly_usd_p95": 1530.0,
        "latency_e2e_s_p50": 1.28,
        "latency_e2e_s_p99": 5.82,
        "worst_hour_p99_e2e_s": 5.76,
        "slo_days_met_share": 1.0,
        "replicas_min": 4.0,
        "replicas_mean": 4.0,
        "replicas_max": 4.0,
        "cold_starts_per_replication": 0.0,
        "interruptions_per_replication": 0.0,
        "requests_completed": 1000,
        "requests_dropped": 0,
        "requests_timed_out": 0,
        "requests_lost": 0,
        "requests_in_flight": 0,
        "requests_retried": 0,
    }


def test_compare_says_slo_days_only_when_a_replication_is_a_day():
    day = _text(compare_table([_policy_row("fixed")], "mmc", 86400.0))
    assert "SLO days" in day
    ten_minutes = _text(compare_table([_policy_row("fixed")], "mmc", 600.0))
    assert "SLO days" not in ten_minutes and "median day" not in ten_minutes
    assert "SLO met per 10.0 min" in ten_minutes


def _latency_summary(service_model: str, ttft_s: float) -> dict:
    def stats(value: float) -> dict:
        return {"mean": value, "p50": value, "p90": value, "p99": value}

    return {
        "latency_s": {
            "wait": stats(0.0),
            "ttft": stats(ttft_s),
            "tpot": stats(float("nan")),
            "e2e": stats(2.0),
        },
        "replication_p99_e2e_s": {"p5": 2.0, "p50": 2.0, "p95": 2.0},
        "botec": {"service_model": service_model},
    }


def test_latency_table_leaves_out_ttft_under_a_per_request_latency():
    text = _text(latency_table(_latency_summary("latency", 2.0)))
    assert "end to end" in text and "time to first token" not in text
    assert "0 us" not in text
    roofline = _text(latency_table(_latency_summary("roofline", 0.05)))
    assert "time to first token" in roofline and "50.0 ms" in roofline


def test_ttft_row_is_shown_for_the_roofline_from_a_real_run():
    from sim.cli import app

    result = CliRunner().invoke(app, ["run", "diurnal-chat", *SHORT_RUN])
    assert result.exit_code == 0, result.output
    assert "time to first token" in result.stdout
    per_request = CliRunner().invoke(app, ["run", "diurnal-api", *SHORT_RUN])
    assert per_request.exit_code == 0, per_request.output
    assert "time to first token" not in per_request.stdout
    assert "end to end" in per_request.stdout


def test_a_serverless_fleet_figure_counts_whole_containers():
    # redai-1k's one container is up 2 s in each 86 s: its 5-minute means are ~0.02.
    series = {
        "time_s": [0.0, 300.0, 600.0],
        "replicas_up": [0.02, 0.0, 0.007],
        "replicas_serving": [0.02, 0.0, 0.007],
        "arrival_rate_per_s": [0.01, 0.0, 0.0033],
    }
    figure = fleet_figure(series, "redai-1k", containers=True)
    axis = figure.axes[0]
    assert axis.get_ylabel().startswith("containers")
    figure.canvas.draw()
    ticks = [t for t in axis.get_yticks() if axis.get_ylim()[0] <= t <= axis.get_ylim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    assert max(ticks) >= 1
    assert fleet_figure(series, "x").axes[0].get_ylabel().startswith("replicas")


@pytest.mark.parametrize(
    "verb", [(), ("botec",), ("run",), ("traffic",), ("compare",), ("validate",), ("catalog",)]
)
def test_help_names_values_and_shows_flags_bare(verb):
    from sim.cli import app

    result = CliRunner().invoke(app, [*verb, "--help"], prog_name="capsim")
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.stdout
    assert "{scenario}" not in result.stdout and "<list[str]>" not in result.stdout
    if verb and verb[0] not in ("catalog",):
        assert f"capsim {verb[0]} [OPTIONS] SCENARIO" in result.stdout


@pytest.mark.parametrize(
    ("horizon_s", "bin_s"),
    [(86400.0, 3600.0), (3600.0, 120.0), (600.0, 15.0), (7200.0, 300.0), (7 * 86400.0, 21600.0)],
)
def test_round_bin_s_cuts_a_horizon_into_24_to_60_bins(horizon_s, bin_s):
    assert round_bin_s(horizon_s) == bin_s
    assert 24 <= horizon_s / bin_s <= 60


def test_traffic_bins_a_one_hour_trace_by_its_horizon_unless_told():
    from sim.cli import app

    result = CliRunner().invoke(app, ["traffic", "azure-conv", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["horizon_s"] == 3600.0
    assert summary["bin_s"] == 120.0 and len(summary["counts"]) == 30
    assert len(set(summary["counts"])) > 1  # not one flat line
    hourly = CliRunner().invoke(app, ["traffic", "azure-conv", "--json", "--bins", "1h"])
    assert json.loads(hourly.stdout)["bin_s"] == 3600.0
