"""`capsim size --out DIR`: every evaluated setting in the sweep's folder format.

Each (candidate, replica count) the search ran is one point of a grid over the
GPU, the replica count, the tensor-parallel degree and the market, with its
replications' rows as `sweep` writes them, so `capsim report DIR` draws the
cost-against-p99 frontier. The grid is sparse: only the settings the search tried.
"""

from __future__ import annotations

from pathlib import Path

from sim.errors import CapsimError
from sim.montecarlo.run_info import capsim_version
from sim.montecarlo.sizing import Sized
from sim.montecarlo.sweep import scenario_record, task_rows
from sim.montecarlo.sweep_grid import Point
from sim.montecarlo.task_store import TaskStore
from sim.scenario.schema import Scenario

GRID_KEYS = (
    "fleet.gpu",
    "fleet.replicas",
    "fleet.gpus_per_replica",
    "fleet.market",
    "autoscaling.policy",
    "autoscaling.target",
)


def check_folder(folder: Path) -> TaskStore:
    """A store for a new or empty folder; anything else is refused before the search runs."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise CapsimError(f"--out {folder}: is not an empty folder; give a new or empty one")
    return TaskStore(folder)


def write_size_folder(
    store: TaskStore,
    ref: str,
    sets: list[str],
    base: Scenario,
    sized: list[Sized],
    engine: str = "exact",
) -> None:
    """The manifest (kind "sweep") and one rows file per evaluated setting."""
    evaluations = [e for s in sized for e in s.evaluations]
    points = []
    for index, evaluation in enumerate(evaluations):
        candidate = evaluation.candidate
        target = evaluation.scenario.autoscaling.target if candidate.target is not None else "-"
        values = (
            candidate.gpu,
            evaluation.replicas,
            candidate.gpus_per_replica,
            candidate.market,
            candidate.policy,
            target,
        )
        settings = dict(zip(GRID_KEYS, values, strict=True))
        texts = {key: str(value) for key, value in settings.items()}
        points.append(Point(index, settings, texts))
    manifest = {
        "kind": "sweep",
        "made_by": "size",
        "capsim_version": capsim_version(),
        **scenario_record(ref, sets, base),
        "grid": [
            {"key": key, "values": sorted({p.settings[key] for p in points}, key=str)}
            for key in GRID_KEYS
        ],
        "seed": base.seed,
        "replications": max((e.replications for e in evaluations), default=0),
        "block_size": 0,
        "engine": engine,
        "points": [
            {"point": p.index, "settings": p.settings, "name": p.name, "error": None}
            for p in points
        ],
    }
    store.open(manifest, ())
    for point, evaluation in zip(points, evaluations, strict=True):
        rows = task_rows(point, evaluation.scenario, evaluation.results)
        store.write_task(
            f"point-{point.index:04d}_rep-00000-{evaluation.replications - 1:05d}", rows
        )
