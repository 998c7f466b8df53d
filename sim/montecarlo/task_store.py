"""A folder of finished tasks: one Parquet file per task, written whole, and a manifest.

A task's file appears by an atomic rename only once the task is done, so after
Ctrl-C or `kill -9` every file present is complete; rerunning writes only the
missing ones, and a task written twice replaces its own file, never adds rows.
The manifest names what the folder holds; a different sweep is refused, not mixed.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

from sim.errors import CapsimError
from sim.montecarlo.json_output import dumps, plain, write_atomically

MANIFEST = "sweep.json"
ROWS = "rows"


class TaskStore:
    """`DIR/sweep.json` and `DIR/rows/<task key>.parquet`."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.rows_dir = self.folder / ROWS

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST

    def open(self, manifest: dict[str, Any], identity_keys: tuple[str, ...]) -> None:
        """Start the folder, or check that it holds this same sweep (the identity keys agree)."""
        if self.manifest_path.exists():
            found = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            wanted = plain(manifest)
            differ = [k for k in identity_keys if found.get(k) != wanted.get(k)]
            if differ:
                raise CapsimError(
                    f"{self.folder}: holds another sweep (its {' and '.join(differ)} differ "
                    "from this command's); give a new --out folder, or delete it to start over"
                )
        elif self.folder.exists() and any(self.folder.iterdir()):
            raise CapsimError(
                f"{self.folder}: is not empty and holds no {MANIFEST}; "
                "give a new or empty --out folder"
            )
        else:
            write_atomically(self.manifest_path, dumps(manifest))
        self.rows_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.rows_dir.glob(".*.tmp"):  # left by a writer that was killed
            stale.unlink(missing_ok=True)

    def done_keys(self) -> set[str]:
        """Keys of the tasks whose rows are on disk."""
        return {path.stem for path in self.rows_dir.glob("*.parquet")}

    def write_task(self, key: str, rows: pd.DataFrame) -> Path:
        """Write one task's rows whole: a temporary file, then a rename."""
        buffer = io.BytesIO()
        rows.to_parquet(buffer, index=False)
        path = self.rows_dir / f"{key}.parquet"
        write_atomically(path, buffer.getvalue())
        return path

    def read_rows(self) -> pd.DataFrame:
        """Every finished task's rows, sorted by point and replication."""
        paths = sorted(self.rows_dir.glob("*.parquet"))
        if not paths:
            return pd.DataFrame()
        frames = [pd.read_parquet(path) for path in paths]
        rows = pd.concat(frames, ignore_index=True)
        return rows.sort_values(["point", "replication"], kind="stable").reset_index(drop=True)
