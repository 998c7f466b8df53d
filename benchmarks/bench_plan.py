"""Benchmark: the run plan's estimate against a timed `capsim run`, scenario by scenario.

Each case is planned in this process, then run as `python -m sim.cli run ... --json`
in a child process whose wall time, CPU time (user + system) and peak RSS are
measured. CPU time is the steadier figure on a shared machine; the estimate is
meant to be within a factor of about 2 of it.

    python benchmarks/bench_plan.py [--bundled] [--stress] [-n N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from scenarios import bundled_scenario_names
from sim.errors import CapsimError
from sim.montecarlo.run_plan import check_plan, plan_run
from sim.scenario.file import load_scenario

ROOT = Path(__file__).resolve().parents[1]

# Runs whose cost is in replicas rather than requests.
STRESS = {
    "redai-100k, idle_timeout 60": ("redai-100k", ["autoscaling.idle_timeout=60"]),
    "diurnal-api on spot, 30 reclaims/h": (
        "diurnal-api",
        ['fleet.market="spot"', "spot.interruptions_per_hour=30", "spot.notice=10"],
    ),
    "mmc, 200,000 replicas": (
        "mmc",
        ["fleet.replicas=200000", "traffic.rate_per_s=1", 'horizon="1h"'],
    ),
    "mmc, 50,000 replicas, static batches": (
        "mmc",
        [
            "fleet.replicas=50000",
            "traffic.rate_per_s=1",
            'horizon="1h"',
            'batching={policy="static", max_batch=2}',
        ],
    ),
    "diurnal-chat, 2,000 replicas x max_batch 4096": (
        "diurnal-chat",
        ["fleet.replicas=2000", "batching.max_batch=4096", 'horizon="1h"'],
    ),
}


def timed_run(name: str, sets: list[str], replications: int | None) -> tuple[float, float, float]:
    """Wall s, CPU s (user + system) and peak RSS bytes of one `capsim run` child process."""
    args = [sys.executable, "-m", "sim.cli", "run", name, "--json", "--workers", "1"]
    if replications is not None:
        args += ["-n", str(replications)]
    for item in sets:
        args += ["--set", item]
    started = time.perf_counter()
    child = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)  # this child's own usage, not all children's
    wall_s = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"capsim run {name} {sets} exited with {child.returncode}")
    return wall_s, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024.0


def report(label: str, name: str, sets: list[str], replications: int | None) -> None:
    scenario = load_scenario(name, sets)
    if replications is not None:
        scenario = scenario.model_copy(update={"replications": replications})
    try:
        plan = plan_run(scenario, workers=1)
        check_plan(plan, yes=True)
    except CapsimError as exc:
        print(f"{label:46s} refused: {exc}")
        return
    wall_s, cpu_s, rss = timed_run(name, sets, replications)
    print(
        f"{label:46s} {plan.engine:6s} {plan.requests:>12,.0f} req {plan.replicas:>9,.0f} repl  "
        f"estimate {plan.wall_s:7.1f} s  cpu {cpu_s:7.1f} s  wall {wall_s:7.1f} s  "
        f"cpu/estimate {cpu_s / plan.wall_s:4.2f}  "
        f"memory est {plan.memory_bytes / 1e6:7.0f} MB  peak RSS {rss / 1e6:7.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundled", action="store_true", help="every bundled scenario")
    parser.add_argument("--stress", action="store_true", help="runs dominated by replicas")
    parser.add_argument("-n", type=int, default=None, help="replications (default: the file's)")
    args = parser.parse_args()
    if args.bundled or not args.stress:
        for name in bundled_scenario_names():
            report(name, name, [], args.n)
    if args.stress:
        for label, (name, sets) in STRESS.items():
            report(label, name, sets, args.n)


if __name__ == "__main__":
    main()
