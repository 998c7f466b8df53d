"""Benchmark: 1e8 diurnal Poisson arrivals over one day, generated and consumed in chunks.

Each chunk is consumed (counted, checked sorted and contiguous with the last)
and dropped, so memory stays at a few chunks whatever the total. Prints wall
seconds and peak memory: ru_maxrss is the peak resident set of the whole
process (Python, numpy, scipy and pandas included); with --tracemalloc a second
run reports the peak of memory traced by tracemalloc (numpy's array buffers
included), i.e. what the generator itself holds.

    python benchmarks/bench_arrivals.py [--arrivals 1e8] [--chunk-size 1e6] [--tracemalloc]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc

import numpy as np

from distributions.arrivals import iter_poisson_chunks
from distributions.profiles import diurnal

DAY_S = 86400.0


def consume(total: float, chunk_size: int, seed: int) -> tuple[int, int, float]:
    """Generate and consume the arrivals; return (count, chunks, wall seconds)."""
    profile = diurnal(total / DAY_S, peak_to_mean=2.0)
    rng = np.random.default_rng(seed)
    count = chunks = 0
    last_s = -np.inf
    start = time.perf_counter()
    for arrival_s in iter_poisson_chunks(profile, DAY_S, rng, chunk_size):
        chunks += 1
        if arrival_s.size == 0:
            continue
        if arrival_s[0] < last_s or np.any(arrival_s[1:] < arrival_s[:-1]):
            raise AssertionError(f"chunk {chunks} is not sorted after the previous one")
        last_s = arrival_s[-1]
        count += arrival_s.size
    return count, chunks, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arrivals", type=float, default=1e8, help="expected arrivals in the day")
    parser.add_argument("--chunk-size", type=float, default=1e6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tracemalloc", action="store_true", help="also measure traced peak")
    args = parser.parse_args()
    chunk_size = int(args.chunk_size)

    count, chunks, wall_s = consume(args.arrivals, chunk_size, args.seed)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"arrivals: {count:,} (expected {args.arrivals:,.0f}) in {chunks} chunks")
    print(f"wall: {wall_s:.2f} s  ({count / wall_s / 1e6:.1f} M arrivals/s)")
    print(f"peak RSS of the process (ru_maxrss): {rss_mib:.0f} MiB")
    if args.tracemalloc:
        tracemalloc.start()
        consume(args.arrivals, chunk_size, args.seed)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"peak traced by tracemalloc during generation: {peak / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
