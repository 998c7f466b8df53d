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

ROUTERS = ("least-loaded", "round-robin", "random", "shared-queue")
MARKETS = ("on-demand", "spot", "reserved", "serverless")
AUTOSCALING_POLICIES = (
    "fixed",
    "target-tracking",
    "queue-depth",
    "scheduled",
    "predictive",
    "serverless",
)


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
    arrival: Literal["poisson", "gamma", "trace"] = "poisson"
    cv: CV = 1.0
    trace: TraceSpec | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Traffic:
        volume = [
            self.rate_per_s is not None,
            self.requests_per_day is not None,
            self.daily_active_users is not None or self.requests_per_user_per_day is not None,
        ]
        uses_trace = self.profile == "trace" or self.arrival == "trace"
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

    @property
    def weight_bytes(self) -> float:
        return self.parameters * self.bytes_per_param


class Service(Section):
    model: Literal["roofline", "latency"]
    latency: DistSpec | None = None
    batch_overhead: number(0, 100) = 0.0
    batch_overhead_at: whole(2, MAX_BATCH) | None = None  # default: max_batch
    mfu: number(0.001, 1, why="the share of peak FLOP/s a step achieves") = 0.5
    mbu: number(0.001, 1, why="the share of peak memory bandwidth a step achieves") = 0.77
    step_overhead: DurationS = 0.0  # fixed scheduler/launch cost per batch or decode step

    @model_validator(mode="after")
    def _latency_given(self) -> Service:
        if self.model == "latency" and self.latency is None:
            raise ValueError("service model 'latency' needs a latency distribution")
        return self


# ---------------------------------------------------------------- fleet


class Fleet(Section):
    gpu: Name = "A100-80GB"
    gpus_per_replica: whole(1, 1024, "one model instance across over 14 NVL72 racks of 72 GPUs") = 1
    provider: Name = "aws"
    market: Literal["on-demand", "spot", "reserved", "serverless"] = "on-demand"
    spot_fraction: Fraction | None = None
    replicas: whole(0, MAX_REPLICAS, REPLICAS_WHY) = 1  # fixed size, or the starting size
    router: Literal["least-loaded", "round-robin", "random", "shared-queue"] = "least-loaded"

    @property
    def uses_spot(self) -> bool:
        """True if any replica may be bought on the spot market."""
        return self.market == "spot" or bool(self.spot_fraction)


class Batching(Section):
    policy: Literal["none", "static", "continuous"] = "none"
    max_batch: whole(1, MAX_BATCH, BATCH_WHY) = 1
    max_wait: DurationS = 0.0

    @model_validator(mode="after")
    def _batch_size(self) -> Batching:
        if self.policy == "none" and self.max_batch != 1:
            raise ValueError("batching policy 'none' serves one request at a time: max_batch = 1")
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
    policy: Literal[
        "fixed", "target-tracking", "queue-depth", "scheduled", "predictive", "serverless"
    ] = "fixed"
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
        if self.policy == "serverless":
            return LogNormal(dist="lognormal", mean=10.0, cv=0.5)
        return LogNormal(dist="lognormal", mean=180.0, cv=0.3)

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.max_replicas < self.min_replicas:
            raise ValueError(
                f"max_replicas ({self.max_replicas}) is below min_replicas ({self.min_replicas})"
            )
        if self.policy == "scheduled" and not self.schedule:
            raise ValueError("policy 'scheduled' needs schedule = [[time, replicas], ...]")
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
        if self.service.model == "latency" and self.batching.policy == "continuous":
            raise ValueError(
                "continuous batching runs per-token steps and needs service.model = 'roofline'; "
                "with a per-request latency use batching.policy = 'none' or 'static'"
            )
        if self.autoscaling.policy == "fixed":
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
