"""The fleet-scale engine: the fleet stepped in seconds on arrival counts, vectorised over
replications, with per-request latency from a per-replica model the exact engine measured.

It answers runs of 1e9 requests a day in seconds; `benchmarks/bench_fleetscale.py`
prints how close it stays to the exact engine.
"""
