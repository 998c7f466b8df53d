"""Write a matplotlib figure to a PNG file atomically."""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.figure import Figure

from sim.montecarlo.json_output import write_atomically


def save_png(figure: Figure, path: Path, dpi: int = 100) -> None:
    """Render in memory, then replace the file whole: readers never see half a PNG."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    write_atomically(Path(path), buffer.getvalue())
