"""Throughput against concurrency for closed-loop clients, with its independent checks.

Prints, per concurrency N: the simulated throughput (completions between the warm-up
and the horizon), the mean e2e, Little's law N / (X (R + Z)) (1 when the loop is
consistent), the BOTEC's bound min(N / (T + Z), fleet) and, for the M/M/1//N case,
the exact machine-repairman throughput.

    .venv/bin/python benchmarks/closed_loop_saturation.py [--scenario FILE.toml]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from distributions.tokens import dist_mean_cv
from distributions.traffic import generate_requests
from sim.engine.request_log import COMPLETED
from sim.engine.service_time import build_service_model
from sim.fleet.closed_loop_bound import closed_loop_bound
from sim.montecarlo.replication import replication_streams, simulate
from sim.scenario.file import load_scenario, validate_scenario

EXAMPLE = Path(__file__).parents[1] / "docs" / "examples" / "closed-loop.toml"


def steady_figures(scenario, replication: int, warmup_s: float) -> tuple[float, float, int]:
    """(throughput, mean e2e, completions) of requests finishing in [warmup, horizon)."""
    streams = replication_streams(scenario.seed, replication)
    result = simulate(
        scenario, generate_requests(scenario, streams["traffic"]), streams, keep_log=True
    )
    log = result.log
    done = (log.status == COMPLETED) & (log.finish_s >= warmup_s)
    done &= log.finish_s < scenario.horizon
    e2e = (log.finish_s - log.arrival_s)[done]
    return done.sum() / (scenario.horizon - warmup_s), float(e2e.mean()), int(done.sum())


def machine_repairman_per_s(clients: int, service_s: float, think_s: float) -> float:
    ratio, total, term = service_s / think_s, 1.0, 1.0
    for k in range(1, clients + 1):
        term *= (clients - k + 1) * ratio
        total += term
    return (1.0 - 1.0 / total) / service_s


def sweep(scenario, concurrencies: list[int], warmup_s: float, exact=None) -> None:
    think = scenario.traffic.think_time
    think_s = 0.0 if think is None else dist_mean_cv(think)[0]
    heads = ("N", "X req/s", "e2e s", "N/(X(R+Z))", "BOTEC bound", "exact")
    print(" ".join(f"{h:>{w}}" for h, w in zip(heads, (5, 9, 8, 11, 12, 8), strict=True)))
    for n in concurrencies:
        point = scenario.model_copy(
            update={"traffic": scenario.traffic.model_copy(update={"concurrency": n})}
        )
        runs = [steady_figures(point, r, warmup_s) for r in range(3)]
        x = float(np.mean([r[0] for r in runs]))
        e2e = float(np.mean([r[1] for r in runs]))
        bound = closed_loop_bound(point, build_service_model(point)).throughput_per_s
        little = n / (x * (e2e + think_s))
        exact_text = f"{exact(n):8.3f}" if exact else f"{'':>8}"
        print(f"{n:5d} {x:9.3f} {e2e:8.3f} {little:11.3f} {bound:12.3f} {exact_text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(EXAMPLE))
    args = parser.parse_args()
    scenario = load_scenario(args.scenario, ["horizon=20m"])
    print(f"{scenario.name}: 3 replications of 20 min, warm-up 2 min")
    sweep(scenario, [1, 2, 4, 8, 16, 32, 64, 128, 256], 120.0)
    mm1 = validate_scenario(
        {
            "horizon": 4000.0,
            "traffic": {
                "arrival": "closed",
                "concurrency": 1,
                "think_time": {"dist": "exponential", "mean": 4.0},
            },
            "service": {"model": "latency", "latency": {"dist": "exponential", "mean": 1.0}},
            "fleet": {"gpu": "T4", "replicas": 1, "router": "shared-queue"},
        },
        source="M/M/1//N",
    )
    print("\nM/M/1//N: service 1 s, think 4 s (exponential); 3 replications of 4000 s")
    sweep(mm1, [1, 2, 3, 5, 8, 12, 20], 200.0, lambda n: machine_repairman_per_s(n, 1.0, 4.0))


if __name__ == "__main__":
    main()
