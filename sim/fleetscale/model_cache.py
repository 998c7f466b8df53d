"""The on-disk cache of latency models: one compressed .npz per key, written atomically.

The folder is $CAPSIM_CACHE_DIR, else $XDG_CACHE_HOME/capsim, else ~/.cache/capsim.
A key is a hash of everything a model depends on (the probe scenario, the request
sizes it drew, the engine's source), so a stale model is never read.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

CACHE_ENV = "CAPSIM_CACHE_DIR"


def cache_dir() -> Path:
    """Where latency models are kept (created on first write)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "capsim"


def key_of(*parts: bytes | str) -> str:
    """A hex digest of the parts, in order."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()[:32]


def load_arrays(key: str) -> dict[str, np.ndarray] | None:
    """The arrays stored under `key`, or None if absent or unreadable."""
    path = cache_dir() / f"latency-model-{key}.npz"
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, KeyError):
        return None  # a damaged file is rebuilt, not trusted


def save_arrays(key: str, arrays: dict[str, np.ndarray]) -> None:
    """Store the arrays under `key`: write a temporary file, then rename it into place."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".latency-model-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez_compressed(file, **arrays)
        os.replace(temporary, folder / f"latency-model-{key}.npz")
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
