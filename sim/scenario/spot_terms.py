"""The spot market's terms a scenario runs under: its own figures, else the catalog's."""

from __future__ import annotations

from dataclasses import dataclass

from sim.scenario.catalog import load_catalog
from sim.scenario.schema import Scenario

# For a provider the catalog has no spot figures for (documented in the scenario format).
FALLBACK_INTERRUPTIONS_PER_HOUR = 0.05
FALLBACK_NOTICE_S = 120.0


@dataclass(frozen=True)
class SpotTerms:
    """How often spot replicas are reclaimed, with how much notice, and what happens then."""

    interruptions_per_hour: float
    notice_s: float
    retry: bool


def spot_terms(scenario: Scenario) -> SpotTerms:
    """The scenario's spot settings, with the catalog's figures for its provider as defaults."""
    spot = scenario.spot
    listed = load_catalog().spot.get(scenario.fleet.provider)
    rate = spot.interruptions_per_hour
    if rate is None:
        rate = listed.interruptions_per_hour if listed else FALLBACK_INTERRUPTIONS_PER_HOUR
    notice = spot.notice
    if notice is None:
        notice = listed.notice_s if listed else FALLBACK_NOTICE_S
    return SpotTerms(interruptions_per_hour=rate, notice_s=notice, retry=spot.retry)
