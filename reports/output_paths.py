"""Check, before any simulation, that the files and folders a command writes can be written.

A command that would fail to save its output after minutes of work fails at once
instead, with one line naming the option and the path, and writes nothing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sim.errors import CapsimError

FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


def check_output_folder(path: Path, option: str) -> None:
    """A folder to write results into: an existing folder, or one that can be created."""
    if path.exists() and not path.is_dir():
        raise CapsimError(
            f"{option} {path}: is a file, not a folder; give a folder for the results"
        )
    folder = path
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise CapsimError(f"{option} {path}: {folder} is a file, not a folder")
    _check_writable(folder, option, path)


def check_output_file(path: Path, option: str, suffixes: tuple[str, ...] = FIGURE_SUFFIXES) -> None:
    """A file to write: a name with an allowed suffix, in an existing, writable folder."""
    if path.is_dir():
        raise CapsimError(f"{option} {path}: is a folder; give a file name such as plot.png")
    if path.suffix.lower() not in suffixes:
        raise CapsimError(
            f"{option} {path}: the file name must end in {', '.join(suffixes)} (the figure format)"
        )
    folder = path.parent
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "no such folder"
        raise CapsimError(f"{option} {path}: {folder}: {what}")
    _check_writable(folder, option, path)


def _check_writable(folder: Path, option: str, path: Path) -> None:
    """Create and remove a scratch file in folder (permission bits alone miss read-only mounts)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise CapsimError(f"{option} {path}: cannot write in {folder} ({exc.strerror})") from None
