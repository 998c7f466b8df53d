"""Write fitted `[service]` values into a scenario file, keeping everything else as it was.

The file is edited with tomlkit (comments, order and formatting survive), written to a
temporary file beside it and renamed over it, so a failure leaves the old file whole.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import tomlkit


def service_block(values: dict[str, float]) -> str:
    """The `[service]` keys as TOML text (only those given)."""
    table = tomlkit.table()
    for key, value in values.items():
        table[key] = value
    return tomlkit.dumps({"service": table})


def write_service_values(path: Path, values: dict[str, float]) -> None:
    """Set `[service]` keys in the TOML file at `path`, atomically."""
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    service = document.setdefault("service", tomlkit.table())
    for key, value in values.items():
        service[key] = value
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(tomlkit.dumps(document))
        os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
