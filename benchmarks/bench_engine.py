"""Benchmark: simulated requests per wall-second of the exact engine, one core.

(a) M/M/8 at utilisation 0.8, no batching, one shared FIFO line (the M/M/c
    discipline), exponential service of 1 s;
(b) continuous batching at 64 on 8 replicas: a Llama-3.1-8B-sized model on
    A100-80GB, prompts of 500 and outputs of about 200 tokens, least-loaded router,
    at about 70% of the fleet's token throughput.

Each case times `simulate` alone (traffic is generated before the clock starts)
and prints requests, wall and CPU seconds and requests per second (CPU time is
the steadier figure on a shared machine); --router changes
the router of both cases.

    python benchmarks/bench_engine.py [--requests 1e6] [--case a|b|both] [--router NAME]
"""

from __future__ import annotations

import argparse
import time

from sim.scenario_file import load_scenario
from sim.simulation import replication_streams, simulate
from sim.traffic import generate_requests

CASES = {
    "a": (
        "M/M/8 at utilisation 0.8, no batching",
        [
            "fleet.replicas=8",
            "traffic.rate_per_s=6.4",
            'fleet.router="shared-queue"',
            'service.latency={dist="exponential", mean=1.0}',
        ],
        6.4,
    ),
    "b": (
        "continuous batching at 64 on 8 replicas",
        [
            "fleet.replicas=8",
            'fleet.gpu="A100-80GB"',
            'service={model="roofline"}',
            "model={parameters=8.03e9, layers=32, kv_heads=8, head_dim=128}",
            'batching={policy="continuous", max_batch=64}',
            'requests.prompt_tokens={dist="fixed", value=500}',
            'requests.output_tokens={dist="lognormal", mean=200, cv=0.5}',
            "traffic.rate_per_s=60",
            'fleet.router="least-loaded"',
        ],
        60.0,
    ),
}


def run_case(case: str, requests: float, router: str | None) -> None:
    title, sets, rate = CASES[case]
    sets = [*sets, f"horizon={requests / rate}"]
    if router is not None:
        sets.append(f'fleet.router="{router}"')
    scenario = load_scenario("mmc", sets)
    streams = replication_streams(scenario.seed, 0)
    arrivals = generate_requests(scenario, streams["traffic"])
    started, cpu_started = time.perf_counter(), time.process_time()
    result = simulate(scenario, arrivals, streams)
    wall_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    n = result.requests["arrived"]
    print(f"({case}) {title}, router {scenario.fleet.router}")
    print(f"    requests        {n:,}")
    print(f"    wall            {wall_s:.2f} s")
    print(f"    cpu             {cpu_s:.2f} s")
    print(f"    requests / s    {n / wall_s:,.0f} (wall), {n / cpu_s:,.0f} (cpu)")
    print(f"    utilisation     {result.utilization:.3f}")
    print(f"    e2e p99         {result.latency_s['e2e']['p99']:.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=float, default=1e6)
    parser.add_argument("--case", choices=["a", "b", "both"], default="both")
    parser.add_argument("--router", default=None)
    args = parser.parse_args()
    for case in ("a", "b") if args.case == "both" else (args.case,):
        run_case(case, args.requests, args.router)


if __name__ == "__main__":
    main()
