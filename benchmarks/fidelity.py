"""Validation table: capsim's roofline defaults against published serving measurements.

Each point is a public measurement of a real engine on real GPUs (source, version
and settings beside it; every figure was checked against its source on
2026-12-01). capsim runs the point with only what the measurement states set (GPU,
tensor parallel degree, model shape, precision, prompt and output lengths,
concurrency) and every other key at its default, and the table prints the measured
figure, capsim's and the signed error; the summary line is the median absolute
error per metric, then per GPU and model.

How a point is run (one replica, the compiled kernel, continuous batching):
- offline ("max throughput": every request queued at once): all requests arrive at
  t = 0, max_batch 2048 (trtllm-bench's largest CUDA-graph batch); throughput is
  output tokens over the time to finish them all.
- closed loop at concurrency C (genai-perf): max_batch = C and enough requests
  queued that the replica always holds C of them, which is what C clients that send
  the next request when the last ends keep it at. Throughput, TPOT and TTFT are read
  over the middle 80% of finishes. A client's TTFT is the replica's admission-to-first-
  token time plus any wait for admission (when KV memory holds fewer than C); that
  wait follows from Little's law: the response time C / request rate less the mean
  admission-to-finish time.

    python benchmarks/fidelity.py [--set KEY=VALUE ...] [--only TEXT]
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass

import numpy as np

from distributions.traffic import RequestChunk
from sim.montecarlo.replication import replication_streams, simulate
from sim.scenario.file import load_scenario

# Model shapes from the public model cards; FP8 weights and (assumed, as ModelOpt's
# FP8 checkpoints and NIM's FP8 profiles ship them) FP8 KV cache.
MODELS = {
    "Llama-3.1-8B": "model={parameters=8.03e9, layers=32, hidden_size=4096, kv_heads=8, "
    "head_dim=128, bytes_per_param=1, kv_bytes_per_element=1}",
    "Llama-3.3-70B": "model={parameters=70.6e9, layers=80, hidden_size=8192, kv_heads=8, "
    "head_dim=128, bytes_per_param=1, kv_bytes_per_element=1}",
    "Llama-3.1-405B": "model={parameters=405.9e9, layers=126, hidden_size=16384, kv_heads=8, "
    "head_dim=128, bytes_per_param=1, kv_bytes_per_element=1}",
}

TRTLLM = (
    "NVIDIA/TensorRT-LLM docs/source/performance/perf-overview.md at commit 00f37686aa85 "
    "(v1.0 tables; trtllm-bench throughput, PyTorch backend, FP8, ISL/OSL stdev 0); read 2026-12-01"
)
NIM = (
    "NVIDIA NIM for LLMs 1.8.0 benchmarking guide, Llama-3.3-70B-Instruct on 2 x H100 FP8 TP2, "
    "genai-perf, 5000/500 tokens; concurrency 1/50/100 as in ../shared/fidelity/README.md, "
    "5 and 25 from the same table as reproduced in zivbeker42/llm-guesstimator "
    "tested_benchmarks/nim_llama33_70b_v1.8.0_2xH100_fp8TP2.csv; read 2026-12-01"
)

# (ISL, OSL) -> requests trtllm-bench ran (the perf-overview's $num_requests table).
TRTLLM_REQUESTS = {
    (128, 128): 30000,
    (128, 2048): 3000,
    (128, 4096): 1500,
    (500, 2000): 3000,
    (1000, 1000): 3000,
    (1000, 2000): 1500,
    (2048, 128): 3000,
    (2048, 2048): 1500,
    (5000, 500): 1500,
    (20000, 2000): 1000,
}

# Offline total output throughput (tokens/s), per (model, GPU, TP): ISL/OSL in
# TRTLLM_REQUESTS order.
TRTLLM_THROUGHPUT = {
    ("Llama-3.1-8B", "H200", 1): [
        27911,
        26221,
        18027,
        20770,
        17744,
        16828,
        3538,
        12194,
        3902,
        1804,
    ],
    ("Llama-3.1-8B", "H100-SXM", 1): [
        28312,
        22714,
        14325,
        17660,
        15220,
        13899,
        3450,
        9305,
        3459,
        1351,
    ],
    ("Llama-3.3-70B", "H200", 1): [3803, 4336, 2872, 3666, 2909, 2994, 442, 2003, 566, 283],
    ("Llama-3.3-70B", "H100-SXM", 2): [6378, 6651, 4199, 5222, 4205, 4146, 762, 3082, 898, 437],
    ("Llama-3.1-405B", "H200", 8): [3814, 5348, 4741, 4724, 3330, 3722, 456, 2948, 650, 505],
    ("Llama-3.1-405B", "H100-SXM", 8): [3627, 4340, 3116, 3994, 2919, 2895, 453, 2296, 610, 345],
}

# NIM closed loop: concurrency -> (TTFT ms, ITL ms, output tokens/s).
NIM_POINTS = {
    1: (406.77, 18.58, 51.67),
    5: (546.70, 21.83, 218.48),
    25: (688.69, 38.75, 623.40),
    50: (834.51, 59.73, 814.37),
    100: (7996.25, 92.91, 917.26),
}
OFFLINE_MAX_BATCH = 2048
METRICS = ("throughput", "tpot", "ttft")


@dataclass(frozen=True)
class Point:
    """One published measurement and the settings it was taken under."""

    source: str
    model: str
    gpu: str
    tp: int
    prompt_tokens: int
    output_tokens: int
    concurrency: int | None  # None: offline, every request queued at once
    requests: int
    measured: dict[str, float]  # throughput (tokens/s), tpot and ttft (s)

    @property
    def label(self) -> str:
        load = "offline" if self.concurrency is None else f"c={self.concurrency}"
        return (
            f"{self.model} {self.gpu} TP{self.tp} {self.prompt_tokens}/{self.output_tokens} {load}"
        )


def published_points() -> list[Point]:
    points = []
    for (model, gpu, tp), figures in TRTLLM_THROUGHPUT.items():
        for (isl, osl), value in zip(TRTLLM_REQUESTS, figures, strict=True):
            requests = TRTLLM_REQUESTS[(isl, osl)]
            measured = {"throughput": float(value)}
            points.append(Point(TRTLLM, model, gpu, tp, isl, osl, None, requests, measured))
    for concurrency, (ttft_ms, itl_ms, throughput) in NIM_POINTS.items():
        measured = {"throughput": throughput, "tpot": itl_ms / 1e3, "ttft": ttft_ms / 1e3}
        requests = max(40, 12 * concurrency)
        points.append(
            Point(NIM, "Llama-3.3-70B", "H100-SXM", 2, 5000, 500, concurrency, requests, measured)
        )
    return points


def scenario_for(point: Point, extra_sets: list[str]):
    max_batch = OFFLINE_MAX_BATCH if point.concurrency is None else point.concurrency
    sets = [
        'service={model="roofline"}',
        MODELS[point.model],
        f'fleet.gpu="{point.gpu}"',
        f"fleet.gpus_per_replica={point.tp}",
        "fleet.replicas=1",
        f'batching={{policy="continuous", max_batch={max_batch}}}',
        f"requests.max_context_tokens={point.prompt_tokens + point.output_tokens}",
        f'requests.prompt_tokens={{dist="fixed", value={point.prompt_tokens}}}',
        f'requests.output_tokens={{dist="fixed", value={point.output_tokens}}}',
        "pricing.gpu_usd_per_hour=1",  # any price: the table reads no money
        "horizon=1e7",  # the run drains for a quarter of it: every request finishes
        *extra_sets,
    ]
    return load_scenario("mmc", sets)


def run_point(point: Point, extra_sets: list[str]) -> dict[str, float]:
    """capsim's throughput, TPOT and TTFT for one published point."""
    scenario = scenario_for(point, extra_sets)
    n = point.requests
    requests = RequestChunk(
        arrival_s=np.zeros(n),
        prompt_tokens=np.full(n, point.prompt_tokens, dtype=np.int64),
        output_tokens=np.full(n, point.output_tokens, dtype=np.int64),
        class_index=np.zeros(n, dtype=np.int16),
    )
    result = simulate(scenario, requests, replication_streams(scenario.seed, 0), keep_log=True)
    log = result.log
    if not np.all(np.isfinite(log.finish_s)):
        raise RuntimeError(f"{point.label}: not every request finished")
    osl = point.output_tokens
    if point.concurrency is None:
        return {"throughput": n * osl / float(log.finish_s.max())}
    finish = np.sort(log.finish_s)
    low, high = int(0.1 * n), int(0.9 * n)
    request_rate = (high - low) / (finish[high] - finish[low])
    middle = (log.finish_s >= finish[low]) & (log.finish_s <= finish[high])
    tpot_s = float(np.mean((log.finish_s - log.first_token_s)[middle] / (osl - 1)))
    in_service_s = float(np.mean((log.finish_s - log.start_s)[middle]))
    wait_s = max(0.0, point.concurrency / request_rate - in_service_s)
    ttft_s = float(np.mean((log.first_token_s - log.start_s)[middle])) + wait_s
    return {"throughput": request_rate * osl, "tpot": tpot_s, "ttft": ttft_s}


def _figure(metric: str, value: float) -> str:
    return f"{value:,.0f}" if metric == "throughput" else f"{value * 1e3:,.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], help="scenario override")
    parser.add_argument("--only", default="", help="run points whose label contains this")
    args = parser.parse_args()
    errors: dict[str, list[float]] = {m: [] for m in METRICS}
    by_group: dict[tuple[str, str], list[float]] = {}
    print(f"{'point':<46} {'metric':<10} {'measured':>12} {'capsim':>12} {'error':>8}")
    for point in published_points():
        if args.only not in point.label:
            continue
        simulated = run_point(point, args.set)
        for metric, measured in point.measured.items():
            error = simulated[metric] / measured - 1
            errors[metric].append(abs(error))
            group = (point.gpu + f" TP{point.tp}", point.model)
            by_group.setdefault(group, []).append(abs(error))
            print(
                f"{point.label:<46} {metric:<10} {_figure(metric, measured):>12} "
                f"{_figure(metric, simulated[metric]):>12} {error:>+8.1%}"
            )
    print("\nmedian absolute error per GPU and model (all its metrics):")
    for (gpu, model), values in by_group.items():
        print(f"  {gpu:<14} {model:<15} {statistics.median(values):6.1%}  ({len(values)} figures)")
    summary = ", ".join(
        f"{m} {statistics.median(v):.1%} (n={len(v)})" for m, v in errors.items() if v
    )
    print(f"\nmedian absolute error: {summary}")


if __name__ == "__main__":
    main()
