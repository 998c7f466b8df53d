"""Benchmark: the fast (fleet-scale) engine against the exact one, and its speed at fleet scale.

`--proof` prints, for each row, both engines' e2e p50 and p99, TTFT p99, monthly cost,
shares dropped and timed out, and replicas mean and max, with the fast engine's
relative error and each engine's wall time. Both engines run the same seeds; the
exact figures are means over the replications, and the Monte Carlo noise column
is the exact engine's own spread of the replication p99 (standard error of the
mean), which bounds how closely any two runs can agree.

`--speed` times `run_fast` on SmartPal (1e9 requests a day) for 100 replications,
with peak RSS, and how wall time grows with traffic (1e6..1e10 a day) and with
replications. Every run's latency model is built first (and cached), untimed.

`--spot` runs both engines on a spot fleet (6 replicas at 10 req/s for 2 h) over
many seeds: reclaims per replica-hour against the rate, and requests retried per
reclaim, without a notice at 8 reclaims an hour and with a 5 s notice at 4.

    python benchmarks/bench_fleetscale.py --proof [--rows a,b,...] [-n 2]
    python benchmarks/bench_fleetscale.py --speed
    python benchmarks/bench_fleetscale.py --spot [-n 24]
"""

from __future__ import annotations

import argparse
import math
import resource
import time

import numpy as np

from sim.fleetscale.latency_model import latency_model
from sim.fleetscale.run import run_fast
from sim.montecarlo.aggregate import aggregate
from sim.montecarlo.replications import run_replications
from sim.scenario.file import load_scenario

# name: (what it is, bundled scenario, overrides)
ROWS = {
    "none": (
        "no batching: 1 s lognormal service, 160 replicas at 80% (200 req/s), least-loaded",
        "mmc",
        [
            "horizon=21600",
            "traffic.rate_per_s=128",
            "fleet.replicas=160",
            'fleet.router="least-loaded"',
            'service.latency={dist="lognormal", mean=1.0, cv=0.5}',
        ],
    ),
    "continuous": (
        "continuous batching on the roofline: diurnal 2x, 200 req/s mean, 80 A100s",
        "diurnal-chat",
        ["traffic.rate_per_s=200", "fleet.replicas=80", "horizon=21600"],
    ),
    "target": (
        "diurnal 2x with target tracking and 60 s cold starts (10 req/s mean)",
        "diurnal-api",
        ["traffic.requests_per_day=864000", "autoscaling.max_replicas=200"],
    ),
    "spot": (
        "spot fleet with reclaims (1 per replica-hour, 120 s notice), continuous batching",
        "diurnal-chat",
        [
            'fleet.market="spot"',
            "spot.interruptions_per_hour=1.0",
            "spot.notice=120",
            "pricing.spot_usd_per_hour=1.5",
            "fleet.replicas=10",
            "horizon=21600",
        ],
    ),
    "serverless": (
        "serverless containers: 100k req/day x 2 s, scale from zero, 10 s cold starts",
        "redai-100k",
        [
            'autoscaling.cold_start={dist="lognormal", mean=10, cv=0.5}',
            "autoscaling.idle_timeout=60",
        ],
    ),
    "overload": (
        "overload with a queue cap and timeouts: 5 replicas at a 2x peak, max_queue 32, 30 s",
        "diurnal-chat",
        ["fleet.replicas=5", "admission.max_queue=32", "admission.timeout=30", "horizon=43200"],
    ),
    "trace": (
        "trace replay: Azure conversation trace at 10x rate on 12 replicas",
        "azure-conv",
        ["traffic.trace.rate_scale=10", "fleet.replicas=12"],
    ),
}


# Rows whose drop share is a small difference of large numbers (arrivals over capacity
# at the peak) vary by ~6% a replication: they run at least this many.
MIN_REPLICATIONS = {"overload": 8}


def figures(scenario, summary) -> dict[str, float]:
    requests = summary["requests"]
    arrived = max(1, requests["arrived"])
    return {
        "e2e_p50": summary["latency_s"]["e2e"]["p50"],
        "e2e_p99": summary["latency_s"]["e2e"]["p99"],
        "ttft_p99": summary["latency_s"]["ttft"]["p99"],
        "cost_month": summary["cost_usd"]["monthly"]["mean"],
        "dropped": requests["dropped"] / arrived,
        "timed_out": requests["timed_out"] / arrived,
        "rep_mean": summary["replicas"]["mean"]["mean"],
        "rep_max": summary["replicas"]["max"]["mean"],
    }


def noise_p99(results) -> float:
    """Standard error of the mean of the replications' own p99, relative to it."""
    p99 = np.array([r.latency_s["e2e"]["p99"] for r in results])
    if len(p99) < 2 or not np.all(np.isfinite(p99)):
        return math.nan
    return float(p99.std(ddof=1) / math.sqrt(len(p99)) / p99.mean())


def noise_share(results, key: str) -> float:
    """Standard error of the mean of the replications' share `key`, relative to it."""
    share = np.array([r.requests[key] / max(1, r.requests["arrived"]) for r in results])
    if len(share) < 2 or share.mean() <= 0:
        return math.nan
    return float(share.std(ddof=1) / math.sqrt(len(share)) / share.mean())


def proof(rows: list[str], replications: int) -> None:
    columns = [
        "e2e_p50",
        "e2e_p99",
        "ttft_p99",
        "cost_month",
        "dropped",
        "timed_out",
        "rep_mean",
        "rep_max",
    ]
    print(f"{'row':<11} {'engine':<6} " + " ".join(f"{c:>11}" for c in columns) + "   wall_s")
    for name in rows:
        what, base, sets = ROWS[name]
        n = max(replications, MIN_REPLICATIONS.get(name, 0))
        scenario = load_scenario(base, sets).model_copy(update={"replications": n})
        latency_model(scenario)  # build (or load) the model untimed
        start = time.perf_counter()
        fast_results = run_fast(scenario)
        fast_wall = time.perf_counter() - start
        start = time.perf_counter()
        exact_results = run_replications(scenario)
        exact_wall = time.perf_counter() - start
        fast = figures(scenario, aggregate(scenario, fast_results))
        exact = figures(scenario, aggregate(scenario, exact_results))
        requests = sum(r.requests["arrived"] for r in exact_results) / n
        print(f"# {name}: {what}; {requests:,.0f} requests per replication, {n} replications")
        print(f"{name:<11} {'exact':<6} " + _line(exact, columns) + f" {exact_wall:8.1f}")
        print(f"{'':<11} {'fast':<6} " + _line(fast, columns) + f" {fast_wall:8.1f}")
        errors = {c: _relative(fast[c], exact[c]) for c in columns}
        print(f"{'':<11} {'error':<6} " + " ".join(f"{errors[c]:>11}" for c in columns))
        noise = f"exact p99 standard error {noise_p99(exact_results):.1%}"
        drops = noise_share(exact_results, "dropped")
        if math.isfinite(drops):
            noise += f"; exact drop share standard error {drops:.1%}"
        print(f"{'':<11} {'noise':<6} {noise}")


def _line(values: dict[str, float], columns: list[str]) -> str:
    out = []
    for c in columns:
        v = values[c]
        if c in ("dropped", "timed_out"):
            out.append(f"{v:>11.4%}")
        elif c == "cost_month":
            out.append(f"{v:>11,.0f}")
        else:
            out.append(f"{v:>11.4g}")
    return " ".join(out)


def _relative(fast: float, exact: float) -> str:
    if not (math.isfinite(fast) and math.isfinite(exact)):
        return "-"
    if exact == 0:
        return "0" if fast == 0 else f"+{fast:.2g}"
    return f"{(fast - exact) / abs(exact):+.1%}"


def _timed(scenario, replications: int) -> tuple[float, float]:
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    run_fast(scenario, replications)
    return time.perf_counter() - start_wall, time.process_time() - start_cpu


def speed() -> None:
    smartpal = load_scenario("smartpal", [])
    latency_model(smartpal)
    run_fast(smartpal, 1)  # compile and warm up
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    wall, cpu = _timed(smartpal, 100)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"smartpal -n 100 (1e11 requests): wall {wall:.1f} s, cpu {cpu:.1f} s, ")
    print(f"  peak RSS {peak:.0f} MiB (warm process before: {before:.0f} MiB)")
    print("traffic scaling (20 replications, SmartPal's service, fleet sized to 80% of the peak):")
    for per_day in (1e6, 1e7, 1e8, 1e9, 1e10):
        scenario = load_scenario(
            "smartpal",
            [
                f"traffic.daily_active_users={per_day / 10:g}",
                # SmartPal's replica serves about 10.8 req/s saturated: 80% of it at the peak.
                f"fleet.replicas={max(1, math.ceil(2 * per_day / 86400 / 10.8 / 0.8))}",
            ],
        )
        latency_model(scenario)
        wall, cpu = _timed(scenario, 20)
        print(f"  {per_day:8.0e} requests a day: wall {wall:6.2f} s, cpu {cpu:6.2f} s")
    print("replication scaling (SmartPal as bundled):")
    for n in (1, 10, 100, 200):
        wall, cpu = _timed(smartpal, n)
        print(f"  {n:4d} replications: wall {wall:6.2f} s, cpu {cpu:6.2f} s")


def spot(replications: int) -> None:
    for rate, notice in ((8.0, 0.0), (4.0, 5.0)):
        scenario = load_scenario(
            "diurnal-chat",
            [
                "horizon=7200",
                'traffic.profile="constant"',
                "traffic.rate_per_s=10",
                "fleet.replicas=6",
                'fleet.market="spot"',
                f"spot.interruptions_per_hour={rate}",
                f"spot.notice={notice}",
                "pricing.spot_usd_per_hour=1.5",
                f"replications={replications}",
            ],
        )
        print(f"spot {rate:g}/h, notice {notice:g} s, 6 replicas x 2 h, {replications} seeds:")
        for name, results in (("fast", run_fast(scenario)), ("exact", run_replications(scenario))):
            reclaims = np.array([r.events["interruptions"] for r in results], float)
            retried = sum(r.requests["retried"] for r in results)
            per_hour = reclaims.mean() / (6 * 2.0)
            error = reclaims.std(ddof=1) / math.sqrt(len(reclaims)) / (6 * 2.0)
            print(
                f"  {name:<5} reclaims per replica-hour {per_hour:.2f} +- {error:.2f} "
                f"(rate {rate:g}); retried per reclaim {retried / reclaims.sum():.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proof", action="store_true")
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--spot", action="store_true")
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("-n", "--replications", type=int, default=2)
    args = parser.parse_args()
    if args.proof:
        proof([r.strip() for r in args.rows.split(",") if r.strip()], args.replications)
    if args.speed:
        speed()
    if args.spot:
        spot(max(args.replications, 24) if args.replications == 2 else args.replications)


if __name__ == "__main__":
    main()
