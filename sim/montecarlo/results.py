"""What one replication measured, summarised from its request log and fleet books."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.engine.request_log import COMPLETED, RequestLog
from sim.montecarlo.latency_histogram import histogram_of

LATENCY_METRICS = ("wait", "ttft", "tpot", "e2e")
PERCENTILES = (50.0, 90.0, 99.0)


@dataclass
class ReplicationResult:
    """Figures of one simulated horizon; everything the Monte Carlo aggregate needs."""

    replication: int
    seed: int
    horizon_s: float
    end_s: float
    requests: dict[str, int]
    latency_s: dict[str, dict[str, float]]
    latency_histograms: dict[str, np.ndarray]
    latency_sums_s: dict[str, float]
    throughput_per_s: float
    utilization: float
    mean_running_per_replica: float
    mean_queue_length: float
    replica_seconds: float
    replicas: dict[str, float]
    fleet_series: dict[str, list[float]] = field(default_factory=dict)
    cost_usd: dict[str, float] = field(default_factory=dict)
    billing: dict[str, float] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    latency_series: dict[str, list[float]] = field(default_factory=dict)
    classes: dict[str, dict[str, float]] = field(default_factory=dict)
    log: RequestLog | None = None

    def row(self) -> dict[str, float]:
        """Flat per-replication figures (one Parquet row)."""
        out: dict[str, float] = {
            "replication": self.replication,
            "horizon_s": self.horizon_s,
            "end_s": self.end_s,
            "throughput_per_s": self.throughput_per_s,
            "utilization": self.utilization,
            "mean_running_per_replica": self.mean_running_per_replica,
            "mean_queue_length": self.mean_queue_length,
        }
        out.update({f"requests_{k}": v for k, v in self.requests.items()})
        for metric, stats in self.latency_s.items():
            out.update({f"{metric}_{k}_s": v for k, v in stats.items()})
        out.update({f"replicas_{k}": v for k, v in self.replicas.items()})
        out.update({f"cost_{k}_usd": v for k, v in self.cost_usd.items()})
        out.update(self.billing)
        out.update({f"events_{k}": v for k, v in self.events.items()})
        return out


def request_latencies(log: RequestLog) -> dict[str, np.ndarray]:
    """Wait, time to first token, time per output token and end-to-end, completed requests only."""
    done = log.status == COMPLETED
    arrival = log.arrival_s[done]
    start = log.start_s[done]
    first = log.first_token_s[done]
    finish = log.finish_s[done]
    return {
        "wait": start - arrival,
        "ttft": first - arrival,
        "tpot": np.empty(0),  # filled by the caller, which knows the output lengths
        "e2e": finish - arrival,
    }


def latency_stats(values_s: np.ndarray) -> dict[str, float]:
    """Mean and percentiles of one latency array (NaN when empty)."""
    if len(values_s) == 0:
        return {"mean": math.nan, **{f"p{p:g}": math.nan for p in PERCENTILES}}
    found = np.percentile(values_s, PERCENTILES)
    return {
        "mean": float(values_s.mean()),
        **{f"p{p:g}": float(v) for p, v in zip(PERCENTILES, found, strict=True)},
    }


def summarize_latencies(
    latencies_s: dict[str, np.ndarray],
) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray], dict[str, float]]:
    """Per-metric stats, histograms for pooling, and sums for pooled means."""
    stats = {metric: latency_stats(values) for metric, values in latencies_s.items()}
    histograms = {metric: histogram_of(values) for metric, values in latencies_s.items()}
    sums = {metric: float(values.sum()) for metric, values in latencies_s.items()}
    return stats, histograms, sums


def latency_over_time(log: RequestLog, horizon_s: float) -> dict[str, list[float]]:
    """p99 end-to-end latency and mean wait of completed requests, by hour of arrival.

    This is where a slow cold start shows: the morning ramp's tail, which a day's
    pooled p99 averages away.
    """
    bin_s = 3600.0 if horizon_s <= 7 * 86400 else 86400.0
    bins = max(1, math.ceil(horizon_s / bin_s - 1e-9))
    done = log.status == COMPLETED
    arrival = log.arrival_s[done]
    e2e = log.finish_s[done] - arrival
    wait = log.start_s[done] - arrival
    index = np.minimum((arrival // bin_s).astype(np.int64), bins - 1)
    order = np.argsort(index, kind="stable")
    bounds = np.searchsorted(index[order], np.arange(bins + 1))
    p99, mean_wait = [], []
    for b in range(bins):
        members = order[bounds[b] : bounds[b + 1]]
        p99.append(float(np.percentile(e2e[members], 99)) if len(members) else math.nan)
        mean_wait.append(float(wait[members].mean()) if len(members) else math.nan)
    return {
        "time_s": [b * bin_s for b in range(bins)],
        "e2e_p99_s": p99,
        "wait_mean_s": mean_wait,
    }
