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


@pytest.fixture
def model_cache_in_tmp(tmp_path, monkeypatch):
    """The fast engine's latency-model cache in the test's own folder, not the user's."""
    monkeypatch.setenv("CAPSIM_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def _session_model_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture
def shared_model_cache(_session_model_dir, monkeypatch):
    """The fast engine's latency-model cache in one folder for the session, not the user's:
    a model's key hashes everything it depends on, so tests of one scenario share it."""
    monkeypatch.setenv("CAPSIM_CACHE_DIR", str(_session_model_dir))
