"""Write a run's results to a folder: Parquet tables, the JSON summary, figures.

Later reports and sweeps read these files instead of re-running. Every file is
written atomically, and summary.json last, so a folder with a summary is whole.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reports.fleet_figure import plot_fleet
from reports.latency_figure import plot_latency_over_time
from sim.montecarlo.json_output import dumps, write_atomically
from sim.montecarlo.latency_histogram import bin_upper_edges_s
from sim.montecarlo.results import LATENCY_METRICS, ReplicationResult

MAX_FLEET_FIGURES = 20


def write_run(
    out_dir: Path,
    summary: dict[str, Any],
    results: list[ReplicationResult],
    run_info: dict[str, Any] | None = None,
) -> list[Path]:
    """Write the replication and fleet tables, fleet figures and summary.json; return the paths.

    With `run_info` (see sim.montecarlo.run_info) also run.json, which `capsim report` shows.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if run_info is not None:
        written.append(out_dir / "run.json")
        write_atomically(written[-1], dumps(run_info))
    written.append(_write_parquet(out_dir / "latency_histogram.parquet", pooled_histogram(results)))
    rows = pd.DataFrame([{**r.row(), "seed": summary["seed"]} for r in results])
    written.append(_write_parquet(out_dir / "replications.parquet", rows))
    fleet = pd.concat(
        [pd.DataFrame({"replication": r.replication, **r.fleet_series}) for r in results],
        ignore_index=True,
    )
    written.append(_write_parquet(out_dir / "fleet.parquet", fleet))
    latency = pd.concat(
        [pd.DataFrame({"replication": r.replication, **r.latency_series}) for r in results],
        ignore_index=True,
    )
    written.append(_write_parquet(out_dir / "latency_by_hour.parquet", latency))
    latency_path = out_dir / "latency_by_hour.png"
    plot_latency_over_time(
        [r.latency_series for r in results],
        summary.get("risk", {}).get("slo_e2e_p99_s"),
        f"{summary['scenario']}: p99 end to end by hour, each replication",
        latency_path,
    )
    written.append(latency_path)
    for result in results[:MAX_FLEET_FIGURES]:
        path = out_dir / f"fleet_replication_{result.replication:03d}.png"
        plot_fleet(
            result.fleet_series,
            f"{summary['scenario']}: replication {result.replication}",
            path,
        )
        written.append(path)
    summary_path = out_dir / "summary.json"
    write_atomically(summary_path, dumps(summary))
    written.append(summary_path)
    return written


def pooled_histogram(results: list[ReplicationResult]) -> pd.DataFrame:
    """Latency counts pooled over replications, non-empty bins only (for the report's CDF)."""
    edges_s = bin_upper_edges_s()
    frames = []
    for metric in LATENCY_METRICS:
        counts = sum(r.latency_histograms[metric] for r in results)
        filled = np.flatnonzero(counts)
        frames.append(
            pd.DataFrame({"metric": metric, "upper_s": edges_s[filled], "count": counts[filled]})
        )
    return pd.concat(frames, ignore_index=True)


def _write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    write_atomically(path, buffer.getvalue())
    return path
