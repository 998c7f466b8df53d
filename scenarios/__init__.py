"""Bundled scenario files, found by name."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path


def bundled_scenario_names() -> list[str]:
    """Names of the bundled scenarios (file stems), sorted."""
    root = resources.files(__name__)
    return sorted(
        entry.name.removesuffix(".toml") for entry in root.iterdir() if entry.name.endswith(".toml")
    )


def bundled_scenario_path(name: str) -> Path:
    """The file of a bundled scenario."""
    return Path(str(resources.files(__name__).joinpath(f"{name}.toml")))


def bundled_scenario_descriptions() -> dict[str, str]:
    """One-line description of each bundled scenario, from its `description` key."""
    out = {}
    for name in bundled_scenario_names():
        data = tomllib.loads(bundled_scenario_path(name).read_text(encoding="utf-8"))
        out[name] = str(data.get("description", "")).strip().splitlines()[0:1]
        out[name] = out[name][0] if out[name] else ""
    return out
