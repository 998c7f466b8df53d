"""Write a run's results to a folder: Parquet tables, the JSON summary, figures.

Later reports and sweeps read these files instead of re-running. Every file is
written atomically, and summary.json last, so a folder with a summary is whole.
manifest.json lists the files a run wrote: a rerun into the folder removes the
earlier run's files it does not rewrite (never a file capsim did not write).
"""

from __future__ import annotations

import io
import json
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
MANIFEST = "manifest.json"


def write_run(
    out_dir: Path,
    summary: dict[str, Any],
    results: list[ReplicationResult],
    run_info: dict[str, Any] | None = None,
    serverless: bool = False,
) -> list[Path]:
    """Write the replication and fleet tables, fleet figures and summary.json; return the paths.

    With `run_info` (see sim.montecarlo.run_info) also run.json, which `capsim report` shows.
    `serverless`: the fleet figures count containers rather than replicas.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    earlier = earlier_run_files(out_dir)
    # Until the new summary is in place, the folder must not look whole.
    (out_dir / "summary.json").unlink(missing_ok=True)
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
            containers=serverless,
        )
        written.append(path)
    summary_path = out_dir / "summary.json"
    names = {p.name for p in written} | {summary_path.name, MANIFEST}
    for name in sorted(earlier - names):
        (out_dir / name).unlink(missing_ok=True)
    manifest = {"written_by": "capsim run", "files": sorted(names - {MANIFEST})}
    write_atomically(out_dir / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    write_atomically(summary_path, dumps(summary))
    written.append(summary_path)
    return written


def earlier_run_files(out_dir: Path) -> set[str]:
    """Names of the files an earlier run listed in the folder's manifest (plain names only)."""
    try:
        listed = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    if not isinstance(listed, list):
        return set()
    return {
        name
        for name in listed
        if isinstance(name, str)
        and name == Path(name).name
        and name not in ("", ".", "..")
        and (out_dir / name).is_file()
    }


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
