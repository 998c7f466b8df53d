"""`capsim levers`: each of seed 002's cost levers alone and all together, on the same seeds.

A lever is a set of scenario settings (`--set` keys). A setting the scenario defines
is used as written; the others get the defaults below, which the table names. A
fixed fleet cannot shed load by itself, so a lever that changes the GPU work is run
with the fleet re-sized by the BOTEC: replicas x (the variant's GPU work at the peak
/ the baseline's), rounded up. Autoscaled fleets follow their load unaided.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distributions.traffic import rate_profile
from sim.baseline.lever_botec import lever_botec
from sim.errors import CapsimError
from sim.fleet.compiled_fleet import runs_compiled
from sim.montecarlo.compare import policy_row
from sim.montecarlo.executors import Executor
from sim.montecarlo.policy_runs import PolicyRun, run_policies
from sim.montecarlo.results import ReplicationResult
from sim.scenario import plugins
from sim.scenario.catalog import find_price, load_catalog
from sim.scenario.file import validate_scenario
from sim.scenario.schema import Levers, Scenario

# Defaults for lever settings the scenario does not give (named in the table).
DEFAULT_HIT_RATE = 0.4  # seed 002's TechCorp: "caching (reduces API calls by 40%)"
DEFAULT_PROMPT_COMPRESSION = 0.3  # seed 002: "Optimize prompts (medium, 20-30% savings)"
DEFAULT_MAX_OUTPUT_TOKENS = 256  # seed 002, Strategy D: max_tokens=256
DEFAULT_BATCH_SHARE = 0.3  # seed 002's TechCorp: "Batch process ... (30% of traffic)"
DEFAULT_ROUTING_SHARE = 0.7  # seed 002, Strategy A: 70% of requests to the cheaper model
DEFAULT_SMALL_API = "gpt-4o-mini"  # a catalog API row of a small model
RESERVED_DISCOUNT = 0.375  # the catalog's 1-year reserved estimate (on-demand x 0.625)

QUANTIZATION_CAVEAT = (
    "quality is not modelled: check the quantized model's accuracy on your task "
    "(the seed calls 4-bit's impact acceptable for most)"
)


@dataclass
class Lever:
    """One row of the table: the settings it changes, and what seed 002 claims for it."""

    name: str
    settings: dict[str, Any]
    defaults: list[str] = field(default_factory=list)  # settings capsim chose, not the scenario
    seed_claim: str = ""
    note: str = ""
    skipped: str | None = None  # why the lever is not run on this scenario
    resize: bool = True  # re-size a fixed fleet by the BOTEC's GPU work


def _given(scenario: Scenario, section: str, key: str) -> bool:
    part = getattr(scenario.levers, section)
    return key in part.model_fields_set


def _token_lever_skip(scenario: Scenario) -> str | None:
    if plugins.SERVICE_MODELS[scenario.service.model].takes_latency and not scenario.api.use:
        return (
            "no effect here: service.model = latency gives each request's time whatever its "
            "tokens, and no API bills tokens (api.use = false)"
        )
    return None


def levers_of(scenario: Scenario, fast: bool = False) -> list[Lever]:
    """Every lever for this scenario, with its settings and defaults, or why it is skipped."""
    levers = scenario.levers
    out: list[Lever] = []

    cache = {f"levers.cache.{k}": v for k, v in levers.cache.model_dump().items()}
    defaults = []
    if not levers.cache.hit_rate:
        cache["levers.cache.hit_rate"] = DEFAULT_HIT_RATE
        defaults.append(f"hit_rate {DEFAULT_HIT_RATE:g}")
    out.append(
        Lever(
            "cache",
            {k: v for k, v in cache.items() if v is not None},
            defaults,
            "40-60% (its checklist); 99% in its 100-users example",
        )
    )

    compression = scenario.requests.prompt_compression or DEFAULT_PROMPT_COMPRESSION
    out.append(
        Lever(
            "prompt compression",
            {"requests.prompt_compression": compression},
            [] if scenario.requests.prompt_compression else [f"{compression:g} of prompt tokens"],
            "20-30% (its checklist); 94% fewer prompt tokens in its example",
            skipped=_token_lever_skip(scenario),
        )
    )
    cap = scenario.requests.max_output_tokens or DEFAULT_MAX_OUTPUT_TOKENS
    out.append(
        Lever(
            "max_tokens cap",
            {"requests.max_output_tokens": cap},
            [] if scenario.requests.max_output_tokens else [f"max_output_tokens {cap}"],
            "87% (2000 -> 256 output tokens)",
            skipped=_token_lever_skip(scenario),
        )
    )

    share = levers.batch.share or DEFAULT_BATCH_SHARE
    batch_api = levers.batch.api
    defaults = [] if levers.batch.share else [f"share {share:g}"]
    if not levers.batch.share and not scenario.api.use and batch_api == "api":
        batch_api = DEFAULT_SMALL_API
        defaults.append(f"batch API {batch_api} (the scenario uses no API)")
    out.append(
        Lever(
            "batch API",
            {
                "levers.batch.share": share,
                "levers.batch.api": batch_api,
                "levers.batch.delay": levers.batch.delay,
            },
            defaults,
            "30% (its checklist); 50% lower per token, results within hours",
            note=f"batch results within {levers.batch.delay / 3600:g} h",
        )
    )

    routing = {f"levers.routing.{k}": v for k, v in levers.routing.model_dump().items()}
    defaults = []
    if not levers.routing.share:
        routing = {
            "levers.routing.share": DEFAULT_ROUTING_SHARE,
            "levers.routing.to": "api",
            "levers.routing.api": DEFAULT_SMALL_API,
        }
        defaults.append(f"{DEFAULT_ROUTING_SHARE:.0%} to {DEFAULT_SMALL_API}")
    out.append(
        Lever(
            "model routing",
            {k: v for k, v in routing.items() if v is not None},
            defaults,
            "75% (70% GPT-3.5 / 30% GPT-4; its own prices give 68.5%)",
        )
    )

    for bytes_per_param, label, claim in ((1.0, "int8", ""), (0.5, "int4", "75% (4-bit)")):
        skip = None
        if plugins.SERVICE_MODELS[scenario.service.model].takes_latency:
            skip = "no effect here: service.model = latency does not derive time from the weights"
        elif scenario.model.bytes_per_param <= bytes_per_param:
            skip = f"the model is already at {scenario.model.bytes_per_param:g} bytes/param"
        settings: dict[str, Any] = {"model.bytes_per_param": bytes_per_param}
        ratio = bytes_per_param / scenario.model.bytes_per_param
        gpus = scenario.fleet.gpus_per_replica
        if gpus > 1:
            settings["fleet.gpus_per_replica"] = max(1, math.ceil(gpus * ratio))
        out.append(
            Lever(
                f"quantization {label}",
                settings,
                [f"{bytes_per_param:g} bytes/param"],
                claim,
                note=QUANTIZATION_CAVEAT,
                skipped=skip,
            )
        )

    out.append(_reserved(scenario))
    out.append(_scheduled(scenario))
    out.append(_autoscaled(scenario))
    out.append(_spot(scenario, fast))
    out.append(_right_size(scenario))
    return out


def _reserved(scenario: Scenario) -> Lever:
    fixed = not plugins.AUTOSCALING[scenario.autoscaling.policy].scales
    base = scenario.fleet.replicas if fixed else scenario.autoscaling.min_replicas
    # The replicas run on the reserved market: the commitment covers `base` of them, and
    # any beyond it bill on demand (sim.money.billing.replica_cost_usd).
    settings: dict[str, Any] = {"fleet.market": "reserved", "pricing.reserved_replicas": base}
    defaults = [f"{base} reserved (the {'fleet' if fixed else 'min_replicas'})"]
    fleet = scenario.fleet
    if scenario.pricing.reserved_usd_per_hour is None:
        try:
            find_price(fleet.gpu, fleet.provider, "reserved")
        except CapsimError:
            on_demand = scenario.pricing.gpu_usd_per_hour
            if on_demand is None:
                on_demand = find_price(fleet.gpu, fleet.provider, "on-demand").usd_per_gpu_hour
            settings["pricing.reserved_usd_per_hour"] = round(
                on_demand * (1 - RESERVED_DISCOUNT), 6
            )
            defaults.append(f"reserved at on-demand x {1 - RESERVED_DISCOUNT:g} (catalog estimate)")
    skip = "the fleet is serverless" if plugins.MARKETS[fleet.market].containers else None
    return Lever(
        "reserved base", settings, defaults, "20-30% (its checklist)", skipped=skip, resize=False
    )


def _scheduled(scenario: Scenario) -> Lever:
    autoscaling = scenario.autoscaling
    if plugins.AUTOSCALING[autoscaling.policy].needs_schedule:
        return Lever("scheduled scaling", {}, skipped="the baseline is already scheduled")
    schedule = [list(item) for item in autoscaling.schedule]
    defaults = ["the scenario's autoscaling.schedule"]
    if not schedule:
        if scenario.traffic.profile == "trace":
            return Lever("scheduled scaling", {}, skipped="a replayed trace has no daily profile")
        schedule = hourly_schedule(scenario)
        defaults = ["hourly schedule from the profile, the fleet at the peak hour"]
    low = min(r for _, r in schedule)
    high = max(r for _, r in schedule)
    settings = {
        "autoscaling.policy": "scheduled",
        "autoscaling.schedule": schedule,
        "autoscaling.min_replicas": min(low, autoscaling.min_replicas),
        "autoscaling.max_replicas": max(high, autoscaling.max_replicas),
    }
    return Lever(
        "scheduled scaling",
        settings,
        defaults,
        "60% if 60% off-peak",
        resize=False,
    )


def hourly_schedule(scenario: Scenario) -> list[list[Any]]:
    """Replicas for each hour: the fleet scaled by the hour's highest rate over the day's."""
    profile = rate_profile(scenario.traffic)
    minutes = np.arange(0, 86400, 60.0)
    rate = np.asarray(profile.rate_per_s(minutes)).reshape(24, 60).max(axis=1)
    replicas = scenario.fleet.replicas
    per_hour = np.maximum(1, np.ceil(replicas * rate / rate.max() - 1e-9)).astype(int)
    return [[f"{h:02d}:00", int(n)] for h, n in enumerate(per_hour)]


def _autoscaled(scenario: Scenario) -> Lever:
    if scenario.autoscaling.policy != "fixed":
        return Lever(
            "auto-scaling",
            {},
            skipped=f"the baseline already scales ({scenario.autoscaling.policy})",
        )
    replicas = scenario.fleet.replicas
    settings = {
        "autoscaling.policy": "target-tracking",
        "autoscaling.min_replicas": 1,
        "autoscaling.max_replicas": max(2 * replicas, 2),
    }
    return Lever(
        "auto-scaling",
        settings,
        ["target tracking, 1 to 2x the fleet"],
        "49% (10 -> an average of 5 instances)",
        resize=False,
    )


def _spot(scenario: Scenario, fast: bool = False) -> Lever:
    lever = Lever(
        "spot",
        {"fleet.market": "spot"},
        [],
        "69% ($0.17 vs $0.55/h); not for customer-facing chat",
        resize=False,
    )
    try:
        variant = apply(scenario, lever.settings)
    except CapsimError as exc:
        lever.skipped = str(exc)
        return lever
    if not fast and not runs_compiled(variant):
        lever.skipped = (
            "spot markets run on the SimPy engine, too slow for this table: "
            f"capsim run {scenario.name} --set fleet.market=spot"
        )
    return lever


def _right_size(scenario: Scenario) -> Lever:
    """The catalog GPU of the fleet's provider whose BOTEC month is cheapest."""
    best: tuple[float, str] | None = None
    roofline = plugins.SERVICE_MODELS[scenario.service.model].from_hardware
    for gpu in load_catalog().gpus.values():
        room = gpu.memory_bytes * scenario.fleet.gpus_per_replica
        if roofline and room < 1.2 * scenario.model.weight_bytes:
            continue  # the weights and a little KV cache must fit
        try:
            variant = apply(scenario, {"fleet.gpu": gpu.name, "pricing.gpu_usd_per_hour": None})
            month = lever_botec(variant)["total_usd_per_month"]
        except CapsimError:
            continue
        if math.isfinite(month) and (best is None or month < best[0]):
            best = (month, gpu.name)
    lever = Lever("right-size GPU", {}, [], "88% (a 4-GPU box at 20% -> 1 GPU at 80%)")
    if best is None or best[1] == scenario.fleet.gpu:
        lever.skipped = f"{scenario.fleet.gpu} is already the BOTEC's cheapest GPU"
        return lever
    lever.settings = {"fleet.gpu": best[1], "pricing.gpu_usd_per_hour": None}
    lever.defaults = [f"{best[1]}, the BOTEC's cheapest"]
    if plugins.SERVICE_MODELS[scenario.service.model].takes_latency:
        lever.note = "under a given latency the GPU changes only the price"
    return lever


def apply(scenario: Scenario, settings: dict[str, Any], name: str | None = None) -> Scenario:
    """The scenario with dotted-key settings replaced, validated like a file."""
    data = scenario.model_dump(mode="python")
    for key, value in settings.items():
        *path, last = key.split(".")
        node = data
        for part in path:
            node = node[part]
        node[last] = value
    return validate_scenario(data, source=f"{name or scenario.name} with {_describe(settings)}")


def _describe(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items() if v is not None) or "no change"


def baseline_of(scenario: Scenario) -> Scenario:
    """The scenario without the stream-splitting and token levers it may define."""
    data = scenario.model_dump(mode="python")
    data["levers"] = Levers().model_dump(mode="python")
    data["requests"]["prompt_compression"] = 0.0
    data["requests"]["max_output_tokens"] = None
    return validate_scenario(data, source=f"{scenario.name} without levers")


def resized(base: Scenario, variant: Scenario) -> Scenario:
    """A fixed fleet re-sized by the BOTEC's GPU work at the peak, variant over base."""
    if base.autoscaling.policy != "fixed" or variant.autoscaling.policy != "fixed":
        return variant
    base_work = lever_botec(base)["main_fleet_gpus_of_work_at_peak"]
    work = lever_botec(variant)["main_fleet_gpus_of_work_at_peak"]
    if not base_work > 0:
        return variant
    replicas = max(1, math.ceil(base.fleet.replicas * work / base_work - 1e-9))
    if replicas == variant.fleet.replicas:
        return variant
    settings: dict[str, Any] = {"fleet.replicas": replicas}
    if variant.pricing.reserved_replicas > replicas:
        settings["pricing.reserved_replicas"] = replicas
    return apply(variant, settings)


def variants_of(
    scenario: Scenario, fast: bool = False
) -> tuple[Scenario, list[tuple[Lever, Scenario]]]:
    """The baseline, and each runnable lever's scenario (`fast`: on the fast engine)."""
    base = baseline_of(scenario)
    runnable: list[tuple[Lever, Scenario]] = []
    for lever in levers_of(scenario, fast):
        if lever.skipped is not None:
            continue
        try:
            variant = apply(base, lever.settings, lever.name)
            variant = resized(base, variant) if lever.resize else variant
        except CapsimError as exc:
            lever.skipped = str(exc)
            continue
        runnable.append((lever, variant))
    return base, runnable


def together(base: Scenario, saving: list[Lever]) -> tuple[Lever, Scenario] | None:
    """Every combinable lever that saved alone, at once (None if none did)."""
    chosen = [lever for lever in saving if lever.name in ALL_TOGETHER]
    if not chosen:
        return None
    combined: dict[str, Any] = {}
    for lever in chosen:
        combined.update(lever.settings)
    lever = Lever(
        "all together",
        combined,
        [lever.name for lever in chosen],
        "50%+ (its month 6+); TechCorp's 37%",
        note="the combinable levers that saved alone: " + ", ".join(lv.name for lv in chosen),
    )
    return lever, resized(base, apply(base, combined, "all together"))


# The levers "all together" may combine (those of them that saved alone): the demand
# levers, quantization and the reserved base (the market and policy levers compete with
# each other, so they stay alone).
ALL_TOGETHER = (
    "cache",
    "prompt compression",
    "max_tokens cap",
    "batch API",
    "model routing",
    "quantization int8",
    "quantization int4",
    "reserved base",
)


def lever_row(lever: Lever, run: PolicyRun, base: PolicyRun) -> dict[str, Any]:
    """One row: the policy_row figures, cost p99 too, the saving, the seed's claim."""
    row = policy_row(lever.name, run.summary)
    monthly = np.array([r.cost_usd["monthly_total"] for r in run.results])
    base_monthly = np.array([r.cost_usd["monthly_total"] for r in base.results])
    row["cost_monthly_usd_p99"] = float(np.percentile(monthly, 99))
    p50, base_p50 = row["cost_monthly_usd_p50"], float(np.percentile(base_monthly, 50))
    row["saving_fraction"] = 1.0 - p50 / base_p50 if base_p50 > 0 else math.nan
    botec_month = lever_botec(run.scenario)["total_usd_per_month"]
    base_botec = lever_botec(base.scenario)["total_usd_per_month"]
    row["botec_monthly_usd"] = botec_month
    row["botec_saving_fraction"] = 1.0 - botec_month / base_botec if base_botec > 0 else math.nan
    row["settings"] = {k: v for k, v in lever.settings.items() if v is not None}
    row["replicas_setting"] = run.scenario.fleet.replicas
    row["defaults"] = lever.defaults
    row["seed_claim"] = lever.seed_claim
    row["note"] = lever.note
    row["direction"] = _direction(lever, row, run, base)
    return row


def _direction(lever: Lever, row: dict[str, Any], run: PolicyRun, base: PolicyRun) -> str:
    """Whether the lever saves, as the seed claims, and if not, why (from the figures)."""
    if lever.name == "baseline":
        return ""
    if row["saving_fraction"] > 0:
        return "saves, as the seed claims"
    monthly_lines = run.summary["cost_usd"]["lines_monthly"]
    side = [k for k in ("cache", "batch_api_tokens", "routed_api_tokens") if k in monthly_lines]
    why = "the fleet it frees costs less than what the lever adds"
    if lever.name == "reserved base":
        why = "the commitment bills every hour, also hours its replicas are not up"
    elif lever.name in ("scheduled scaling", "auto-scaling"):
        why = "the fleet it runs is no smaller on average than the baseline's"
        policy = base.scenario.autoscaling.policy
        if policy != "fixed":
            why = f"the baseline's {policy} already follows the load, and more closely"
    elif side:
        why = f"its {', '.join(side)} cost more than the GPU time it frees"
    elif lever.name.startswith("quantization") or lever.name.endswith("cap"):
        why = "the re-sized fleet is no smaller (the fleet rounds up to whole replicas)"
    return f"does not save: {why}"


@dataclass
class LeverRuns:
    """What `capsim levers` ran: the rows, each variant's full run, the levers skipped."""

    rows: list[dict[str, Any]]
    runs: list[PolicyRun]
    skipped: dict[str, str]
    notes: dict[str, str]


def run_levers(
    scenario: Scenario,
    workers: int = 1,
    executor: Executor | None = None,
    runner: Callable[[Scenario], list[ReplicationResult]] | None = None,
) -> LeverRuns:
    """The baseline and every runnable lever, on the same seeds, one row each."""
    if runner is not None:  # the fast engine runs the main fleet on thinned traffic
        runner = fast_lever_runner(runner)
    base, runnable = variants_of(scenario, fast=runner is not None)
    skipped = {lv.name: lv.skipped for lv in levers_of(scenario, runner is not None) if lv.skipped}
    for lever, _ in runnable:
        skipped.pop(lever.name, None)
    variants = [("baseline", base)] + [(lever.name, variant) for lever, variant in runnable]
    runs = run_policies(variants, workers=workers, executor=executor, runner=runner)
    levers = [Lever("baseline", {})] + [lever for lever, _ in runnable]
    rows = [lever_row(lever, run, runs[0]) for lever, run in zip(levers, runs, strict=True)]
    saving = [lv for lv, row in zip(levers, rows, strict=True) if row["saving_fraction"] > 0]
    if "quantization int4" in {lv.name for lv in saving}:  # int4 supersedes int8
        saving = [lv for lv in saving if lv.name != "quantization int8"]
    combined = together(base, saving)
    if combined is not None:
        lever, variant = combined
        runs += run_policies([(lever.name, variant)], workers, executor, runner)
        levers.append(lever)
        rows.append(lever_row(lever, runs[-1], runs[0]))
    notes = {lever.name: lever.note for lever in levers if lever.note}
    return LeverRuns(rows, runs, skipped, notes)


def thinned(scenario: Scenario) -> Scenario:
    """The scenario's main fleet alone: its traffic thinned to the main share, levers off.

    Independent coin flips thin a Poisson stream into a Poisson stream of the share's
    rate, so for the fleet this is exact; a TTL cache's hits are not independent, and
    its expected share is used.
    """
    share = lever_botec(scenario)["main_fleet_fraction"]
    data = scenario.model_dump(mode="python")
    data["levers"] = Levers().model_dump(mode="python")
    traffic = data["traffic"]
    if traffic["profile"] == "trace":
        traffic["trace"]["rate_scale"] *= share
    else:
        key = next(
            k
            for k in ("rate_per_s", "requests_per_day", "daily_active_users")
            if traffic[k] is not None
        )
        traffic[key] *= share
    return validate_scenario(data, source=f"{scenario.name}, main fleet share {share:.3g}")


# The exact engine's bill lines for the parts the fast engine adds at their BOTEC values.
SIDE_LINES = {
    "cache": "cache",
    "routed_api": "routed_api_tokens",
    "batch_api": "batch_api_tokens",
    "routed_fleet": "routed_fleet",
}


def with_side_bills(scenario: Scenario, result: ReplicationResult) -> ReplicationResult:
    """A fast run of the thinned fleet with the levers' other parts added at their BOTEC
    values: their bills (cache, routed API or fleet, batch API) and their requests,
    counted completed (the fast engine has no per-request log to merge)."""
    figures = lever_botec(scenario)
    month_s = 30 * 86400.0
    scale = scenario.horizon / month_s
    for key, value in figures.items():
        if key.endswith("_usd_per_month") and key not in (
            "gpu_fleet_usd_per_month",
            "total_usd_per_month",
        ):
            line = SIDE_LINES.get(key.removesuffix("_usd_per_month"), key)
            result.cost_usd[f"horizon_{line}"] = value * scale
            result.cost_usd[f"monthly_{line}"] = value
            result.cost_usd["horizon_total"] += value * scale
            result.cost_usd["monthly_total"] += value
    main = result.requests["arrived"]
    share = figures["main_fleet_fraction"]
    side = round(main * (1 - share) / share) if share > 0 else 0
    result.requests["arrived"] += side
    result.requests["completed"] += side
    completed = result.requests["completed"]
    result.cost_usd["per_request"] = result.cost_usd["horizon_total"] / completed
    result.cost_usd["per_1k_requests"] = 1000 * result.cost_usd["per_request"]
    return result


def fast_lever_runner(
    runner: Callable[[Scenario], list[ReplicationResult]],
) -> Callable[[Scenario], list[ReplicationResult]]:
    """The fast engine's runner for lever variants: the thinned fleet, plus side bills."""

    def run(variant: Scenario) -> list[ReplicationResult]:
        if not variant.levers.splits:
            return runner(variant)
        return [with_side_bills(variant, r) for r in runner(thinned(variant))]

    return run
