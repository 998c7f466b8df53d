"""pyproject.toml in the form current setuptools reads without a deprecation warning."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_license_is_an_spdx_string_with_the_setuptools_floor_it_needs():
    # A `{ text = ... }` table makes setuptools >= 77 warn three times at install;
    # the SPDX string form is read from setuptools 77 on.
    project = tomllib.loads(PYPROJECT.read_text())
    assert project["project"]["license"] == "Apache-2.0"
    floors = [
        re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", r) for r in project["build-system"]["requires"]
    ]
    found = [int(m.group(1)) for m in floors if m]
    assert found and found[0] >= 77, project["build-system"]["requires"]
