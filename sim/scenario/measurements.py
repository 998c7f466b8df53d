"""Measured serving results to calibrate against: vLLM bench JSON, genai-perf CSV, plain CSV.

Each file becomes `MeasuredPoint`s: a closed-loop load (clients at a fixed
concurrency, as these tools run with a maximum concurrency), the mean request size,
and whichever of mean TTFT, mean TPOT and request throughput were measured. A bad
file gets one CapsimError naming the file, the key or column, and what is allowed.

Formats (checked against the tools' sources):
- `vllm-bench`: the `--save-result` JSON of vLLM's `benchmark_serving.py` /
  `vllm bench serve`: `max_concurrency`, `completed`, `total_input_tokens`,
  `total_output_tokens`, `mean_ttft_ms`, `mean_tpot_ms`, `request_throughput`.
  One object, a list of objects, or one object per line (several runs).
- `genai-perf`: `profile_export_genai_perf.csv`: a `Metric,avg,...` block (Time To
  First Token (ms), Inter Token Latency (ms), Input/Output Sequence Length) and a
  `Metric,Value` block (Request Throughput (per sec)); numbers may carry thousands
  separators. The concurrency is not in the file: genai-perf names its artifact
  folder `...-concurrencyN`, which is read from the path.
- `csv`: columns `concurrency,prompt_tokens,output_tokens` and any of `ttft_ms`,
  `tpot_ms`, `throughput_per_s` (requests/s); an empty cell is "not measured".
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from sim.errors import CapsimError

FORMATS = ("vllm-bench", "genai-perf", "csv")
METRICS = ("ttft_s", "tpot_s", "throughput_per_s")
CSV_COLUMNS = ("concurrency", "prompt_tokens", "output_tokens")
CSV_METRICS = {"ttft_ms": ("ttft_s", 1e-3), "tpot_ms": ("tpot_s", 1e-3)}
CSV_METRICS["throughput_per_s"] = ("throughput_per_s", 1.0)


@dataclass(frozen=True)
class MeasuredPoint:
    """One measured load: clients, mean request size, and the measured means (None: not
    measured)."""

    source: str  # file and row or run, for the residual table
    concurrency: int
    prompt_tokens: float
    output_tokens: float
    ttft_s: float | None = None
    tpot_s: float | None = None
    throughput_per_s: float | None = None

    def measured(self) -> dict[str, float]:
        """The metrics this point measured, by name."""
        found = {name: getattr(self, name) for name in METRICS}
        return {k: v for k, v in found.items() if v is not None}


def guess_format(path: Path) -> str:
    """The format a file's name and first line suggest (`--format` overrides)."""
    if path.suffix.lower() in (".json", ".jsonl"):
        return "vllm-bench"
    head = _read_text(path).lstrip().splitlines()[:1]
    return "genai-perf" if head and head[0].lower().startswith("metric,") else "csv"


def read_measurements(path: Path, fmt: str | None = None) -> list[MeasuredPoint]:
    """The measured points in one file, in the given (or guessed) format."""
    fmt = fmt or guess_format(path)
    if fmt not in FORMATS:
        raise CapsimError(f"--format {fmt}: unknown format; allowed: {', '.join(FORMATS)}")
    reader = {"vllm-bench": _vllm_bench, "genai-perf": _genai_perf, "csv": _plain_csv}[fmt]
    points = reader(path, _read_text(path))
    if not points:
        raise CapsimError(f"{path}: no measured points in the file ({fmt} format)")
    return points


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CapsimError(f"{path}: cannot read the measurements ({exc.strerror})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CapsimError(f"{path}: is not UTF-8 text; save the measurements as UTF-8") from None


def _number(path: Path, where: str, value: object, *, positive: bool = True) -> float:
    """A finite number (> 0 when `positive`), else one error naming the file and key."""
    if isinstance(value, str):
        value = value.replace(",", "").strip()
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or (positive and number <= 0):
        allowed = "a finite number greater than 0" if positive else "a finite number"
        raise CapsimError(f"{path}: {where} is {value!r}; {allowed} is allowed")
    return number


def _concurrency(path: Path, where: str, value: object) -> int:
    number = _number(path, where, value)
    if not number.is_integer():
        raise CapsimError(f"{path}: {where} is {value!r}; a whole number of clients is allowed")
    return int(number)


# ---------------------------------------------------------------- vLLM bench JSON

VLLM_KEYS = ("max_concurrency", "completed", "total_input_tokens", "total_output_tokens")


def _vllm_bench(path: Path, text: str) -> list[MeasuredPoint]:
    try:
        data = json.loads(text)
        runs = data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        try:  # one run per line (JSON lines)
            runs = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise CapsimError(
                f"{path}: not JSON (line {exc.lineno}: {exc.msg}); the vllm-bench format is "
                "the --save-result JSON of vLLM's benchmark_serving.py / vllm bench serve"
            ) from None
    points = []
    for index, run in enumerate(runs):
        where = f"run {index + 1}" if len(runs) > 1 else "the run"
        if not isinstance(run, dict):
            raise CapsimError(f"{path}: {where} is not a JSON object of results")
        for key in VLLM_KEYS:
            if key not in run:
                raise CapsimError(
                    f"{path}: {where} has no key {key!r}; a vllm-bench result needs "
                    f"{', '.join(VLLM_KEYS)} (runs with --max-concurrency)"
                )
        if run["max_concurrency"] is None:
            raise CapsimError(
                f"{path}: {where}: max_concurrency is null (a run at a request rate); "
                "calibrate takes runs at a fixed concurrency (--max-concurrency N)"
            )
        completed = _number(path, f"{where}: completed", run["completed"])
        metrics = {}
        for key, name in (
            ("mean_ttft_ms", "ttft_s"),
            ("mean_tpot_ms", "tpot_s"),
            ("request_throughput", "throughput_per_s"),
        ):
            if run.get(key) is not None:
                scale = 1e-3 if key.endswith("_ms") else 1.0
                metrics[name] = _number(path, f"{where}: {key}", run[key]) * scale
        points.append(
            MeasuredPoint(
                source=f"{path.name} {where}",
                concurrency=_concurrency(path, f"{where}: max_concurrency", run["max_concurrency"]),
                prompt_tokens=_number(
                    path, f"{where}: total_input_tokens", run["total_input_tokens"]
                )
                / completed,
                output_tokens=_number(
                    path, f"{where}: total_output_tokens", run["total_output_tokens"]
                )
                / completed,
                **metrics,
            )
        )
    return points


# ---------------------------------------------------------------- genai-perf CSV

GENAI_ROWS = {
    "time to first token": ("ttft_s", 1e-3),
    "inter token latency": ("tpot_s", 1e-3),
    "input sequence length": ("prompt_tokens", 1.0),
    "output sequence length": ("output_tokens", 1.0),
    "request throughput": ("throughput_per_s", 1.0),
}


def _genai_perf(path: Path, text: str) -> list[MeasuredPoint]:
    found: dict[str, float] = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) < 2 or row[0].strip().lower() == "metric":
            continue
        label = row[0].strip().lower()
        for prefix, (name, scale) in GENAI_ROWS.items():
            if label.startswith(prefix):
                found[name] = _number(path, f"row {row[0]!r}", row[1]) * scale
    for prefix, (name, _) in GENAI_ROWS.items():
        if name in ("prompt_tokens", "output_tokens") and name not in found:
            raise CapsimError(
                f"{path}: no row {prefix.title()!r}; a genai-perf profile_export_genai_perf.csv "
                "has Time To First Token, Inter Token Latency, Input and Output Sequence "
                "Length and Request Throughput"
            )
    match = re.search(r"concurrency[_-]?(\d+)", str(path), re.IGNORECASE)
    if match is None:
        raise CapsimError(
            f"{path}: the concurrency is not in the path; genai-perf writes "
            "artifacts/<model>-concurrencyN/profile_export_genai_perf.csv: keep that folder "
            "name, or use --format csv with a concurrency column"
        )
    return [
        MeasuredPoint(
            source=str(path.parent.name or path.name),
            concurrency=int(match.group(1)),
            prompt_tokens=found["prompt_tokens"],
            output_tokens=found["output_tokens"],
            ttft_s=found.get("ttft_s"),
            tpot_s=found.get("tpot_s"),
            throughput_per_s=found.get("throughput_per_s"),
        )
    ]


# ---------------------------------------------------------------- plain CSV


def _plain_csv(path: Path, text: str) -> list[MeasuredPoint]:
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    allowed = (*CSV_COLUMNS, *CSV_METRICS)
    for column in columns:
        if column not in allowed:
            raise CapsimError(f"{path}: unknown column {column!r}; allowed: {', '.join(allowed)}")
    for column in CSV_COLUMNS:
        if column not in columns:
            raise CapsimError(
                f"{path}: no column {column!r}; a measurement CSV needs "
                f"{', '.join(CSV_COLUMNS)} and any of {', '.join(CSV_METRICS)}"
            )
    if not set(CSV_METRICS) & set(columns):
        raise CapsimError(f"{path}: no measured column; give any of {', '.join(CSV_METRICS)}")
    points = []
    for line, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()):
            continue
        metrics = {}
        for column, (name, scale) in CSV_METRICS.items():
            if row.get(column):
                metrics[name] = (
                    _number(path, f"line {line}, column {column!r}", row[column]) * scale
                )
        if not metrics:
            raise CapsimError(
                f"{path}: line {line} measures nothing; give any of {', '.join(CSV_METRICS)}"
            )
        points.append(
            MeasuredPoint(
                source=f"{path.name} line {line}",
                concurrency=_concurrency(
                    path, f"line {line}, column 'concurrency'", row["concurrency"]
                ),
                prompt_tokens=_number(
                    path, f"line {line}, column 'prompt_tokens'", row["prompt_tokens"]
                ),
                output_tokens=_number(
                    path, f"line {line}, column 'output_tokens'", row["output_tokens"]
                ),
                **metrics,
            )
        )
    return points
