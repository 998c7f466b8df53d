"""Write a compare's results to a folder: compare.json and one run folder per policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reports.run_files import write_run
from sim.montecarlo.json_output import dumps, write_atomically
from sim.montecarlo.policy_runs import PolicyRun
from sim.montecarlo.run_info import run_info

COMPARE_MANIFEST = "compare.json"


def write_compare(
    out_dir: Path,
    runs: list[PolicyRun],
    rows: list[dict[str, Any]],
    executor: str,
    workers: int,
    extra: dict[str, Any] | None = None,
) -> list[Path]:
    """DIR/<policy>/ as `run --out` writes it, then DIR/compare.json (last, so it means whole)."""
    out_dir = Path(out_dir)
    written = []
    for run in runs:
        info = run_info(run.scenario, executor, workers)
        written += write_run(out_dir / run.policy, run.summary, run.results, info)
    base = runs[0].scenario
    document = {
        "kind": "compare",
        "scenario": base.name,
        "seed": base.seed,
        "replications": base.replications,
        "policies": rows,
        "folders": {run.policy: run.policy for run in runs},
        **(extra or {}),  # e.g. `capsim levers`' own rows beside the compare's
    }
    written.append(out_dir / COMPARE_MANIFEST)
    write_atomically(written[-1], dumps(document))
    return written
