"""Figure of one replication's traffic: measured arrivals per bin against the target rate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure


def _time_axis(horizon_s: float) -> tuple[float, str]:
    """Seconds per plotted unit and the unit's name, chosen for the horizon."""
    if horizon_s >= 3 * 86400:
        return 86400.0, "days"
    if horizon_s >= 3 * 3600:
        return 3600.0, "hours"
    if horizon_s >= 3 * 60:
        return 60.0, "minutes"
    return 1.0, "seconds"


def plot_traffic(summary: dict[str, Any], path: str | Path) -> Path:
    """Draw the measured rate per bin (steps) and the target profile; save to path (PNG, SVG...)."""
    counts = np.asarray(summary["counts"], dtype=float)
    bin_s = float(summary["bin_s"])
    horizon_s = float(summary.get("horizon_s", bin_s * counts.size))
    edges_s = np.minimum(np.arange(counts.size + 1) * bin_s, horizon_s)
    measured = np.asarray(summary["rate_per_s"], dtype=float)
    target = np.asarray(summary.get("target_rate_per_s", []), dtype=float)
    unit_s, unit = _time_axis(horizon_s)
    x = edges_s / unit_s

    figure = Figure(figsize=(9, 4.5), layout="constrained")
    axes = figure.add_subplot()
    axes.stairs(measured, x, label="measured (arrivals / bin width)", color="tab:blue", lw=1.5)
    if target.size == counts.size:
        axes.stairs(target, x, label="target profile (bin mean)", color="tab:orange", ls="--")
    axes.set_xlim(x[0], x[-1])
    axes.set_ylim(bottom=0)
    axes.set_xlabel(f"time since start ({unit})")
    axes.set_ylabel("arrival rate (requests/s)")
    name = summary.get("scenario", "scenario")
    total = int(summary.get("total", counts.sum()))
    expected = summary.get("expected_total")
    subtitle = f"{total:,} requests"
    if expected is not None:
        subtitle += f" (expected {expected:,.0f})"
    figure.suptitle(f"Traffic of {name}, replication {summary.get('replication', 0)}: {subtitle}")
    axes.set_title(f"bins of {bin_s:g} s", fontsize="small")
    axes.grid(alpha=0.3)
    axes.legend(loc="best")
    out = Path(path)
    figure.savefig(out, dpi=120)
    return out
