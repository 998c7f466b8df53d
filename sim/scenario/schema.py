"""The scenario schema: one validated, immutable description of a deployment.

Every key has a documented default except what defines the workload (traffic
volume and the service model). Durations are seconds after validation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from distributions.profiles import MAX_DIURNAL_PEAK_TO_MEAN
from sim.scenario import plugins
from sim.scenario.units import (
    MAX_DURATION_S,
    SECONDS_PER_DAY,
    parse_duration_s,
    parse_time_of_day_s,
)

# ---------------------------------------------------------------- bounded values
# Every number a scenario accepts is finite and inside a range the model can run;
# every string is short enough to print on one line of a table or an error.


@dataclass(frozen=True)
class Range:
    """An interval of allowed values; calling it checks a value, with one message naming it."""

    low: float
    high: float
    low_open: bool = False  # the low end itself is excluded
    high_open: bool = False
    unit: str = ""  # shown after the bounds, e.g. " s"
    why: str = ""  # what a value beyond the bounds would mean, for the message

    def __call__(self, value: float) -> float:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        if not (math.isfinite(value) and above and below):
            raise ValueError(f"must be {self.describe()}")
        return value

    def describe(self) -> str:
        low = f"{'greater than' if self.low_open else 'at least'} {_number(self.low)}"
        high = f"{'less than' if self.high_open else 'at most'} {_number(self.high)}"
        reason = f": {self.why}" if self.why else ""
        return f"{low} and {high}{self.unit}{reason}"


def _number(x: float) -> str:
    """A bound as a reader writes it: 0, 0.5, 86400, 1e+07 (integers exactly)."""
    if isinstance(x, int) or (x.is_integer() and abs(x) < 1e6):
        return str(int(x))
    return f"{x:g}"


def number(
    low: float, high: float, *, low_open: bool = False, high_open: bool = False, why: str = ""
) -> Any:
    """A finite float in the interval (closed unless an end is open)."""
    return Annotated[float, AfterValidator(Range(low, high, low_open, high_open, why=why))]


def positive(high: float) -> Any:
    """A finite float in (0, high]."""
    return number(0, high, low_open=True)


def whole(low: int, high: int, why: str = "") -> Any:
    """An integer in [low, high]."""
    return Annotated[int, AfterValidator(Range(low, high, why=why))]


def text(max_chars: int) -> Any:
    """A string of at most max_chars characters."""
    return Annotated[str, StringConstraints(max_length=max_chars)]


MAX_VALUE = 1e7  # a distribution's value: tokens (a 10M context) or seconds (116 days)
MAX_TOKENS = 10_000_000
MAX_RATE_PER_S = 1e6  # requests per second: a very large deployment's whole traffic
MIN_RATE_PER_S = 1e-6
MAX_REPLICAS = 100_000
REPLICAS_WHY = "more replicas than any GPU cluster in existence holds"
MAX_BATCH = 65_536
MAX_CLIENTS = 1_000_000
CLIENTS_WHY = "a closed loop of a million clients is already an open stream; give a rate"
BATCH_WHY = "no serving engine runs more requests at once (vLLM's default is 256)"
MAX_BYTES = 1e12
MAX_USD = 1e12
MAX_GROWTH_FACTOR = 1e6  # how much the traffic may grow over the horizon
CV = number(1e-3, 100)  # below: use a fixed value; above: no sample has a stable mean
Fraction = number(0, 1)
RelativeWeight = number(0, 1e12)
# Prices above these are typing errors, not markets (the catalog's dearest GPU-hour is
# under $15); they also keep every cost finite.
UsdPerHour = number(1e-6, 1000)  # per GPU-hour
UsdPerUnit = number(0, 100)  # per GB, per GB-month, per 1k tokens

Name = text(100)
Description = text(1000)
FilePath = text(4096)
ColumnName = text(200)

# Durations: seconds, at most ten years (sim.units.MAX_DURATION_S).
DurationS = Annotated[
    float,
    BeforeValidator(parse_duration_s),
    AfterValidator(Range(0, MAX_DURATION_S, unit=" s (ten years)")),
]
PositiveDurationS = Annotated[
    float,
    BeforeValidator(parse_duration_s),
    AfterValidator(Range(0, MAX_DURATION_S, low_open=True, unit=" s (ten years)")),
]
# How often a control loop runs: at least a second, so a horizon holds a countable number.
PeriodS = Annotated[
    float,
    BeforeValidator(parse_duration_s),
    AfterValidator(Range(1, MAX_DURATION_S, unit=" s")),
]
TimeOfDayS = Annotated[
    float,
    BeforeValidator(parse_time_of_day_s),
    AfterValidator(Range(0, SECONDS_PER_DAY, high_open=True, unit=" s after midnight")),
]


class Section(BaseModel):
    """A scenario section: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# ---------------------------------------------------------------- distributions


class Fixed(Section):
    dist: Literal["fixed"]
    value: number(0, MAX_VALUE)


class Exponential(Section):
    dist: Literal["exponential"]
    mean: positive(MAX_VALUE)


class LogNormal(Section):
    dist: Literal["lognormal"]
    mean: positive(MAX_VALUE)
    cv: CV


class Gamma(Section):
    dist: Literal["gamma"]
    mean: positive(MAX_VALUE)
    cv: CV


class Uniform(Section):
    dist: Literal["uniform"]
    low: number(0, MAX_VALUE)
    high: number(0, MAX_VALUE)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"uniform needs low <= high, got low={self.low}, high={self.high}")
        return self


class Empirical(Section):
    """Values with weights, or a CDF table file (columns: value, cdf)."""

    dist: Literal["empirical"]
    values: list[number(0, MAX_VALUE)] | None = None
    weights: list[RelativeWeight] | None = None
    file: FilePath | None = None
    column: ColumnName | None = None  # sample a column of a CSV file (e.g. a trace's token counts)

    @model_validator(mode="after")
    def _one_source(self) -> Empirical:
        if (self.values is None) == (self.file is None):
            raise ValueError("empirical needs exactly one of 'values' (with 'weights') or 'file'")
        if self.values is not None:
            if not self.values:
                raise ValueError("empirical 'values' is empty")
            if self.weights is not None:
                if len(self.weights) != len(self.values):
                    raise ValueError(
                        f"empirical has {len(self.values)} values but {len(self.weights)} weights"
                    )
                if sum(self.weights) <= 0:
                    raise ValueError("empirical weights must have a positive sum")
        return self


DistSpec = Annotated[
    Fixed | Exponential | LogNormal | Gamma | Uniform | Empirical, Field(discriminator="dist")
]


def _fixed(value: float) -> Fixed:
    return Fixed(dist="fixed", value=value)


# ---------------------------------------------------------------- traffic


class Burst(Section):
    start: TimeOfDayS
    duration: PositiveDurationS
    multiplier: positive(1000)
    day: whole(0, int(MAX_DURATION_S // SECONDS_PER_DAY)) | None = None  # None: every day


class TraceSpec(Section):
    file: FilePath
    timestamp_column: ColumnName = "TIMESTAMP"
    prompt_column: ColumnName | None = "ContextTokens"
    output_column: ColumnName | None = "GeneratedTokens"
    time_scale: number(1e-3, 1e3) = 1.0  # stretch the trace's time axis by this factor
    rate_scale: positive(1000) = 1.0  # multiply the request rate (thins or replicates requests)
    loop: bool = True  # repeat the trace to fill the horizon


class Traffic(Section):
    rate_per_s: positive(MAX_RATE_PER_S) | None = None
    requests_per_day: positive(MAX_RATE_PER_S * SECONDS_PER_DAY) | None = None
    daily_active_users: positive(1e10) | None = None
    requests_per_user_per_day: positive(1e5) | None = None
    profile: Literal["constant", "diurnal", "hourly", "trace"] = "constant"
    peak_to_mean: number(
        1,
        MAX_DIURNAL_PEAK_TO_MEAN,
        why="the diurnal peak narrows as the ratio grows (about 2 h wide at half height "
        "at 10); model a sharper daily spike with hourly_weights or bursts",
    ) = 2.0
    peak_time: TimeOfDayS = 14 * 3600.0
    hourly_weights: list[RelativeWeight] | None = None
    bursts: list[Burst] = []
    growth_per_day: number(-1, 1, low_open=True) = 0.0
    arrival: Literal["poisson", "gamma", "trace", "closed"] = "poisson"
    cv: CV = 1.0
    trace: TraceSpec | None = None
    # A closed loop: this many clients, each sending its next request when its last one
    # ends (completed, dropped, timed out or lost), after a think time.
    concurrency: whole(1, MAX_CLIENTS, CLIENTS_WHY) | None = None
    think_time: DistSpec | None = None  # seconds; None: the next request goes at once

    @model_validator(mode="after")
    def _consistent(self) -> Traffic:
        volume = [
            self.rate_per_s is not None,
            self.requests_per_day is not None,
            self.daily_active_users is not None or self.requests_per_user_per_day is not None,
        ]
        uses_trace = self.profile == "trace" or self.arrival == "trace"
        if self.arrival == "closed" or self.concurrency is not None or self.think_time:
            self._closed_loop_consistent(any(volume))
            return self
        if uses_trace:
            if self.trace is None:
                raise ValueError(
                    "profile/arrival 'trace' needs a [traffic.trace] table with 'file'"
                )
            if self.profile != self.arrival:
                raise ValueError("trace replay needs both profile = 'trace' and arrival = 'trace'")
        elif sum(volume) != 1:
            raise ValueError(
                "give the traffic volume exactly once: rate_per_s, requests_per_day, "
                "or daily_active_users with requests_per_user_per_day"
            )
        if (self.daily_active_users is None) != (self.requests_per_user_per_day is None):
            raise ValueError("daily_active_users and requests_per_user_per_day go together")
        if self.profile == "hourly":
            if self.hourly_weights is None:
                raise ValueError("profile 'hourly' needs hourly_weights (24 or 168 numbers)")
            if len(self.hourly_weights) not in (24, 168):
                raise ValueError(
                    f"hourly_weights needs 24 (a day) or 168 (a week) numbers, "
                    f"got {len(self.hourly_weights)}"
                )
            if sum(self.hourly_weights) <= 0:
                raise ValueError("hourly_weights must have a positive sum")
        given = self.profile != "trace"  # a replayed trace sets its own rate
        if given and not MIN_RATE_PER_S <= self.mean_rate_per_s <= MAX_RATE_PER_S:
            raise ValueError(
                f"the mean rate is {self.mean_rate_per_s:g} requests/s; "
                f"{MIN_RATE_PER_S:g} (one request in about 12 days) to {MAX_RATE_PER_S:g} "
                "is allowed"
            )
        return self

    def _closed_loop_consistent(self, volume_given: bool) -> None:
        """Closed-loop clients: a count of clients, no rate, and a steady loop."""
        if self.arrival != "closed":
            key = "concurrency" if self.concurrency is not None else "think_time"
            raise ValueError(
                f"traffic.{key} is for closed-loop clients (arrival = 'closed'); "
                f"with arrival = {self.arrival!r} remove it, or set arrival = 'closed'"
            )
        if self.concurrency is None:
            raise ValueError(
                "traffic.arrival = 'closed' needs traffic.concurrency, the number of clients "
                "(an integer from 1 to 1000000)"
            )
        if self.profile != "constant" or self.trace is not None:
            raise ValueError(
                f"traffic.profile = {self.profile!r}: closed-loop clients (arrival = 'closed') "
                "send as their replies come back, so the profile must be 'constant' "
                "and there is no [traffic.trace]"
            )
        if volume_given:
            raise ValueError(
                "closed-loop clients (arrival = 'closed') set their own rate from "
                "traffic.concurrency and the latency; remove traffic.rate_per_s, "
                "requests_per_day and daily_active_users"
            )
        if self.bursts or self.growth_per_day != 0.0:
            key = "bursts" if self.bursts else "growth_per_day"
            raise ValueError(
                f"traffic.{key} changes an open stream's rate; closed-loop clients "
                "(arrival = 'closed') have none: remove it"
            )

    @property
    def closed_loop(self) -> bool:
        """True if clients wait for their replies (arrival = 'closed') instead of a stream."""
        return self.arrival == "closed"

    @property
    def mean_rate_per_s(self) -> float:
        """Mean arrival rate over a day, before bursts and growth."""
        if self.rate_per_s is not None:
            return self.rate_per_s
        if self.requests_per_day is not None:
            return self.requests_per_day / SECONDS_PER_DAY
        if self.daily_active_users is not None and self.requests_per_user_per_day is not None:
            return self.daily_active_users * self.requests_per_user_per_day / SECONDS_PER_DAY
        return 0.0  # trace replay: the trace sets the rate

    @property
    def requests_per_day_mean(self) -> float:
        return self.mean_rate_per_s * SECONDS_PER_DAY


# ---------------------------------------------------------------- requests


class RequestClass(Section):
    name: Name
    share: positive(1e12)
    prompt_tokens: DistSpec | None = None  # None: the [requests] default
    output_tokens: DistSpec | None = None
    timeout: PositiveDurationS | None = None
    latency_slo_p99: PositiveDurationS | None = None


class Requests(Section):
    prompt_tokens: DistSpec = _fixed(250)
    output_tokens: DistSpec = _fixed(500)
    max_context_tokens: whole(1, MAX_TOKENS) = 8192
    request_bytes: number(0, 1e9) = 2000
    response_bytes: number(0, 1e9) = 10000
    classes: list[RequestClass] = []
    # Token levers (seed 002, "Request optimization"): drop this share of every prompt's
    # tokens (prompt compression), and cap every reply (an API's max_tokens).
    prompt_compression: number(0, 1, high_open=True) = 0.0
    max_output_tokens: whole(1, MAX_TOKENS) | None = None

    @model_validator(mode="after")
    def _unique_classes(self) -> Requests:
        names = [c.name for c in self.classes]
        if len(set(names)) != len(names):
            raise ValueError(f"request class names must be unique, got {names}")
        return self


# ---------------------------------------------------------------- model and service


class Model(Section):
    name: Name = "model"
    parameters: number(1e6, 1e14, why="a language model has a million parameters or more") = 7e9
    bytes_per_param: number(0.125, 8, why="from 1-bit weights to FP64") = 2.0
    layers: whole(1, 10_000) | None = None
    hidden_size: whole(1, 1_000_000) | None = None
    kv_heads: whole(1, 10_000) | None = None
    head_dim: whole(1, 100_000) | None = None
    kv_bytes_per_token: positive(1e9) | None = None  # overrides the architecture estimate
    kv_bytes_per_element: positive(8) = 2.0
    # The tensor-core precision the matmuls run at: "auto" is FP8 for 1-byte weights on a
    # GPU with FP8 tensor cores (W8A8), else BF16 (16-bit weights, and weight-only INT4 or
    # INT8, which dequantise to BF16 before the matmul).
    compute_precision: Literal["auto", "bf16", "fp8", "int8"] = "auto"

    @property
    def weight_bytes(self) -> float:
        return self.parameters * self.bytes_per_param


# Published defaults of the roofline's free parameters.
# Step overhead: Hugging Face, "Unlocking asynchronicity in continuous batching" (2026-05-14,
# as reported by kelford.press and type0.ai): an 8B model at batch 32 generating 8K tokens
# ran 234.5 s with an overlapped (asynchronous) scheduler at 99.4% GPU busy, so the GPU
# idled (1 - 0.994) x 234.5 s / ~8,192 steps = 0.17 ms a step; the synchronous loop idled
# 72.1 s of 300.6 s (8.8 ms a step). vLLM V1, SGLang (v0.4 "zero-overhead" scheduler) and
# TensorRT-LLM (overlap scheduler on by default) all overlap, so the overlapped figure.
ROOFLINE_STEP_OVERHEAD_S = 0.17e-3
# Link efficiency: nccl-tests all_reduce busbw on 8 x A100 SXM4 of 230-250 GB/s against
# NVLink-3's 300 GB/s a direction (Alaya NeW, "NCCL-tests in practice", 2026-05-06): 0.8.
LINK_EFFICIENCY = 0.8
# KV-cache memory: engines give the KV cache only part of the memory the weights leave.
# TensorRT-LLM allocates `KvCacheConfig.free_gpu_memory_fraction` = 0.9 (its default) of the
# memory free after loading the weights and profiling a forward pass (nvidia.github.io/
# TensorRT-LLM "How to Change KV Cache Behavior" and llmapi KvCacheConfig reference; PyTorch
# backend `_util.py` `_cal_max_memory`), and trtllm-bench's `--kv_cache_free_gpu_mem_fraction`
# defaults to 0.90 (docs/source/performance/perf-overview.md at 00f37686aa85); read 2026-12-01.
# vLLM's `gpu_memory_utilization` (0.9; 0.92 in later versions) is a share of all memory
# instead: the fraction equivalent to it is (u x memory - weights) / (memory - weights).
KV_CACHE_MEMORY_FRACTION = 0.9


class Service(Section):
    model: plugins.SERVICE_MODELS.field()
    latency: DistSpec | None = None
    batch_overhead: number(0, 100) = 0.0
    batch_overhead_at: whole(2, MAX_BATCH) | None = None  # default: max_batch
    mfu: number(0.001, 1, why="the share of peak FLOP/s a step achieves") = 0.5
    mbu: number(0.001, 1, why="the share of peak memory bandwidth a step achieves") = 0.77
    # Fixed scheduler/launch cost per batch or step; None: ROOFLINE_STEP_OVERHEAD_S under
    # the roofline (a published figure), 0 under the latency model.
    step_overhead: DurationS | None = None
    # Share of the catalog's GPU-to-GPU link bandwidth a tensor-parallel all-reduce achieves.
    link_efficiency: number(0.001, 1, why="a share of the link's bandwidth") = LINK_EFFICIENCY
    # Share of the GPU memory left after the weights that holds the KV cache (the rest is the
    # engine's activations, CUDA graphs and workspace); TensorRT-LLM's default.
    kv_cache_memory_fraction: number(
        0, 1, low_open=True, why="a share of the memory the weights leave"
    ) = KV_CACHE_MEMORY_FRACTION

    @property
    def step_overhead_s(self) -> float:
        """The per-step overhead in force: the given one, else this model's default."""
        if self.step_overhead is not None:
            return self.step_overhead
        return ROOFLINE_STEP_OVERHEAD_S if plugins.SERVICE_MODELS[self.model].from_hardware else 0.0

    @model_validator(mode="after")
    def _latency_given(self) -> Service:
        if plugins.SERVICE_MODELS[self.model].takes_latency and self.latency is None:
            raise ValueError(f"service model {self.model!r} needs a latency distribution")
        return self


# ---------------------------------------------------------------- fleet


class Fleet(Section):
    gpu: Name = "A100-80GB"
    gpus_per_replica: whole(1, 1024, "one model instance across over 14 NVL72 racks of 72 GPUs") = 1
    provider: Name = "aws"
    market: plugins.MARKETS.field() = "on-demand"
    spot_fraction: Fraction | None = None
    replicas: whole(0, MAX_REPLICAS, REPLICAS_WHY) = 1  # fixed size, or the starting size
    router: plugins.ROUTERS.field() = "least-loaded"

    @property
    def uses_spot(self) -> bool:
        """True if any replica may be bought on the spot market."""
        return plugins.MARKETS[self.market].reclaimed or bool(self.spot_fraction)


class Batching(Section):
    policy: plugins.BATCHING.field() = "none"
    max_batch: whole(1, MAX_BATCH, BATCH_WHY) = 1
    max_wait: DurationS = 0.0
    # Continuous batching: tokens one step may process, prefill chunks and decodes together
    # (vLLM's max_num_batched_tokens). None: vLLM's own default for its OpenAI server,
    # 8192 on GPUs of 70 GiB or more other than the A100, else 2048 (EngineArgs.
    # get_batch_defaults), and never below max_batch.
    max_num_batched_tokens: whole(1, 10**8) | None = None

    @model_validator(mode="after")
    def _batch_size(self) -> Batching:
        if not plugins.BATCHING[self.policy].batches and self.max_batch != 1:
            raise ValueError(
                f"batching policy {self.policy!r} serves one request at a time: max_batch = 1"
            )
        budget = self.max_num_batched_tokens
        if budget is not None and budget < self.max_batch:
            raise ValueError(
                f"max_num_batched_tokens = {budget} is below max_batch = {self.max_batch}: "
                "every running request decodes a token each step, within that budget"
            )
        return self


class Admission(Section):
    max_queue: whole(1, 10**9) | None = None  # waiting requests per replica; None: unbounded
    timeout: PositiveDurationS | None = None  # longest wait for admission before the client leaves


def _pairs_as_tuples(value: object) -> object:
    """TOML has arrays, not tuples: read [[time, replicas], ...] as pairs."""
    if isinstance(value, list):
        return [tuple(item) if isinstance(item, list) else item for item in value]
    return value


class Autoscaling(Section):
    policy: plugins.AUTOSCALING.field() = "fixed"
    min_replicas: whole(0, MAX_REPLICAS, REPLICAS_WHY) = 1
    max_replicas: whole(1, MAX_REPLICAS, REPLICAS_WHY) = 1000
    # None: minutes for a dedicated replica, seconds for a serverless container
    # (see `Autoscaling.cold_start_dist`).
    cold_start: DistSpec | None = None
    metric: Literal["utilization", "in-flight"] = "utilization"
    target: positive(1e6) = 0.7
    tolerance: number(0, 1, high_open=True) = 0.1
    sync_period: PeriodS = 15.0
    scale_up_stabilization: DurationS = 0.0
    scale_down_stabilization: DurationS = 300.0
    max_step_up: whole(1, MAX_REPLICAS) | None = None
    max_step_down: whole(1, MAX_REPLICAS) | None = None
    queue_per_replica: positive(1e9) | None = None  # None: `target` per batch slot
    polling_interval: PeriodS = 30.0
    cooldown: DurationS = 300.0
    schedule: Annotated[
        list[tuple[TimeOfDayS, whole(0, MAX_REPLICAS, REPLICAS_WHY)]],
        BeforeValidator(_pairs_as_tuples),
    ] = []
    headroom: number(0, 100) = 0.2
    concurrency_per_replica: whole(1, MAX_BATCH, BATCH_WHY) | None = None
    idle_timeout: DurationS = 60.0
    billed_only_busy: bool = False  # the seeds' serverless idealisation: bill busy seconds only

    @property
    def cold_start_dist(self) -> DistSpec:
        """The cold start's distribution: the given one, else the policy's default.

        A dedicated replica provisions a VM, pulls the image and loads the weights
        (lognormal, mean 180 s, cv 0.3); a serverless container starts on a warm host
        and loads the weights (lognormal, mean 10 s, cv 0.5).
        """
        if self.cold_start is not None:
            return self.cold_start
        if plugins.AUTOSCALING[self.policy].containers:
            return LogNormal(dist="lognormal", mean=10.0, cv=0.5)
        return LogNormal(dist="lognormal", mean=180.0, cv=0.3)

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.max_replicas < self.min_replicas:
            raise ValueError(
                f"max_replicas ({self.max_replicas}) is below min_replicas ({self.min_replicas})"
            )
        if plugins.AUTOSCALING[self.policy].needs_schedule and not self.schedule:
            raise ValueError(f"policy {self.policy!r} needs schedule = [[time, replicas], ...]")
        return self


class Spot(Section):
    """Spot reclaims; rate and notice default to the catalog's figures for the provider."""

    interruptions_per_hour: (
        number(
            0,
            60,
            why="a reclaim a minute per replica; real spot markets reclaim a GPU well under "
            "once an hour",
        )
        | None
    ) = None
    notice: DurationS | None = None
    retry: bool = True
    capacity_shortage_probability: Fraction = 0.0


class Slo(Section):
    latency_p99: PositiveDurationS | None = None
    ttft_p99: PositiveDurationS | None = None
    tpot_p99: PositiveDurationS | None = None  # time per output token after the first


class Budget(Section):
    monthly_usd: positive(MAX_USD) | None = None


class Pricing(Section):
    """Overrides of the catalog's prices and the billing rules."""

    gpu_usd_per_hour: UsdPerHour | None = None  # per GPU, replaces the catalog price
    serverless_usd_per_s: number(1e-9, 0.3) | None = None  # per GPU-second
    spot_usd_per_hour: UsdPerHour | None = None
    reserved_usd_per_hour: UsdPerHour | None = None
    billing_granularity: PositiveDurationS = 1.0
    minimum_billed: DurationS = 60.0
    reserved_replicas: whole(0, MAX_REPLICAS, REPLICAS_WHY) = 0
    storage_usd_per_gb_month: UsdPerUnit = 0.023
    egress_usd_per_gb: UsdPerUnit = 0.09
    ingress_usd_per_gb: UsdPerUnit = 0.0


class Api(Section):
    """A hosted model API: token prices, and whether this deployment uses it."""

    use: bool = False
    input_usd_per_1k_tokens: UsdPerUnit = 0.01
    output_usd_per_1k_tokens: UsdPerUnit = 0.03
    batch_discount: Fraction = 0.5
    batch_share: Fraction = 0.0
    rag_prompt_tokens: number(0, MAX_TOKENS) | None = None
    rag_output_tokens: number(0, MAX_TOKENS) | None = None


class Storage(Section):
    """User and interaction data kept beside the model (the seeds' storage lines)."""

    users: number(0, 1e10) | None = None  # default: daily_active_users
    user_profile_bytes: number(0, MAX_BYTES) = 0.0
    interaction_bytes: number(0, MAX_BYTES) = 0.0
    index_overhead: number(0, 100) = 0.25
    retention_days: number(0, 36_500) = 30.0


class Growth(Section):
    """Month-by-month request volumes for a cost projection (seed 001)."""

    requests_per_day: list[positive(MAX_RATE_PER_S * SECONDS_PER_DAY)] = []
    batch_share: list[Fraction] = []


# ---------------------------------------------------------------- platform (non-GPU stack)
# Seeds 003 and 004 price the whole product: API and frontend pods, nodes, database,
# cache, search, CDN, object storage, logging, DDoS protection. A price is a key of the
# catalog's [platform_prices] (its unit checked) or a number in the unit the key names.

PlatformPrice = Annotated[str, StringConstraints(max_length=100)] | number(0, 1e9)
MAX_PLATFORM_USERS = 1e11
CAPACITY_WHY = "a pod serving under a thousandth of a user or request is a typing error"


class PodTier(Section):
    """Pods (or servers) sized from the peak load as seed 004 does: base = load / capacity,
    minimum = base x (1 + buffer) rounded up, maximum = minimum x max_over_min."""

    users_per_pod: number(1e-3, 1e9, why=CAPACITY_WHY) | None = None
    requests_per_s_per_pod: number(1e-3, 1e9, why=CAPACITY_WHY) | None = None
    traffic_share: number(0, 1, low_open=True) = 1.0  # share of the requests it serves
    buffer: number(0, 100) = 0.0
    max_over_min: number(1, 1000) = 1.0
    min_pods: whole(0, 10**9) = 1
    cpu_cores: positive(1024) = 0.5  # requested per pod
    memory_gb: positive(1e5) = 0.5
    server_price: PlatformPrice | None = None  # per hour: each pod its own server; None: nodes

    @model_validator(mode="after")
    def _one_capacity(self) -> PodTier:
        if (self.users_per_pod is None) == (self.requests_per_s_per_pod is None):
            raise ValueError("give exactly one of users_per_pod or requests_per_s_per_pod")
        return self


class Nodes(Section):
    """The Kubernetes nodes the pods are packed on: max(CPU, memory) x (1 + buffer)."""

    instance: Annotated[str, StringConstraints(max_length=100)] = "aws-t3.large"
    buffer: number(0, 100) = 0.2
    usd_per_hour: number(0, 1e4) | None = None  # overrides the catalog instance's price


class Database(Section):
    """DynamoDB-style read/write units, or a sharded SQL fleet with replicas."""

    kind: Literal["dynamodb", "sql"] = "dynamodb"
    reads_per_user_per_s: number(0, 1e6) = 0.5
    writes_per_user_per_s: number(0, 1e6) = 0.1
    read_item_kb: positive(400) = 4.0
    write_item_kb: positive(400) = 1.0
    consistency: Literal["eventual", "strong"] = "eventual"
    billing: Literal["on-demand", "provisioned"] = "on-demand"
    read_price: PlatformPrice | None = None  # default: the AWS key for the billing mode
    write_price: PlatformPrice | None = None
    users_per_shard: number(1, 1e11) = 1e6
    replicas_per_shard: whole(0, 1000) = 1
    primary_price: PlatformPrice = 0.0  # per instance-month
    replica_price: PlatformPrice = 0.0
    storage_tb: number(0, 1e9) = 0.0
    storage_price: PlatformPrice = 0.0  # per GB-month


class Clusters(Section):
    """Cache or search clusters: a fixed count, or one per users_per_cluster."""

    clusters: whole(0, 10**9) | None = None
    users_per_cluster: number(1, 1e11) | None = None
    nodes_per_cluster: whole(1, 10**6) = 1
    node_price: PlatformPrice = 0.0  # per node-hour if a catalog key says so, else per month
    storage_tb_per_cluster: number(0, 1e9) = 0.0
    storage_price: PlatformPrice = 0.0  # per GB-month

    @model_validator(mode="after")
    def _one_count(self) -> Clusters:
        if (self.clusters is None) == (self.users_per_cluster is None):
            raise ValueError("give exactly one of clusters or users_per_cluster")
        return self


class Cdn(Section):
    gb_per_user_per_month: number(0, 1e9) = 0.0  # per monthly active user
    price: PlatformPrice = "gcp-cloud-cdn-egress-na"  # per GB


class ApiEgress(Section):
    response_kb: number(0, 1e9) = 0.0  # per platform request
    price: PlatformPrice = "gcp-internet-egress"  # per GB


class StorageTier(Section):
    """One tier of object storage: a stock it holds (`tb`), plus the data a lifecycle
    policy keeps in it for `days` out of `platform.object_storage_new_tb_per_month`."""

    name: text(100)
    tb: number(0, 1e9) = 0.0
    days: number(0, 36_500) = 0.0  # days each month's new data spends in this tier
    price: PlatformPrice  # per GB-month


class Logging(Section):
    gb_per_month: number(0, 1e12) = 0.0
    price: PlatformPrice = "gcp-cloud-logging"  # per GB


class FlatLine(Section):
    """A flat line: `count` items at `price` each per month (or per hour for an hourly key)."""

    count: whole(0, 10**9) = 1
    price: PlatformPrice = 0.0


class LlmApi(Section):
    """Hosted-LLM requests beside the GPU fleet (seed 003's OpenAI share)."""

    requests_per_user_per_month: number(0, 1e9) = 0.0  # per monthly active user
    share: Fraction = 1.0
    usd_per_request: number(0, 1e3) = 0.0


class Platform(Section):
    """The non-GPU stack, sized from users: pods, nodes, database, cache, search, CDN, ..."""

    total_users: positive(MAX_PLATFORM_USERS) | None = None  # default: concurrent_users
    monthly_active_users: positive(MAX_PLATFORM_USERS) | None = None  # default: total_users
    concurrent_users: positive(MAX_PLATFORM_USERS)
    requests_per_user_per_minute: number(0, 1e6) = 3.0
    mean_over_peak: number(0, 1, low_open=True) = 1.0  # the mean fleet over the peak-sized one
    requests_per_day: positive(1e16) | None = None  # default: the peak rate x mean_over_peak
    backend: PodTier | None = None
    frontend: PodTier | None = None
    nodes: Nodes = Nodes()
    database: Database | None = None
    cache: Clusters | None = None
    search: Clusters | None = None
    cdn: Cdn | None = None
    api_egress: ApiEgress | None = None
    object_storage: list[StorageTier] = []
    object_storage_new_tb_per_month: number(0, 1e9) = 0.0  # written, then moved by lifecycle
    logging: Logging | None = None
    ddos: FlatLine | None = None
    kubernetes: FlatLine | None = None
    llm_api: LlmApi | None = None
    growth_total_users: list[positive(MAX_PLATFORM_USERS)] = []  # a projection, one per period
    growth_period: Literal["month", "year"] = "year"


# ---------------------------------------------------------------- levers
# Seed 002's cost levers that split the request stream: a response cache answers
# some requests without a GPU, a batch share goes to a hosted batch API, a routing
# share to a smaller model (a hosted API or a second fleet). Token levers
# (requests.prompt_compression, requests.max_output_tokens), quantization
# (model.bytes_per_param) and reserved capacity (pricing.reserved_replicas) are keys
# of their own sections. Every default keeps the stream whole.


class Cache(Section):
    """A response cache in front of the fleet (seed 002, "Strategy C: Caching")."""

    hit_rate: Fraction = 0.0  # without ttl: each request's chance to be answered from cache
    # With distinct_prompts: an entry expires this long after the miss that stored it.
    ttl: PositiveDurationS | None = None
    distinct_prompts: whole(1, 10**9) | None = None  # the cacheable prompts a hit_rate share repeat
    latency: DurationS = 0.005  # a hit's response time (a Redis GET in the same region)
    size_gb: positive(1e6) | None = None  # stored; default from distinct_prompts, at least 1 GB
    cache: Name = "elasticache-serverless"  # the catalog's cache price row

    @model_validator(mode="after")
    def _ttl_needs_keys(self) -> Cache:
        if (self.ttl is None) != (self.distinct_prompts is None):
            raise ValueError(
                "levers.cache.ttl and levers.cache.distinct_prompts go together: a TTL "
                "expires entries of a known set of prompts"
            )
        return self


class Batch(Section):
    """A share of requests sent to a hosted batch API (seed 002, "Strategy E")."""

    share: Fraction = 0.0  # of the requests the cache does not answer
    delay: PositiveDurationS = 86400.0  # results within this window (OpenAI's batch: 24 h)
    api: Name = "api"  # "api": the [api] section's token prices; else a catalog API row


class Routing(Section):
    """A share of requests sent to a smaller model: a hosted API or a second fleet."""

    share: Fraction = 0.0  # of the real-time requests the cache does not answer
    to: Literal["api", "fleet"] = "api"
    api: Name = "gpt-4o-mini"  # the catalog's API price row (to = "api")
    input_usd_per_1k_tokens: UsdPerUnit | None = None  # overrides the catalog row
    output_usd_per_1k_tokens: UsdPerUnit | None = None
    ttft: DurationS = 0.5  # to = "api": time to the first token (capsim's assumption)
    output_tokens_per_s: positive(1e6) = 80.0  # to = "api": streaming speed (assumption)
    model: Model | None = None  # to = "fleet": the small model (default: the scenario's)
    gpu: Name | None = None  # to = "fleet": its GPU (default: fleet.gpu)
    replicas: whole(1, MAX_REPLICAS, REPLICAS_WHY) = 1  # to = "fleet": a fixed fleet
    latency: DistSpec | None = None  # to = "fleet" under service.model = "latency"

    @model_validator(mode="after")
    def _fleet_keys(self) -> Routing:
        fleet_only = ("model", "gpu", "latency")
        if self.to == "api" and any(getattr(self, k) is not None for k in fleet_only):
            raise ValueError(
                "levers.routing.model, gpu and latency describe a second fleet: "
                'they need levers.routing.to = "fleet"'
            )
        return self


class Levers(Section):
    cache: Cache = Cache()
    batch: Batch = Batch()
    routing: Routing = Routing()

    @property
    def splits(self) -> bool:
        """True if any request leaves the main fleet's stream."""
        return bool(self.cache.hit_rate or self.batch.share or self.routing.share)


class Scenario(Section):
    name: Name = "scenario"
    description: Description = ""
    horizon: PositiveDurationS = SECONDS_PER_DAY
    replications: whole(1, 1_000_000) = 20
    seed: whole(0, 2**63 - 1) = 42  # TOML's largest integer
    traffic: Traffic
    requests: Requests = Requests()
    model: Model = Model()
    service: Service
    fleet: Fleet = Fleet()
    batching: Batching = Batching()
    admission: Admission = Admission()
    autoscaling: Autoscaling = Autoscaling()
    spot: Spot = Spot()
    slo: Slo = Slo()
    budget: Budget = Budget()
    pricing: Pricing = Pricing()
    api: Api = Api()
    storage: Storage = Storage()
    growth: Growth = Growth()
    platform: Platform | None = None
    levers: Levers = Levers()

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        growth = self.traffic.growth_per_day
        if growth > 0 and self.horizon / SECONDS_PER_DAY * math.log1p(growth) > math.log(
            MAX_GROWTH_FACTOR
        ):
            days = self.horizon / SECONDS_PER_DAY
            raise ValueError(
                f"traffic.growth_per_day = {growth:g} over a {days:g}-day horizon grows the "
                f"traffic more than {MAX_GROWTH_FACTOR:g}-fold; lower one of them"
            )
        per_token = plugins.BATCHING[self.batching.policy].per_token_steps
        if per_token and not plugins.SERVICE_MODELS[self.service.model].token_timing:
            raise ValueError(
                "continuous batching runs per-token steps and needs service.model = 'roofline'; "
                "with a per-request latency use batching.policy = 'none' or 'static'"
            )
        if self.traffic.closed_loop:
            if self.admission.max_queue is not None:
                raise ValueError(
                    "admission.max_queue: closed-loop clients (traffic.arrival = 'closed') "
                    "hold at most traffic.concurrency requests, so the line is bounded "
                    "already; remove max_queue"
                )
            if self.autoscaling.policy == "predictive":
                raise ValueError(
                    "autoscaling.policy = 'predictive' forecasts an open stream's rate "
                    "profile; closed-loop clients (traffic.arrival = 'closed') have none: "
                    "use 'target-tracking' or 'queue-depth'"
                )
            if self.levers.splits:
                raise ValueError(
                    "levers: a cache, batch or routing share splits an open stream of "
                    "requests; closed-loop clients (traffic.arrival = 'closed') wait for "
                    "each reply: remove the [levers] shares or use open arrivals"
                )
        if not plugins.AUTOSCALING[self.autoscaling.policy].scales:
            if self.fleet.replicas < 1:
                raise ValueError("a fixed fleet needs fleet.replicas >= 1")
            return self
        if not (
            self.autoscaling.min_replicas <= self.fleet.replicas <= self.autoscaling.max_replicas
        ):
            raise ValueError(
                f"fleet.replicas ({self.fleet.replicas}) must lie within autoscaling "
                f"min_replicas..max_replicas ({self.autoscaling.min_replicas}.."
                f"{self.autoscaling.max_replicas})"
            )
        return self
