"""The per-replica latency model: what a request sees at a given load, measured by the exact engine.

A probe fleet of the scenario's replicas (its batching, service model, router and
admission limits; at most PROBE_MAX_REPLICAS of them) serves steady traffic at a
grid of loads, each a short exact simulation. At each load the model keeps the
latency histograms of completed requests, the shares dropped and timed out, and
the mean requests in service and waiting per replica. One overloaded probe gives
the saturated throughput per replica and the latency of service alone (time in
service, without the wait), which the fleet engine adds to a backlog's wait.
Models are cached on disk, keyed by everything they depend on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distributions import profiles
from distributions.arrivals import arrival_times
from distributions.tokens import dist_mean_cv
from distributions.traffic import RequestChunk, iter_request_chunks
from sim.engine.request_log import COMPLETED, DROPPED, TIMED_OUT
from sim.engine.service_time import LatencyModel, build_service_model
from sim.fleet.capacity import replica_capacity_per_s
from sim.fleetscale.model_cache import key_of, load_arrays, save_arrays
from sim.montecarlo.latency_histogram import _BINS, histogram_of
from sim.montecarlo.replication import replication_streams, simulate
from sim.scenario.plugins import AUTOSCALING, BATCHING
from sim.scenario.schema import Scenario

MODEL_VERSION = "2"
PROBE_MAX_REPLICAS = 256
# Per-replica load (arrival rate over saturated throughput) of each probe.
LOADS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
SATURATION_LOAD = 2.0  # the overload probe's rate, in multiples of the estimated capacity
QUANTILES = 32  # points kept of the service-alone distributions
REQUESTS_PER_PROBE = 40_000
PROBE_SERVICE_TIMES = 50.0  # a probe lasts at least this many alone-service times...
PROBE_REQUESTS_MAX = 2_000_000  # ...up to this many requests
WARMUP_SHARE = 0.1  # arrivals in the first tenth of a probe are not measured
METRICS = ("wait", "ttft", "tpot", "e2e")
_PROBE_SEED = 0  # the model is a property of the service, not of a run's seed


@dataclass(frozen=True)
class LatencyTable:
    """The measured model. Arrays over loads have one entry per `loads` level."""

    probe_replicas: int
    loads: np.ndarray  # (K,) arrival rate / saturated throughput
    histograms: dict[str, np.ndarray]  # metric -> (K, bins) shares of completed requests
    completed_share: np.ndarray  # (K,) of arrivals
    dropped_share: np.ndarray
    timed_out_share: np.ndarray
    running_per_replica: np.ndarray  # (K,) mean requests in service
    waiting_per_replica: np.ndarray  # (K,) mean requests waiting
    busy_share: np.ndarray  # (K,) share of time a replica is serving anything
    capacity_per_s: float  # saturated completions per second per replica
    service_quantiles: dict[str, np.ndarray]  # "ttft", "e2e": (Q,) time in service alone
    saturated_tpot: np.ndarray  # (bins,) shares
    saturated_running: float
    service_e2e_mean_s: float  # mean time in service at saturation (no wait)
    prompt_tokens_mean: float
    output_tokens_mean: float
    # Var(time for q completions) x capacity^2 / q of a saturated replica: 1 for Poisson
    # completions; the spread of a backlogged request's wait (see completion_dispersion).
    completion_dispersion: float = 1.0

    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "probe_replicas": np.array(self.probe_replicas),
            "loads": self.loads,
            "completed_share": self.completed_share,
            "dropped_share": self.dropped_share,
            "timed_out_share": self.timed_out_share,
            "running_per_replica": self.running_per_replica,
            "waiting_per_replica": self.waiting_per_replica,
            "busy_share": self.busy_share,
            "scalars": np.array(
                [
                    self.capacity_per_s,
                    self.saturated_running,
                    self.service_e2e_mean_s,
                    self.prompt_tokens_mean,
                    self.output_tokens_mean,
                    self.completion_dispersion,
                ]
            ),
            "saturated_tpot": self.saturated_tpot,
        }
        out.update({f"hist_{m}": h for m, h in self.histograms.items()})
        out.update({f"quant_{m}": q for m, q in self.service_quantiles.items()})
        return out

    @classmethod
    def from_arrays(cls, data: dict[str, np.ndarray]) -> LatencyTable:
        scalars = data["scalars"]
        return cls(
            probe_replicas=int(data["probe_replicas"]),
            loads=data["loads"],
            histograms={m: data[f"hist_{m}"] for m in METRICS},
            completed_share=data["completed_share"],
            dropped_share=data["dropped_share"],
            timed_out_share=data["timed_out_share"],
            running_per_replica=data["running_per_replica"],
            waiting_per_replica=data["waiting_per_replica"],
            busy_share=data["busy_share"],
            capacity_per_s=float(scalars[0]),
            service_quantiles={m: data[f"quant_{m}"] for m in ("ttft", "e2e")},
            saturated_tpot=data["saturated_tpot"],
            saturated_running=float(scalars[1]),
            service_e2e_mean_s=float(scalars[2]),
            prompt_tokens_mean=float(scalars[3]),
            output_tokens_mean=float(scalars[4]),
            completion_dispersion=float(scalars[5]),
        )


@dataclass(frozen=True)
class ModelSet:
    """Latency tables at several probe fleet sizes, stacked: arrays are (sizes, loads)."""

    sizes: np.ndarray  # (T,) probe replicas
    loads: np.ndarray  # (K,)
    histograms: dict[str, np.ndarray]  # metric -> (T * K, bins)
    completed_share: np.ndarray
    dropped_share: np.ndarray
    timed_out_share: np.ndarray
    running_per_replica: np.ndarray
    waiting_per_replica: np.ndarray
    busy_share: np.ndarray
    capacity_per_s: np.ndarray  # (T,)
    largest: LatencyTable  # its service-alone figures stand for all sizes

    @classmethod
    def of(cls, tables: list[LatencyTable]) -> ModelSet:
        def stack(name: str) -> np.ndarray:
            return np.stack([getattr(t, name) for t in tables])

        return cls(
            sizes=np.array([t.probe_replicas for t in tables]),
            loads=tables[0].loads,
            histograms={m: np.concatenate([t.histograms[m] for t in tables]) for m in METRICS},
            completed_share=stack("completed_share"),
            dropped_share=stack("dropped_share"),
            timed_out_share=stack("timed_out_share"),
            running_per_replica=stack("running_per_replica"),
            waiting_per_replica=stack("waiting_per_replica"),
            busy_share=stack("busy_share"),
            capacity_per_s=np.array([t.capacity_per_s for t in tables]),
            largest=tables[-1],
        )

    def size_index(self, replicas: np.ndarray) -> np.ndarray:
        """The probe size nearest each fleet size (on a log scale)."""
        if len(self.sizes) == 1:
            return np.zeros(np.shape(replicas), np.int64)
        middles = np.sqrt(self.sizes[:-1] * self.sizes[1:])
        return np.searchsorted(middles, replicas, side="right")

    def value(self, name: str, size: np.ndarray, position: np.ndarray) -> np.ndarray:
        """A per-load figure at fractional load positions, for each replication's size."""
        table = getattr(self, name)
        lo = np.floor(position).astype(np.int64)
        hi = np.minimum(lo + 1, table.shape[1] - 1)
        frac = position - lo
        return table[size, lo] * (1 - frac) + table[size, hi] * frac


def probe_scenario(scenario: Scenario, replicas: int) -> Scenario:
    """The scenario as one steady fixed fleet of `replicas` on-demand replicas.

    A serverless deployment's containers share one line, so the probe routes by a
    shared queue; a container taking `concurrency_per_replica` inputs batches that many.
    """
    serverless = AUTOSCALING[scenario.autoscaling.policy].containers
    fleet = scenario.fleet.model_copy(
        update={
            "replicas": replicas,
            "market": "on-demand",
            "spot_fraction": None,
            "router": "shared-queue" if serverless else scenario.fleet.router,
        }
    )
    batching = scenario.batching
    concurrency = scenario.autoscaling.concurrency_per_replica
    if serverless and concurrency and BATCHING[batching.policy].batches:
        batching = batching.model_copy(update={"max_batch": concurrency})
    autoscaling = scenario.autoscaling.model_copy(update={"policy": "fixed"})
    return scenario.model_copy(
        update={
            "fleet": fleet,
            "batching": batching,
            "autoscaling": autoscaling,
            "replications": 1,
        }
    )


def _without_limits(scenario: Scenario) -> Scenario:
    classes = [c.model_copy(update={"timeout": None}) for c in scenario.requests.classes]
    return scenario.model_copy(
        update={
            "admission": scenario.admission.model_copy(update={"max_queue": None, "timeout": None}),
            "requests": scenario.requests.model_copy(update={"classes": classes}),
        }
    )


TRACE_PROBE_MAX = 200_000  # requests of a replayed trace a probe keeps, in order


def token_pool(scenario: Scenario, size: int) -> RequestChunk:
    """Requests the probes draw from: the scenario's own traffic.

    Sizes are independent of time except in a trace replay, so the first `size`
    requests stand for all; a replay's sizes drift along the file, so its pool is the
    whole replay (up to TRACE_PROBE_MAX requests), drawn from at random.
    """
    rng = replication_streams(_PROBE_SEED, 0)["traffic"]
    if scenario.traffic.profile == "trace":
        chunks, kept = [], 0
        for chunk in iter_request_chunks(scenario, rng):
            chunks.append(chunk)
            kept += len(chunk)
            if kept >= TRACE_PROBE_MAX:
                break
        if not chunks:
            raise ValueError("the trace replays no requests within the horizon")
        fields = ("arrival_s", "prompt_tokens", "output_tokens", "class_index")
        joined = [np.concatenate([getattr(c, f) for c in chunks])[:TRACE_PROBE_MAX] for f in fields]
        return RequestChunk(*joined)
    chunk = next(iter_request_chunks(scenario, rng, chunk_size=size), None)
    if chunk is None:
        raise ValueError("the scenario's traffic has no requests to size the latency model")
    return chunk


def _requests_at(
    pool: RequestChunk, scenario: Scenario, rate_per_s: float, count: int, rng
) -> RequestChunk:
    """`count` requests at a steady rate, sizes drawn from the pool, arrivals as the
    scenario's process (Poisson for a trace replay)."""
    traffic = scenario.traffic
    process = traffic.arrival if traffic.arrival == "gamma" else "poisson"
    horizon_s = count / rate_per_s
    arrival_s = arrival_times(profiles.constant(rate_per_s), horizon_s, rng, process, traffic.cv)
    pick = rng.integers(0, len(pool), size=len(arrival_s))
    return RequestChunk(
        arrival_s, pool.prompt_tokens[pick], pool.output_tokens[pick], pool.class_index[pick]
    )


def alone_s(scenario: Scenario, pool: RequestChunk) -> float:
    """Mean time of one request served alone: the probes' unit of time."""
    service = build_service_model(scenario)
    if isinstance(service, LatencyModel):
        return float(dist_mean_cv(scenario.service.latency)[0]) + service.step_overhead_s
    prompt = round(float(pool.prompt_tokens.mean()))
    output = round(float(pool.output_tokens.mean()))
    return float(service.request_alone_s(max(1, prompt), max(1, output)))


def _run_probe(
    scenario: Scenario, pool: RequestChunk, rate_per_s: float, count: int, index: int
) -> tuple[dict, object, float]:
    streams = replication_streams(_PROBE_SEED, 1 + index)
    # Long enough that the warm-up and the measured span hold many service times.
    wanted = math.ceil(rate_per_s * PROBE_SERVICE_TIMES * alone_s(scenario, pool))
    count = int(min(PROBE_REQUESTS_MAX, max(count, wanted)))
    requests = _requests_at(pool, scenario, rate_per_s, count, streams["traffic"])
    horizon_s = count / rate_per_s
    probe = scenario.model_copy(update={"horizon": horizon_s})
    result = simulate(probe, requests, streams, keep_log=True)
    log = result.log
    measured = log.arrival_s >= WARMUP_SHARE * horizon_s
    done = measured & (log.status == COMPLETED)
    output = requests.output_tokens
    decoded = done & (output > 1)
    latencies = {
        "wait": (log.start_s - log.arrival_s)[done],
        "ttft": (log.first_token_s - log.arrival_s)[done],
        "e2e": (log.finish_s - log.arrival_s)[done],
        "tpot": (log.finish_s - log.first_token_s)[decoded] / (output[decoded] - 1),
        "ttft_service": (log.first_token_s - log.start_s)[done],
        "e2e_service": (log.finish_s - log.start_s)[done],
        "finish": log.finish_s[log.status == COMPLETED],
    }
    arrived = max(1, int(measured.sum()))
    shares = {
        "completed": done.sum() / arrived,
        "dropped": (measured & (log.status == DROPPED)).sum() / arrived,
        "timed_out": (measured & (log.status == TIMED_OUT)).sum() / arrived,
    }
    return {"latencies": latencies, "shares": shares}, result, horizon_s


def _shares_histogram(values_s: np.ndarray) -> np.ndarray:
    counts = histogram_of(values_s).astype(np.float64)
    total = counts.sum()
    return (counts / total if total else counts).astype(np.float32)


def _midpoint_quantiles(values_s: np.ndarray) -> np.ndarray:
    if len(values_s) == 0:
        return np.zeros(QUANTILES)
    return np.quantile(values_s, (np.arange(QUANTILES) + 0.5) / QUANTILES)


def probe_sizes(scenario: Scenario) -> list[int]:
    """Probe fleet sizes: the fixed fleet's; for an autoscaler, powers of two from its
    minimum to its maximum (at most PROBE_MAX_REPLICAS), since waits without batching
    depend on how many replicas share the load."""
    config = scenario.autoscaling
    policy = AUTOSCALING[config.policy]
    if not policy.scales:
        return [min(PROBE_MAX_REPLICAS, max(1, scenario.fleet.replicas))]
    if policy.containers:
        return [1]  # containers start on demand: only the time in service is used
    low = max(1, config.min_replicas)
    high = max(low, min(PROBE_MAX_REPLICAS, config.max_replicas))
    sizes = {low, high}
    size = 1
    while size < high:
        if size > low:
            sizes.add(size)
        size *= 2
    return sorted(sizes)


def _engine_sources() -> str:
    """The text of the exact engine and of this module: a change to either rebuilds models."""
    root = Path(__file__).resolve().parents[1]
    files = [*sorted((root / "engine").glob("*.py")), Path(__file__)]
    return "".join(f.read_text() for f in files)


def latency_model(scenario: Scenario, requests_per_probe: int = REQUESTS_PER_PROBE) -> ModelSet:
    """The scenario's latency model at each probe size (from the cache or measured now)."""
    tables = [latency_table(scenario, requests_per_probe, size) for size in probe_sizes(scenario)]
    return ModelSet.of(tables)


def latency_table(
    scenario: Scenario, requests_per_probe: int = REQUESTS_PER_PROBE, replicas: int | None = None
) -> LatencyTable:
    """The latency model of a probe fleet of `replicas` (default: the first probe size),
    from the cache or measured now (and cached)."""
    service = build_service_model(scenario)
    estimate_probe = probe_scenario(scenario, 1)
    capacity_estimate = replica_capacity_per_s(estimate_probe, service)
    replicas = replicas or probe_sizes(scenario)[0]
    probe = probe_scenario(scenario, replicas)
    pool = token_pool(scenario, min(requests_per_probe, 65_536))
    neutral = probe.model_copy(update={"horizon": 1.0, "seed": 0, "name": "", "description": ""})
    key = key_of(
        MODEL_VERSION,
        neutral.model_dump_json(exclude={"traffic", "pricing", "budget", "slo", "api", "growth"}),
        neutral.traffic.arrival,
        repr(neutral.traffic.cv),
        repr((LOADS, SATURATION_LOAD, QUANTILES, requests_per_probe, WARMUP_SHARE)),
        repr((PROBE_SERVICE_TIMES, PROBE_REQUESTS_MAX)),
        pool.prompt_tokens.tobytes(),
        pool.output_tokens.tobytes(),
        _engine_sources(),
    )
    cached = load_arrays(key)
    if cached is not None:
        return LatencyTable.from_arrays(cached)
    table = measure_table(probe, pool, capacity_estimate, requests_per_probe)
    save_arrays(key, table.arrays())
    return table


def measure_table(
    probe: Scenario, pool: RequestChunk, capacity_estimate: float, requests_per_probe: int
) -> LatencyTable:
    """Run the probes: one overloaded (throughput, service alone), then one per load."""
    replicas = probe.fleet.replicas
    saturated, sat_result, sat_horizon_s = _run_probe(
        _without_limits(probe),
        pool,
        SATURATION_LOAD * capacity_estimate * replicas,
        requests_per_probe,
        0,
    )
    finish = saturated["latencies"]["finish"]
    start_s, end_s = 0.25 * sat_horizon_s, sat_horizon_s
    window = ((finish >= start_s) & (finish < end_s)).sum()
    capacity = float(window / (end_s - start_s) / replicas)
    if capacity <= 0:
        raise ValueError("the probe fleet completed nothing at saturation")
    k = len(LOADS)
    hists = {m: np.zeros((k, _BINS), np.float32) for m in METRICS}
    shares = {name: np.zeros(k) for name in ("completed", "dropped", "timed_out")}
    running, waiting, busy = np.zeros(k), np.zeros(k), np.zeros(k)
    for i, load in enumerate(LOADS):
        found, result, _ = _run_probe(
            probe, pool, load * capacity * replicas, requests_per_probe, 1 + i
        )
        for metric in METRICS:
            hists[metric][i] = _shares_histogram(found["latencies"][metric])
        for name in shares:
            shares[name][i] = found["shares"][name]
        running[i] = result.mean_running_per_replica
        waiting[i] = result.mean_queue_length / replicas
        busy[i] = result.utilization
    sat = saturated["latencies"]
    return LatencyTable(
        probe_replicas=replicas,
        loads=np.array(LOADS),
        histograms=hists,
        completed_share=shares["completed"],
        dropped_share=shares["dropped"],
        timed_out_share=shares["timed_out"],
        running_per_replica=running,
        waiting_per_replica=waiting,
        busy_share=busy,
        capacity_per_s=capacity,
        service_quantiles={
            "ttft": _midpoint_quantiles(sat["ttft_service"]),
            "e2e": _midpoint_quantiles(sat["e2e_service"]),
        },
        saturated_tpot=_shares_histogram(sat["tpot"]),
        saturated_running=sat_result.mean_running_per_replica,
        service_e2e_mean_s=float(sat["e2e_service"].mean()) if len(sat["e2e_service"]) else 0.0,
        prompt_tokens_mean=float(pool.prompt_tokens.mean()),
        output_tokens_mean=float(pool.output_tokens.mean()),
        completion_dispersion=completion_dispersion(
            sat_result.log, start_s, end_s, _queue_depth(probe, sat_result)
        ),
    )


def _queue_depth(probe: Scenario, saturated) -> int:
    """Completions a backlogged request typically waits for on its replica: the queue cap,
    else a full batch's worth (at least 8)."""
    cap = probe.admission.max_queue
    return max(8, cap if cap is not None else round(saturated.mean_running_per_replica))


def completion_dispersion(log, start_s: float, end_s: float, q: int) -> float:
    """How irregular a saturated replica's completions are: Var(T_q) x mu^2 / q, T_q the
    time for q successive completions of one replica and mu its completion rate.

    A request waiting behind Q others on its replica leaves after Q completions: its
    wait has mean Q / mu and variance Q x D / mu^2 (D = 1 for Poisson completions; a
    full continuous batch completes more regularly). Pooled over the probe's replicas.
    """
    done = (log.status == COMPLETED) & (log.finish_s >= start_s) & (log.finish_s < end_s)
    weighted, count = 0.0, 0
    for replica in np.unique(log.replica[done]):
        finish = np.sort(log.finish_s[done & (log.replica == replica)])
        if len(finish) <= 4 * q:
            continue
        gaps = finish[q:] - finish[:-q]
        mu = q / gaps.mean()
        weighted += gaps.var() * mu * mu / q * len(gaps)
        count += len(gaps)
    return weighted / count if count else 1.0
