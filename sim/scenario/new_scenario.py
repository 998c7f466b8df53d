"""`capsim new`: a scenario file from a few answers (seed 004's `--interactive` sizing).

The answers become a diurnal day of chat traffic on a continuously batching
roofline fleet; the text is validated like any file before it is written.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass

from sim.errors import CapsimError
from sim.scenario.catalog import gpu_spec
from sim.scenario.file import validate_scenario
from sim.scenario.schema import Scenario

TP_DEGREES = (1, 2, 4, 8)  # tensor-parallel degrees a replica may use
WEIGHTS_SHARE_MAX = 0.8  # the weights may fill at most this share of a replica's memory


@dataclass(frozen=True)
class Answers:
    """What `capsim new` asks, with its defaults (a small chat product)."""

    name: str = "my-service"
    daily_active_users: float = 10_000
    requests_per_user_per_day: float = 20
    prompt_tokens: float = 800
    output_tokens: float = 300
    model_billions: float = 8.0
    gpu: str = "A100-80GB"
    latency_p99_s: float = 30.0
    budget_usd_per_month: float = 20_000


def gpus_per_replica(answers: Answers) -> int:
    """The smallest tensor-parallel degree whose memory holds the FP16 weights with room
    for the KV cache."""
    weights_gb = answers.model_billions * 2.0
    memory_gb = gpu_spec(answers.gpu).memory_gb
    for degree in TP_DEGREES:
        if weights_gb <= WEIGHTS_SHARE_MAX * memory_gb * degree:
            return degree
    raise CapsimError(
        f"model: {answers.model_billions:g}B parameters in FP16 ({weights_gb:.0f} GB) do not "
        f"fit in {TP_DEGREES[-1]} x {answers.gpu} ({memory_gb:g} GB each); pick a larger GPU"
    )


def scenario_text(answers: Answers, replicas: int) -> str:
    """The scenario file the answers describe, as TOML."""
    return f"""\
name = {_quoted(answers.name)}
description = {_quoted(_description(answers))}
horizon = "1d"
replications = 10
seed = 42

[traffic]
daily_active_users = {answers.daily_active_users!r}
requests_per_user_per_day = {answers.requests_per_user_per_day!r}
profile = "diurnal"
peak_to_mean = 2.0        # a day with its peak at twice the mean (14:00)

[requests]
prompt_tokens = {{ dist = "lognormal", mean = {answers.prompt_tokens!r}, cv = 1.0 }}
output_tokens = {{ dist = "lognormal", mean = {answers.output_tokens!r}, cv = 0.8 }}

[model]
parameters = {answers.model_billions * 1e9!r}
bytes_per_param = 2       # FP16; try --set model.bytes_per_param=1 (int8)

[service]
model = "roofline"

[fleet]
gpu = {_quoted(answers.gpu)}
gpus_per_replica = {gpus_per_replica(answers)}
replicas = {replicas}             # the BOTEC's batched replicas at the peak; see capsim size

[batching]
policy = "continuous"
max_batch = 64

[slo]
latency_p99 = {answers.latency_p99_s!r}

[budget]
monthly_usd = {answers.budget_usd_per_month!r}
"""


def _description(answers: Answers) -> str:
    return (
        f"Written by capsim new: {answers.daily_active_users:g} users x "
        f"{answers.requests_per_user_per_day:g} requests/day, "
        f"{answers.model_billions:g}B model on {answers.gpu}"
    )


def _quoted(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def parse_text(text: str, source: str) -> Scenario:
    """The text validated exactly as a scenario file is."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CapsimError(f"{source}: {exc}") from None
    return validate_scenario(data, source=source)


def replicas_at_peak(botec_result: dict) -> int:
    """Replicas the BOTEC's batched roofline needs at the peak (at least one)."""
    roof = botec_result["inference_roofline"]
    gpus = roof["batched"]["gpus_needed_at_peak"]
    return max(1, math.ceil(gpus / roof["gpus_per_replica_count"]))
