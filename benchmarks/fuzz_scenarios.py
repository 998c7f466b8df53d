"""Fuzz the bundled scenarios: N hypothesis-drawn mutants, validated and run short.

The mutation strategy and the checks are tests/scenario_mutants.py's, the same the
suite's tests/test_scenario_fuzz.py uses on a small budget. Mutants are drawn first
(seeded, so a run is repeatable), then checked on --workers guarded processes, each
with a wall-time limit per check (a hang is a finding, not a stuck run) and a
memory limit. Prints the counts (mutants, valid, run, failures and advisories by
kind) and every distinct failure with one mutant that shows it, the capsim
command that reproduces it (the mutant is written as a TOML file under --out) and
the exception's last line.

    python benchmarks/fuzz_scenarios.py [--mutants 10000] [--budget-s 3600]
                                        [--workers 2] [--seed 0] [--out DIR]
"""

from __future__ import annotations

import argparse
import queue
import re
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hypothesis import HealthCheck, Phase, given, seed, settings
from scenario_mutants import (
    GuardedChecker,
    Mutant,
    Outcome,
    mutants,
    repro_command,
    to_toml,
)


def draw_mutants(count: int, master_seed: int) -> list[Mutant]:
    """`count` mutants from the shared strategy, in a repeatable order."""
    drawn: list[Mutant] = []

    @seed(master_seed)
    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(mutants())
    def collect(mutant: Mutant) -> None:
        drawn.append(mutant)

    collect()
    return drawn[:count]


def check_all(drawn: list[Mutant], workers: int, budget_s: float) -> list[tuple[Mutant, Outcome]]:
    """Check mutants on `workers` guarded processes until done or out of time."""
    todo: queue.Queue[Mutant] = queue.Queue()
    for mutant in drawn:
        todo.put(mutant)
    results: list[tuple[Mutant, Outcome]] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + budget_s

    def work() -> None:
        checker = GuardedChecker()
        try:
            while time.monotonic() < stop_at:
                try:
                    mutant = todo.get_nowait()
                except queue.Empty:
                    return
                outcome = checker.check(mutant)
                with lock:
                    results.append((mutant, outcome))
                    if len(results) % 500 == 0:
                        print(f"  checked {len(results)}", file=sys.stderr, flush=True)
        finally:
            checker.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def signature(kind: str, detail: str) -> tuple[str, str]:
    """A failure with its numbers and quoted values blanked: one line per distinct bug."""
    if kind in ("non-finite", "negative", "botec-non-finite"):
        return kind, detail.split(":")[0]  # the sections the figures are in
    if kind == "hang":
        return kind, detail.split("stuck at ")[-1]
    detail = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", detail)
    detail = re.sub(r"(?<![\w.])-?\d[\d,.e+-]*", "N", detail)
    detail = re.sub(r"\b(inf|nan)\b", "N", detail)
    return kind, detail


def tally(
    results: list[tuple[Mutant, Outcome]], advisory: bool
) -> tuple[Counter[str], dict[tuple[str, str], tuple[Mutant, Outcome, str, int]]]:
    """Mutants by kind, and each distinct problem with its shortest mutant and count."""
    counts: Counter[str] = Counter()
    distinct: dict[tuple[str, str], tuple[Mutant, Outcome, str, int]] = {}
    for mutant, outcome in results:
        problems = outcome.advice if advisory else outcome.problems
        for kind in {kind for kind, _ in problems}:
            counts[kind] += 1
        for key, detail in {signature(k, d): d for k, d in problems}.items():
            seen = distinct.get(key)
            count = (seen[3] if seen else 0) + 1
            if seen is None or len(mutant.describe()) < len(seen[0].describe()):
                distinct[key] = (mutant, outcome, detail, count)
            else:
                distinct[key] = (*seen[:3], count)
    return counts, distinct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mutants", type=int, default=10_000)
    parser.add_argument("--budget-s", type=float, default=3600.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/capsim-fuzz"))
    args = parser.parse_args()

    started = time.monotonic()
    drawn = draw_mutants(args.mutants, args.seed)
    unique = len({m.describe() for m in drawn})
    print(f"drew {len(drawn)} mutants ({unique} distinct) in {time.monotonic() - started:.0f} s")
    checked_at = time.monotonic()
    results = check_all(drawn, args.workers, args.budget_s)
    wall_s = time.monotonic() - checked_at

    failures, distinct = tally(results, advisory=False)
    advice, distinct_advice = tally(results, advisory=True)
    stages: Counter[str] = Counter(outcome.stage for _, outcome in results)
    failing_mutants = sum(bool(outcome.problems) for _, outcome in results)

    print(f"checked {len(results)} of {len(drawn)} in {wall_s:.0f} s on {args.workers} workers")
    print(f"mutants: {len(results)}")
    print(f"valid: {sum(o.validated for _, o in results)}")
    print(f"run: {sum(o.ran for _, o in results)}")
    print(f"mutants with a failure: {failing_mutants}")
    slowest = sorted(
        ((o.elapsed_s, m.describe()) for m, o in results if not o.stage.startswith("hang")),
        reverse=True,
    )[:3]
    print("slowest finished checks: " + "; ".join(f"{t:.1f} s ({d[:100]})" for t, d in slowest))
    print("stages: " + ", ".join(f"{k} {v}" for k, v in sorted(stages.items())))
    print("failures by kind (mutants):")
    for kind, count in sorted(failures.items()):
        print(f"  {kind}: {count}")
    print("advisories by kind (mutants):")
    for kind, count in sorted(advice.items()):
        print(f"  {kind}: {count}")

    args.out.mkdir(parents=True, exist_ok=True)
    print(f"distinct failures ({len(distinct)}), each with its shortest mutant:")
    for i, ((kind, _), (mutant, outcome, detail, count)) in enumerate(sorted(distinct.items())):
        path = args.out / f"{i:03d}-{kind.replace(':', '-')}.toml"
        path.write_text(to_toml(mutant.data), encoding="utf-8")
        print(f"[{i:03d}] {kind} (x{count})")
        print(f"    mutation: {mutant.describe()[:300]}")
        print(f"    command:  {repro_command(mutant, outcome, path)}")
        print(f"    last line: {detail[:400]}")
    print(f"distinct advisories ({len(distinct_advice)}):")
    for (kind, _), (mutant, _, detail, count) in sorted(distinct_advice.items()):
        if kind != "error-multiline":
            print(f"  {kind} (x{count}): {detail[:200]}  <- {mutant.describe()[:150]}")


if __name__ == "__main__":
    main()
