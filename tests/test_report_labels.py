"""What a new user reads: durations, row and column labels, help text, bins, plot axes."""

from __future__ import annotations

import pytest
from rich.console import Console

from reports.compare_table import compare_table
from sim.units import format_duration


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
        "requests_dropped": 0,
        "requests_timed_out": 0,
        "requests_lost": 0,
        "requests_retried": 0,
    }


def test_compare_says_slo_days_only_when_a_replication_is_a_day():
    day = _text(compare_table([_policy_row("fixed")], "mmc", 86400.0))
    assert "SLO days" in day
    ten_minutes = _text(compare_table([_policy_row("fixed")], "mmc", 600.0))
    assert "SLO days" not in ten_minutes and "median day" not in ten_minutes
    assert "SLO met per 10.0 min" in ten_minutes
