"""Fixtures shared across test files: the bundled seed scenarios' BOTECs, computed once."""

from __future__ import annotations

import pytest
from botec_helpers import run


@pytest.fixture(scope="session")
def smartpal() -> dict:
    return run("smartpal")


@pytest.fixture(scope="session")
def redai() -> dict:
    return run("redai-1k")


@pytest.fixture(scope="session")
def redai100k() -> dict:
    return run("redai-100k")
