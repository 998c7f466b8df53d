"""Benchmark: simulated requests per wall-second of the exact engine, one core.

(a) M/M/8 at utilisation 0.8, no batching, one shared FIFO line (the M/M/c
    discipline), exponential service of 1 s;
(b) continuous batching at 64 on 8 replicas: a Llama-3.1-8B-sized model on
    A100-80GB, prompts of 500 and outputs of about 200 tokens, least-loaded router,
    at about 70% of the fleet's token throughput;
(c) a diurnal day with a 2x peak (diurnal-api) under target tracking, lognormal
    cold starts of about a minute, the day's volume set to --requests;
(d) M/M/8 on spot replicas reclaimed 0.5 times per replica-hour with 30 s notice;
(e) serverless containers with a 60 s idle timeout, one shared line.

`simulate` runs a case in the compiled kernel (sim/engine/compiled_loop.py) where it
covers the fleet (`compiled_fleet.runs_compiled`; the report says which engine
ran), else on SimPy; --engine simpy times the SimPy engine on the same draws, and
both checks that the two give the same p99 and prints the speed ratio. Each case
times `simulate` alone
(traffic is generated first) after a small warm-up run that loads or compiles the
kernel, whose time is printed. CPU time is the steadier figure on a shared
machine. --memory adds an untimed run of each case that reports the peak RSS
above the warm-up's, per request.

    python benchmarks/bench_engine.py [--requests 1e6] [--case a|b|c|d|e|all]
                                      [--engine kernel|simpy|both] [--router NAME] [--memory]
"""

from __future__ import annotations

import argparse
import multiprocessing
import time

from distributions.traffic import generate_requests
from sim.fleet.compiled_fleet import runs_compiled
from sim.montecarlo.replication import replication_streams, simulate
from sim.scenario.file import load_scenario

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
    "c": (
        "a diurnal 2x day under target tracking, lognormal cold starts",
        [
            "autoscaling.max_replicas=1000",
            'autoscaling.cold_start={dist="lognormal", mean=60, cv=0.3}',
        ],
        None,  # a day: the volume is --requests
    ),
    "d": (
        "M/M/8 on spot, 0.5 reclaims per replica-hour, 30 s notice",
        [
            "fleet.replicas=8",
            "traffic.rate_per_s=6.4",
            'fleet.router="least-loaded"',
            'service.latency={dist="exponential", mean=1.0}',
            'fleet.market="spot"',
            "spot.interruptions_per_hour=0.5",
            "spot.notice=30",
        ],
        6.4,
    ),
    "e": (
        "serverless, 60 s idle timeout",
        [
            'autoscaling={policy="serverless", min_replicas=0, max_replicas=1000}',
            "autoscaling.idle_timeout=60",
            'fleet.market="serverless"',
            "fleet.replicas=0",
            "pricing.serverless_usd_per_s=0.000164",
            "traffic.rate_per_s=6.4",
            'service.latency={dist="exponential", mean=1.0}',
        ],
        6.4,
    ),
}
BASES = {"c": "diurnal-api"}


def scenario_for(case: str, requests: float, router: str | None):
    _, sets, rate = CASES[case]
    if rate is None:
        # Peak 2x the mean and a 1.5x burst: about 5x the mean rate in replicas at the top.
        sets = [*sets, "horizon=1d", f"traffic.requests_per_day={requests}"]
        sets.append(f"fleet.replicas={max(2, round(requests / 86_400 * 2))}")
    else:
        sets = [*sets, f"horizon={requests / rate}"]
    if router is not None:
        sets.append(f'fleet.router="{router}"')
    return load_scenario(BASES.get(case, "mmc"), sets)


def warm_up_requests(case: str) -> float:
    """A small run's requests: 1,000, or a minute's worth where that is more (a horizon
    under `pricing.minimum_billed`, 60 s, is refused)."""
    rate = CASES[case][2]
    return max(1e3, 60.0 * rate) if rate is not None else 1e3


def timed_run(case: str, requests: float, router: str | None, use_simpy: bool):
    scenario = scenario_for(case, requests, router)
    streams = replication_streams(scenario.seed, 0)
    arrivals = generate_requests(scenario, streams["traffic"])
    started, cpu_started = time.perf_counter(), time.process_time()
    result = simulate(scenario, arrivals, streams, use_simpy=use_simpy)
    return result, time.perf_counter() - started, time.process_time() - cpu_started


def _peak_rss_bytes() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def _measure_rss(queue, case: str, requests: float, router: str | None, use_simpy: bool) -> None:
    timed_run(case, warm_up_requests(case), router, use_simpy)
    before = _peak_rss_bytes()
    result, _, _ = timed_run(case, requests, router, use_simpy)
    queue.put((_peak_rss_bytes() - before) / result.requests["arrived"])


def peak_rss_per_request(case: str, requests: float, router: str | None, use_simpy: bool):
    """Peak RSS above a warmed-up fresh process's, per request (traffic included)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_measure_rss, args=(queue, case, requests, router, use_simpy))
    process.start()
    value = queue.get()
    process.join()
    return value


def run_case(case: str, requests: float, engines: list[str], router: str | None, memory: bool):
    p99, speed = {}, {}
    for engine in engines:
        use_simpy = engine == "simpy"
        started = time.perf_counter()
        timed_run(case, warm_up_requests(case), router, use_simpy)  # imports; loads the kernel
        warm_up_s = time.perf_counter() - started
        result, wall_s, cpu_s = timed_run(case, requests, router, use_simpy)
        n = result.requests["arrived"]
        p99[engine] = result.latency_s["e2e"]["p99"]
        speed[engine] = n / cpu_s
        scenario = scenario_for(case, warm_up_requests(case), router)
        ran = "simpy" if use_simpy or not runs_compiled(scenario) else "compiled"
        name = scenario.fleet.router
        print(f"({case}) {CASES[case][0]}, router {name}, engine {engine} (ran {ran})")
        print(f"    warm-up         {warm_up_s:.2f} s (imports; a kernel compile once)")
        print(f"    requests        {n:,}")
        print(f"    wall            {wall_s:.2f} s")
        print(f"    cpu             {cpu_s:.2f} s")
        print(f"    requests / s    {n / wall_s:,.0f} (wall), {n / cpu_s:,.0f} (cpu)")
        print(f"    utilisation     {result.utilization:.3f}")
        print(f"    e2e p99         {p99[engine]:.3f} s")
        if memory:
            per_request = peak_rss_per_request(case, requests, router, use_simpy)
            print(f"    peak RSS        {per_request:,.0f} B per request")
    if len(p99) == 2:
        same = p99["kernel"] == p99["simpy"]
        print(f"    kernel and SimPy p99 {'identical' if same else 'DIFFER'}")
        print(f"    kernel / SimPy speed (cpu) {speed['kernel'] / speed['simpy']:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=float, default=1e6)
    parser.add_argument("--case", choices=[*CASES, "all"], default="all")
    parser.add_argument("--engine", choices=["kernel", "simpy", "both"], default="kernel")
    parser.add_argument("--router", default=None)
    parser.add_argument("--memory", action="store_true")
    args = parser.parse_args()
    engines = ["kernel", "simpy"] if args.engine == "both" else [args.engine]
    for case in CASES if args.case == "all" else (args.case,):
        run_case(case, args.requests, engines, args.router, args.memory)


if __name__ == "__main__":
    main()
