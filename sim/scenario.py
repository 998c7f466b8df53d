"""The scenario schema: one validated, immutable description of a deployment.

Every key has a documented default except what defines the workload (traffic
volume and the service model). Durations are seconds after validation.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    model_validator,
)

from distributions.profiles import MAX_DIURNAL_PEAK_TO_MEAN
from sim.units import SECONDS_PER_DAY, parse_duration_s, parse_time_of_day_s


def at_most(limit: float, why: str) -> AfterValidator:
    """A bound on a value that would be absurd (and could not be simulated) above it."""

    def check(value: float) -> float:
        if value > limit:
            shown = f"{int(limit):,}" if float(limit).is_integer() else f"{limit:g}"
            raise ValueError(f"must be at most {shown}: {why}")
        return value

    return AfterValidator(check)


# Bounds on sizes beyond any real deployment; each would exhaust memory or time first.
MAX_REPLICAS = 1_000_000  # more replicas than any GPU cluster holds
MAX_GPUS_PER_REPLICA = 1024
MAX_BATCH = 65_536
# One reclaim a minute per replica: real spot markets reclaim GPUs well under once
# an hour (the catalog's rates are 3e-4 to 4e-3 per hour).
MAX_INTERRUPTIONS_PER_HOUR = 60.0
Replicas = Annotated[
    int, at_most(MAX_REPLICAS, "more replicas than any GPU cluster in existence holds")
]
BatchSlots = Annotated[
    int,
    at_most(MAX_BATCH, "no serving engine runs more requests at once (vLLM's default is 256)"),
]

DurationS = Annotated[float, BeforeValidator(parse_duration_s), Field(ge=0)]
PositiveDurationS = Annotated[float, BeforeValidator(parse_duration_s), Field(gt=0)]
TimeOfDayS = Annotated[float, BeforeValidator(parse_time_of_day_s), Field(ge=0)]

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
    value: Annotated[float, Field(ge=0)]


class Exponential(Section):
    dist: Literal["exponential"]
    mean: PositiveFloat


class LogNormal(Section):
    dist: Literal["lognormal"]
    mean: PositiveFloat
    cv: Annotated[float, Field(gt=0)]


class Gamma(Section):
    dist: Literal["gamma"]
    mean: PositiveFloat
    cv: Annotated[float, Field(gt=0)]


class Uniform(Section):
    dist: Literal["uniform"]
    low: Annotated[float, Field(ge=0)]
    high: Annotated[float, Field(ge=0)]

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"uniform needs low <= high, got low={self.low}, high={self.high}")
        return self


class Empirical(Section):
    """Values with weights, or a CDF table file (columns: value, cdf)."""

    dist: Literal["empirical"]
    values: list[Annotated[float, Field(ge=0)]] | None = None
    weights: list[Annotated[float, Field(ge=0)]] | None = None
    file: str | None = None
    column: str | None = None  # sample a column of a CSV file (e.g. a trace's token counts)

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
    multiplier: PositiveFloat
    day: Annotated[int, Field(ge=0)] | None = None  # None: every day


class TraceSpec(Section):
    file: str
    timestamp_column: str = "TIMESTAMP"
    prompt_column: str | None = "ContextTokens"
    output_column: str | None = "GeneratedTokens"
    time_scale: PositiveFloat = 1.0  # stretch the trace's time axis by this factor
    rate_scale: PositiveFloat = 1.0  # multiply the request rate (thins or replicates requests)
    loop: bool = True  # repeat the trace to fill the horizon


class Traffic(Section):
    rate_per_s: PositiveFloat | None = None
    requests_per_day: PositiveFloat | None = None
    daily_active_users: PositiveFloat | None = None
    requests_per_user_per_day: PositiveFloat | None = None
    profile: Literal["constant", "diurnal", "hourly", "trace"] = "constant"
    peak_to_mean: Annotated[
        float,
        Field(ge=1),
        at_most(
            MAX_DIURNAL_PEAK_TO_MEAN,
            "the diurnal peak narrows as the ratio grows (about 2 h wide at half height "
            "at 10); model a sharper daily spike with hourly_weights or bursts",
        ),
    ] = 2.0
    peak_time: TimeOfDayS = 14 * 3600.0
    hourly_weights: list[Annotated[float, Field(ge=0)]] | None = None
    bursts: list[Burst] = []
    growth_per_day: Annotated[float, Field(gt=-1)] = 0.0
    arrival: Literal["poisson", "gamma", "trace"] = "poisson"
    cv: PositiveFloat = 1.0
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
    name: str
    share: PositiveFloat
    prompt_tokens: DistSpec | None = None  # None: the [requests] default
    output_tokens: DistSpec | None = None
    timeout: PositiveDurationS | None = None
    latency_slo_p99: PositiveDurationS | None = None


class Requests(Section):
    prompt_tokens: DistSpec = _fixed(250)
    output_tokens: DistSpec = _fixed(500)
    max_context_tokens: PositiveInt = 8192
    request_bytes: Annotated[float, Field(ge=0)] = 2000
    response_bytes: Annotated[float, Field(ge=0)] = 10000
    classes: list[RequestClass] = []

    @model_validator(mode="after")
    def _unique_classes(self) -> Requests:
        names = [c.name for c in self.classes]
        if len(set(names)) != len(names):
            raise ValueError(f"request class names must be unique, got {names}")
        return self


# ---------------------------------------------------------------- model and service


class Model(Section):
    name: str = "model"
    parameters: PositiveFloat = 7e9
    bytes_per_param: PositiveFloat = 2.0
    layers: PositiveInt | None = None
    hidden_size: PositiveInt | None = None
    kv_heads: PositiveInt | None = None
    head_dim: PositiveInt | None = None
    kv_bytes_per_token: PositiveFloat | None = None  # overrides the architecture estimate
    kv_bytes_per_element: PositiveFloat = 2.0

    @property
    def weight_bytes(self) -> float:
        return self.parameters * self.bytes_per_param


class Service(Section):
    model: Literal["roofline", "latency"]
    latency: DistSpec | None = None
    batch_overhead: Annotated[float, Field(ge=0)] = 0.0
    batch_overhead_at: Annotated[int, Field(ge=2)] | None = None  # default: max_batch
    mfu: Annotated[float, Field(gt=0, le=1)] = 0.5
    mbu: Annotated[float, Field(gt=0, le=1)] = 0.77
    step_overhead: DurationS = 0.0  # fixed scheduler/launch cost per batch or decode step

    @model_validator(mode="after")
    def _latency_given(self) -> Service:
        if self.model == "latency" and self.latency is None:
            raise ValueError("service model 'latency' needs a latency distribution")
        return self


# ---------------------------------------------------------------- fleet


class Fleet(Section):
    gpu: str = "A100-80GB"
    gpus_per_replica: Annotated[
        PositiveInt,
        at_most(MAX_GPUS_PER_REPLICA, "one model instance across over 14 NVL72 racks of 72 GPUs"),
    ] = 1
    provider: str = "aws"
    market: Literal["on-demand", "spot", "reserved", "serverless"] = "on-demand"
    spot_fraction: Annotated[float, Field(ge=0, le=1)] | None = None
    replicas: Annotated[Replicas, Field(ge=0)] = 1  # fixed size, or the starting size
    router: Literal["least-loaded", "round-robin", "random", "shared-queue"] = "least-loaded"


class Batching(Section):
    policy: Literal["none", "static", "continuous"] = "none"
    max_batch: Annotated[BatchSlots, Field(gt=0)] = 1
    max_wait: DurationS = 0.0

    @model_validator(mode="after")
    def _batch_size(self) -> Batching:
        if self.policy == "none" and self.max_batch != 1:
            raise ValueError("batching policy 'none' serves one request at a time: max_batch = 1")
        return self


class Admission(Section):
    max_queue: PositiveInt | None = None  # waiting requests per replica; None: unbounded
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
    min_replicas: Annotated[Replicas, Field(ge=0)] = 1
    max_replicas: Annotated[Replicas, Field(gt=0)] = 1000
    # None: minutes for a dedicated replica, seconds for a serverless container
    # (see `Autoscaling.cold_start_dist`).
    cold_start: DistSpec | None = None
    metric: Literal["utilization", "in-flight"] = "utilization"
    target: PositiveFloat = 0.7
    tolerance: Annotated[float, Field(ge=0, lt=1)] = 0.1
    sync_period: PositiveDurationS = 15.0
    scale_up_stabilization: DurationS = 0.0
    scale_down_stabilization: DurationS = 300.0
    max_step_up: PositiveInt | None = None
    max_step_down: PositiveInt | None = None
    queue_per_replica: PositiveFloat = 5.0
    polling_interval: PositiveDurationS = 30.0
    cooldown: DurationS = 300.0
    schedule: Annotated[
        list[tuple[TimeOfDayS, Annotated[int, Field(ge=0)]]], BeforeValidator(_pairs_as_tuples)
    ] = []
    headroom: Annotated[float, Field(ge=0)] = 0.2
    concurrency_per_replica: Annotated[BatchSlots, Field(gt=0)] | None = None
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
        Annotated[
            float,
            Field(ge=0),
            at_most(
                MAX_INTERRUPTIONS_PER_HOUR,
                "a reclaim a minute per replica; real spot markets reclaim a GPU well under "
                "once an hour",
            ),
        ]
        | None
    ) = None
    notice: DurationS | None = None
    retry: bool = True
    capacity_shortage_probability: Annotated[float, Field(ge=0, le=1)] = 0.0


class Slo(Section):
    latency_p99: PositiveDurationS | None = None
    ttft_p99: PositiveDurationS | None = None


class Budget(Section):
    monthly_usd: PositiveFloat | None = None


class Pricing(Section):
    """Overrides of the catalog's prices and the billing rules."""

    gpu_usd_per_hour: PositiveFloat | None = None  # per GPU, replaces the catalog price
    serverless_usd_per_s: PositiveFloat | None = None  # per GPU-second
    spot_usd_per_hour: PositiveFloat | None = None
    reserved_usd_per_hour: PositiveFloat | None = None
    billing_granularity: PositiveDurationS = 1.0
    minimum_billed: DurationS = 60.0
    reserved_replicas: Annotated[int, Field(ge=0)] = 0
    storage_usd_per_gb_month: Annotated[float, Field(ge=0)] = 0.023
    egress_usd_per_gb: Annotated[float, Field(ge=0)] = 0.09
    ingress_usd_per_gb: Annotated[float, Field(ge=0)] = 0.0


class Api(Section):
    """A hosted model API: token prices, and whether this deployment uses it."""

    use: bool = False
    input_usd_per_1k_tokens: Annotated[float, Field(ge=0)] = 0.01
    output_usd_per_1k_tokens: Annotated[float, Field(ge=0)] = 0.03
    batch_discount: Annotated[float, Field(ge=0, le=1)] = 0.5
    batch_share: Annotated[float, Field(ge=0, le=1)] = 0.0
    rag_prompt_tokens: Annotated[float, Field(ge=0)] | None = None
    rag_output_tokens: Annotated[float, Field(ge=0)] | None = None


class Storage(Section):
    """User and interaction data kept beside the model (the seeds' storage lines)."""

    users: Annotated[float, Field(ge=0)] | None = None  # default: daily_active_users
    user_profile_bytes: Annotated[float, Field(ge=0)] = 0.0
    interaction_bytes: Annotated[float, Field(ge=0)] = 0.0
    index_overhead: Annotated[float, Field(ge=0)] = 0.25
    retention_days: Annotated[float, Field(ge=0)] = 30.0


class Growth(Section):
    """Month-by-month request volumes for a cost projection (seed 001)."""

    requests_per_day: list[PositiveFloat] = []
    batch_share: list[Annotated[float, Field(ge=0, le=1)]] = []


class Scenario(Section):
    name: str = "scenario"
    description: str = ""
    horizon: PositiveDurationS = SECONDS_PER_DAY
    replications: PositiveInt = 20
    seed: Annotated[int, Field(ge=0)] = 42
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

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
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
