"""Shared helpers for the BOTEC and seed-audit tests."""

from __future__ import annotations

from reports.botec_table import lookup
from sim.baseline.botec import botec
from sim.scenario.file import load_scenario


def run(name: str, *overrides: str) -> dict:
    """The BOTEC of a bundled scenario with `--set` overrides."""
    return botec(load_scenario(name, list(overrides)))


def row(result: dict, requests_per_day: float) -> dict:
    """One row of the scaling table."""
    return lookup(result, f"scaling.rows[requests_per_day={requests_per_day}]")


def month(result: dict, number: int) -> dict:
    """One month of the growth projection."""
    return lookup(result, f"growth.months[month_number={number}]")
