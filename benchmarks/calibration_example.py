"""Write the bundled calibration examples: synthetic measurements made by capsim's own model.

docs/examples/measurements.csv (plain CSV) and docs/examples/vllm-bench.json (the
--save-result layout of vLLM's benchmark_serving.py, as a list of runs) hold what
`docs/examples/closed-loop.toml`'s step model predicts with TRUE_SERVICE below, at
several concurrencies and request sizes. `capsim calibrate` on either must recover
TRUE_SERVICE (tests/test_calibration.py checks it to 2%).

    .venv/bin/python benchmarks/calibration_example.py
"""

from __future__ import annotations

import json
from pathlib import Path

from sim.montecarlo.calibration import predict, with_parameters
from sim.scenario.file import load_scenario
from sim.scenario.measurements import MeasuredPoint

EXAMPLES = Path(__file__).parents[1] / "docs" / "examples"
TRUE_SERVICE = {"mfu": 0.42, "mbu": 0.68, "step_overhead": 0.004}
# (concurrency, prompt tokens, output tokens): batch 1 at two prompt sizes, then batches.
LOADS = [
    (1, 512, 128),
    (1, 2048, 256),
    (8, 512, 128),
    (32, 512, 128),
    (64, 1024, 256),
    (128, 512, 128),
]


def synthetic_points() -> list[tuple[int, int, int, float, float, float]]:
    """(concurrency, prompt, output, TTFT s, TPOT s, req/s) of every load, from the model."""
    truth = with_parameters(load_scenario(EXAMPLES / "closed-loop.toml"), TRUE_SERVICE)
    rows = []
    for n, prompt, output in LOADS:
        state = predict(truth, MeasuredPoint("synthetic", n, prompt, output))
        rows.append((n, prompt, output, state.ttft_s, state.tpot_s, state.throughput_per_s))
    return rows


def main() -> None:
    rows = synthetic_points()
    lines = ["concurrency,prompt_tokens,output_tokens,ttft_ms,tpot_ms,throughput_per_s"]
    lines += [f"{n},{p},{o},{t * 1e3:.6g},{q * 1e3:.6g},{x:.6g}" for n, p, o, t, q, x in rows]
    (EXAMPLES / "measurements.csv").write_text("\n".join(lines) + "\n")
    runs = [
        {
            "backend": "vllm",
            "max_concurrency": n,
            "completed": 100 * n,
            "total_input_tokens": 100 * n * p,
            "total_output_tokens": 100 * n * o,
            "request_throughput": float(f"{x:.6g}"),
            "mean_ttft_ms": float(f"{t * 1e3:.6g}"),
            "mean_tpot_ms": float(f"{q * 1e3:.6g}"),
        }
        for n, p, o, t, q, x in rows
    ]
    (EXAMPLES / "vllm-bench.json").write_text(json.dumps(runs, indent=1) + "\n")
    print(f"wrote {EXAMPLES / 'measurements.csv'} and {EXAMPLES / 'vllm-bench.json'}")


if __name__ == "__main__":
    main()
