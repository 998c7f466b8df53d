"""The deterministic back-of-the-envelope (BOTEC) baseline.

`botec(scenario)` redoes, exactly and in plain floats, the hand arithmetic of the
seed documents (seed 000: SmartPal storage, inference, bandwidth and hosted-API
cost; seed 001: RedAI serverless versus dedicated cost, utilisation, break-even,
batching and a growth projection), and beside the seeds' optimistic figures it
gives capsim's corrections (memory-bound decode, sizing at the peak, utilisation
below one). Nothing is rounded here; rounding is for display only.

The result is a JSON-ready dict of sections. Every numeric key carries its unit
in its name (`_s`, `_gb`, `_mbps`, `_usd_per_month`, `_fraction`, `gpus_...`).
Sections appear when the scenario's inputs allow them:

- always: `scenario`, `traffic`, `model`, `bandwidth`
- `storage` when storage.user_profile_bytes or storage.interaction_bytes is set
- `inference_seed` and `inference_roofline` when service.model = "roofline"
- `api` when api.use or api.rag_prompt_tokens is set
- `capacity`, `serverless`, `dedicated`, `comparison`, `scaling` and `growth` when
  service.model = "latency" and the prices they need are known; `batch` too when a
  batch is modelled (static batching with max_batch > 1, or service.batch_overhead_at);
  `capacity.idle_of_one_gpu_fraction` only when one GPU can carry the mean load
- `fleet_cost` when service.model = "roofline" and a GPU price is known
- `platform` when the scenario has a `[platform]` section (`sim.baseline.platform`)
- `levers` when a cache, batch or routing share splits the requests (`lever_botec.py`)
"""

from __future__ import annotations

import math
from typing import Any

from distributions.tokens import dist_mean_cv
from distributions.traffic import output_tokens_mean, prompt_tokens_mean
from sim.baseline.platform import platform_section
from sim.errors import CapsimError
from sim.scenario.catalog import find_price, gpu_spec
from sim.scenario.memory import kv_budget_bytes, kv_bytes_per_token
from sim.scenario.plugins import BATCHING, MARKETS, SERVICE_MODELS
from sim.scenario.schema import DistSpec, Scenario
from sim.scenario.units import SECONDS_PER_DAY

DAYS_PER_MONTH = 30.0  # the seeds' month
HOURS_PER_MONTH = 24.0 * DAYS_PER_MONTH  # 720 h
BYTES_PER_GB = 1e9  # decimal units throughout, as the seeds use
BYTES_PER_TB = 1e12
BITS_PER_MBIT = 1e6

# Volumes of seed 001's "Traffic Thresholds" and scaling figures, always tabulated.
SEED_SCALING_REQUESTS_PER_DAY = (500.0, 1000.0, 2500.0, 4500.0, 10000.0, 50000.0, 100000.0)


def dist_mean(spec: DistSpec) -> float:
    """The mean of a scenario distribution (exact, before any rounding to tokens)."""
    return dist_mean_cv(spec)[0]


def profile_peak_to_mean(scenario: Scenario) -> float:
    """The traffic profile's peak rate over its mean (bursts aside, as a BOTEC does)."""
    traffic = scenario.traffic
    if traffic.profile == "constant":
        return 1.0
    if traffic.profile == "hourly" and traffic.hourly_weights:
        weights = traffic.hourly_weights
        return max(weights) / (sum(weights) / len(weights))
    return traffic.peak_to_mean  # diurnal: exact by construction; trace: as the file states


def _trace_rate_per_s(scenario: Scenario) -> float:
    """Mean arrival rate of a replayed trace (requests over its span, scaled)."""
    import pandas as pd

    trace = scenario.traffic.trace
    if trace is None:
        return 0.0
    stamps = pd.read_csv(trace.file, usecols=[trace.timestamp_column])[trace.timestamp_column]
    if pd.api.types.is_numeric_dtype(stamps):
        span_s = float(stamps.max() - stamps.min())
    else:
        times = pd.to_datetime(stamps, format="mixed")
        span_s = (times.max() - times.min()).total_seconds()
    if span_s <= 0 or len(stamps) < 2:
        raise CapsimError(f"{trace.file}: the trace spans no time; cannot take its rate")
    return len(stamps) / (span_s * trace.time_scale) * trace.rate_scale


def _requests_per_day(scenario: Scenario) -> float:
    """Mean requests per day, computed from the given volume without a detour through rates."""
    traffic = scenario.traffic
    if traffic.closed_loop:  # the clients' throughput bound (Little's law)
        return _closed_loop(scenario)["throughput_bound_per_s"] * SECONDS_PER_DAY
    if traffic.requests_per_day is not None:
        return traffic.requests_per_day
    if traffic.daily_active_users is not None and traffic.requests_per_user_per_day is not None:
        return traffic.daily_active_users * traffic.requests_per_user_per_day
    rate = traffic.rate_per_s if traffic.rate_per_s is not None else _trace_rate_per_s(scenario)
    return rate * SECONDS_PER_DAY


def _closed_loop(scenario: Scenario) -> dict[str, Any]:
    """Closed-loop clients' throughput bound: min(N / (T + Z), the fleet's capacity)."""
    # Imported here: only a closed loop needs the engine's service model in the BOTEC.
    from sim.engine.service_time import build_service_model
    from sim.fleet.closed_loop_bound import closed_loop_bound

    bound = closed_loop_bound(scenario, build_service_model(scenario))
    return {
        "concurrency": bound.concurrency,
        "think_time_mean_s": bound.think_time_s,
        "request_time_alone_s": bound.request_time_s,
        "clients_bound_per_s": bound.clients_bound_per_s,
        "fleet_bound_per_s": bound.fleet_bound_per_s,
        "fleet_bound_replicas": bound.replicas,
        "throughput_bound_per_s": bound.throughput_per_s,
        "limited_by": bound.limited_by,
        "saturation_concurrency": bound.saturation_concurrency,
    }


def serverless_usd_per_s(scenario: Scenario) -> float | None:
    """Per GPU-second serverless price: the scenario's override, else the catalog's."""
    if scenario.pricing.serverless_usd_per_s is not None:
        return scenario.pricing.serverless_usd_per_s
    fleet = scenario.fleet
    try:
        return find_price(fleet.gpu, fleet.provider, "serverless").usd_per_gpu_second
    except CapsimError:
        return None


def dedicated_usd_per_gpu_hour(scenario: Scenario) -> float | None:
    """Per GPU-hour dedicated price: the scenario's override, else the catalog's."""
    if scenario.pricing.gpu_usd_per_hour is not None:
        return scenario.pricing.gpu_usd_per_hour
    fleet = scenario.fleet
    market = "on-demand" if MARKETS[fleet.market].containers else fleet.market
    try:
        return find_price(fleet.gpu, fleet.provider, market).usd_per_gpu_hour
    except CapsimError:
        return None


def replicas_below_full(work_gpus: float) -> int:
    """Fewest replicas that keep utilisation strictly below one for this much work."""
    return math.floor(work_gpus) + 1


def batch_stretch(batch: int, overhead: float, overhead_at: int) -> float:
    """How much longer a batch of `batch` takes than one request (the LatencyModel's rule)."""
    if batch <= 1:
        return 1.0
    return 1.0 + overhead * (batch - 1) / (overhead_at - 1)


# ---------------------------------------------------------------- sections


def _traffic(scenario: Scenario, requests_per_day: float) -> dict[str, Any]:
    peak_to_mean = profile_peak_to_mean(scenario)
    rate = requests_per_day / SECONDS_PER_DAY
    out: dict[str, Any] = {
        "requests_per_day": requests_per_day,
        "requests_per_month": requests_per_day * DAYS_PER_MONTH,
        "requests_per_s": rate,
        "peak_to_mean_ratio": peak_to_mean,
        "peak_requests_per_s": rate * peak_to_mean,
    }
    if SERVICE_MODELS[scenario.service.model].token_timing or scenario.api.use:
        out["prompt_tokens_mean"] = prompt_tokens_mean(scenario)
        out["output_tokens_mean"] = output_tokens_mean(scenario)
    return out


def _model(scenario: Scenario) -> dict[str, Any]:
    model = scenario.model
    gpu = gpu_spec(scenario.fleet.gpu)
    return {
        "parameters_count": model.parameters,
        "bytes_per_param": model.bytes_per_param,
        "model_storage_bytes": model.weight_bytes,
        "model_storage_gb": model.weight_bytes / BYTES_PER_GB,
        "gpu": gpu.name,
        "gpu_peak_flops_per_s": gpu.peak_flops_per_s,
        "gpu_memory_gb": gpu.memory_gb,
        "gpu_hbm_bandwidth_bytes_per_s": gpu.memory_bandwidth_bytes_per_s,
    }


def _storage(scenario: Scenario, requests_per_day: float) -> dict[str, Any]:
    storage = scenario.storage
    users = storage.users
    if users is None:
        users = scenario.traffic.daily_active_users or 0.0
    profiles_bytes = users * storage.user_profile_bytes
    raw_per_day = requests_per_day * storage.interaction_bytes
    index_per_day = raw_per_day * storage.index_overhead
    per_day = raw_per_day + index_per_day
    per_month = per_day * DAYS_PER_MONTH
    retained = per_day * storage.retention_days
    total = scenario.model.weight_bytes + profiles_bytes + retained
    return {
        "users_count": users,
        "user_profile_bytes": storage.user_profile_bytes,
        "user_profile_storage_tb": profiles_bytes / BYTES_PER_TB,
        "interaction_bytes": storage.interaction_bytes,
        "interaction_raw_tb_per_day": raw_per_day / BYTES_PER_TB,
        "index_overhead_fraction": storage.index_overhead,
        "index_overhead_tb_per_day": index_per_day / BYTES_PER_TB,
        "interaction_storage_tb_per_day": per_day / BYTES_PER_TB,
        "interaction_storage_tb_per_month": per_month / BYTES_PER_TB,
        "retention_days": storage.retention_days,
        "stored_total_tb": total / BYTES_PER_TB,
        "stored_total_usd_per_month": total
        / BYTES_PER_GB
        * scenario.pricing.storage_usd_per_gb_month,
    }


def _bandwidth(scenario: Scenario, rate: float) -> dict[str, Any]:
    requests = scenario.requests
    peak = rate * profile_peak_to_mean(scenario)
    ingress = rate * requests.request_bytes
    egress = rate * requests.response_bytes
    egress_gb_per_month = egress * SECONDS_PER_DAY * DAYS_PER_MONTH / BYTES_PER_GB
    ingress_gb_per_month = ingress * SECONDS_PER_DAY * DAYS_PER_MONTH / BYTES_PER_GB
    return {
        "request_bytes": requests.request_bytes,
        "response_bytes": requests.response_bytes,
        "ingress_mb_per_s": ingress / 1e6,
        "ingress_mbps": ingress * 8 / BITS_PER_MBIT,
        "egress_mb_per_s": egress / 1e6,
        "egress_mbps": egress * 8 / BITS_PER_MBIT,
        "peak_ingress_mbps": peak * requests.request_bytes * 8 / BITS_PER_MBIT,
        "peak_egress_mbps": peak * requests.response_bytes * 8 / BITS_PER_MBIT,
        "egress_gb_per_month": egress_gb_per_month,
        "transfer_usd_per_month": egress_gb_per_month * scenario.pricing.egress_usd_per_gb
        + ingress_gb_per_month * scenario.pricing.ingress_usd_per_gb,
    }


def _inference_seed(scenario: Scenario, rate: float) -> dict[str, Any]:
    """Seed 000's formula: 2 x params x output tokens / peak FLOP/s, at the mean rate."""
    gpu = gpu_spec(scenario.fleet.gpu)
    output_tokens = output_tokens_mean(scenario)
    time_s = 2.0 * scenario.model.parameters * output_tokens / gpu.peak_flops_per_s
    qps = 1.0 / time_s
    return {
        "formula": "2 x parameters x output_tokens / peak_flops_per_s (compute-bound, at 100%)",
        "inference_time_s": time_s,
        "queries_per_s_per_gpu": qps,
        "gpus_exact_count": rate / qps,
        "gpus_needed": math.ceil(rate / qps),
        "capsim_gpus_needed_at_peak": math.ceil(rate * profile_peak_to_mean(scenario) / qps),
    }


def _inference_roofline(scenario: Scenario, rate: float, seed_time_s: float) -> dict[str, Any]:
    """capsim's correction: prefill compute-bound, decode memory-bound; batch 1 and batched."""
    gpu = gpu_spec(scenario.fleet.gpu)
    n_gpus = scenario.fleet.gpus_per_replica
    model = scenario.model
    service = scenario.service
    peak = rate * profile_peak_to_mean(scenario)
    prompt = prompt_tokens_mean(scenario)
    output = output_tokens_mean(scenario)
    flops = gpu.peak_flops_per_s * n_gpus
    bandwidth = gpu.memory_bandwidth_bytes_per_s * n_gpus
    prefill_s = 2.0 * model.parameters * prompt / (flops * service.mfu)
    decode_token_s = model.weight_bytes / (bandwidth * service.mbu)
    decode_s = output * decode_token_s
    time_s = prefill_s + decode_s
    all_tokens_compute_s = 2.0 * model.parameters * (prompt + output) / flops

    # Steady-state continuous batching at batching.max_batch (capped by KV-cache memory):
    # each decode step reads the weights once plus the running requests' KV cache.
    kv_token_bytes = kv_bytes_per_token(model)
    free_bytes = kv_budget_bytes(
        gpu.memory_bytes * n_gpus, model.weight_bytes, service.kv_cache_memory_fraction
    )
    kv_capacity_tokens = max(0.0, free_bytes) / kv_token_bytes
    fit = math.floor(kv_capacity_tokens / (prompt + output)) if prompt + output > 0 else 1
    batch = max(1, min(scenario.batching.max_batch, fit))
    mean_context = prompt + output / 2.0
    step_compute_s = batch * 2.0 * model.parameters / (flops * service.mfu)
    step_memory_s = (model.weight_bytes + batch * mean_context * kv_token_bytes) / (
        bandwidth * service.mbu
    )
    step_s = max(step_compute_s, step_memory_s) + service.step_overhead_s
    batched_gpu_s = prefill_s + output * step_s / batch
    batched_qps = 1.0 / batched_gpu_s
    return {
        "formula": (
            "prefill 2 x parameters x prompt_tokens / (peak_flops_per_s x mfu) + "
            "output_tokens x weight_bytes / (hbm_bandwidth x mbu)"
        ),
        "mfu_fraction": service.mfu,
        "mbu_fraction": service.mbu,
        "compute_all_tokens_time_s": all_tokens_compute_s,
        "prefill_time_s": prefill_s,
        "decode_time_s_per_token": decode_token_s,
        "decode_time_s": decode_s,
        "inference_time_s": time_s,
        "slowdown_vs_seed_ratio": time_s / seed_time_s,
        "queries_per_s_per_replica": 1.0 / time_s,
        "gpus_per_replica_count": n_gpus,
        "gpus_needed_at_mean": math.ceil(rate * time_s) * n_gpus,
        "gpus_needed_at_peak": math.ceil(peak * time_s) * n_gpus,
        "batched": {
            "batch_size_requests": batch,
            "kv_bytes_per_token": kv_token_bytes,
            "kv_capacity_tokens": kv_capacity_tokens,
            "mean_context_tokens": mean_context,
            "decode_step_time_s": step_s,
            "decode_step_bound": "compute" if step_compute_s > step_memory_s else "memory",
            "gpu_time_s_per_request": batched_gpu_s,
            "request_latency_s": prefill_s + output * step_s,
            "queries_per_s_per_replica": batched_qps,
            "gpus_needed_at_mean": math.ceil(rate / batched_qps) * n_gpus,
            "gpus_needed_at_peak": math.ceil(peak / batched_qps) * n_gpus,
        },
    }


def _api(scenario: Scenario, requests_per_day: float) -> dict[str, Any]:
    api = scenario.api

    def priced(prompt: float, output: float) -> dict[str, Any]:
        per_request = (
            prompt * api.input_usd_per_1k_tokens + output * api.output_usd_per_1k_tokens
        ) / 1000.0
        return {
            "prompt_tokens": prompt,
            "output_tokens": output,
            "tokens_per_request": prompt + output,
            "prompt_tokens_per_day": prompt * requests_per_day,
            "output_tokens_per_day": output * requests_per_day,
            "input_usd_per_day": prompt * requests_per_day * api.input_usd_per_1k_tokens / 1000,
            "output_usd_per_day": output * requests_per_day * api.output_usd_per_1k_tokens / 1000,
            "api_cost_usd_per_request": per_request,
            "api_cost_usd_per_day": per_request * requests_per_day,
            "api_cost_usd_per_month": per_request * requests_per_day * DAYS_PER_MONTH,
        }

    out: dict[str, Any] = {
        "input_usd_per_1k_tokens": api.input_usd_per_1k_tokens,
        "output_usd_per_1k_tokens": api.output_usd_per_1k_tokens,
        "plain": priced(prompt_tokens_mean(scenario), output_tokens_mean(scenario)),
    }
    if api.rag_prompt_tokens is not None or api.rag_output_tokens is not None:
        rag_prompt = api.rag_prompt_tokens
        if rag_prompt is None:
            rag_prompt = out["plain"]["prompt_tokens"]
        rag_output = api.rag_output_tokens
        if rag_output is None:
            rag_output = out["plain"]["output_tokens"]
        out["rag"] = priced(rag_prompt, rag_output)
        plain_cost = out["plain"]["api_cost_usd_per_request"]
        rag_cost = out["rag"]["api_cost_usd_per_request"]
        out["rag_savings_fraction"] = 1.0 - rag_cost / plain_cost if plain_cost > 0 else 0.0
        out["rag_savings_usd_per_day"] = (plain_cost - rag_cost) * requests_per_day
    return out


def _fleet_cost(
    scenario: Scenario, usd_per_gpu_hour: float, seed: dict[str, Any], roof: dict[str, Any]
) -> dict[str, Any]:
    per_gpu_month = usd_per_gpu_hour * HOURS_PER_MONTH
    return {
        "gpu_usd_per_hour": usd_per_gpu_hour,
        "gpu_usd_per_month": per_gpu_month,
        "scenario_replicas": scenario.fleet.replicas,
        "scenario_fleet_usd_per_month": scenario.fleet.replicas
        * scenario.fleet.gpus_per_replica
        * per_gpu_month,
        "seed_gpus_usd_per_month": seed["gpus_needed"] * per_gpu_month,
        "roofline_batch1_gpus_at_peak_usd_per_month": roof["gpus_needed_at_peak"] * per_gpu_month,
        "roofline_batched_gpus_at_peak_usd_per_month": roof["batched"]["gpus_needed_at_peak"]
        * per_gpu_month,
    }


def _work_gpus(requests_per_day: float, latency_s: float) -> float:
    return requests_per_day * latency_s / SECONDS_PER_DAY


def _gpu_work(requests_per_day: float, latency_s: float, peak_to_mean: float) -> dict[str, Any]:
    """The busy GPU time a day's requests need, and the replicas that carries at 100% busy."""
    work = _work_gpus(requests_per_day, latency_s)
    return {
        "busy_gpu_s_per_day": requests_per_day * latency_s,
        "busy_gpu_hours_per_day": requests_per_day * latency_s / 3600.0,
        "utilisation_of_one_gpu_fraction": work,
        "gpus_of_work_at_mean": work,
        "gpus_of_work_at_peak": work * peak_to_mean,
        "dedicated_replicas_at_mean": replicas_below_full(work),
        "dedicated_replicas_at_peak": replicas_below_full(work * peak_to_mean),
    }


def _volume_row(
    requests_per_day: float,
    latency_s: float,
    peak_to_mean: float,
    sls_per_s: float | None,
    ded_per_month: float | None,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "requests_per_day": requests_per_day,
        **_gpu_work(requests_per_day, latency_s, peak_to_mean),
    }
    replicas_peak = row["dedicated_replicas_at_peak"]
    if sls_per_s is not None:
        row["serverless_usd_per_month"] = requests_per_day * latency_s * sls_per_s * DAYS_PER_MONTH
    if ded_per_month is not None:
        row["dedicated_one_gpu_usd_per_month"] = ded_per_month
        row["dedicated_peak_sized_usd_per_month"] = replicas_peak * ded_per_month
    if sls_per_s is not None and ded_per_month is not None:
        sls = row["serverless_usd_per_month"]
        row["dedicated_one_gpu_over_serverless_ratio"] = ded_per_month / sls
        row["serverless_over_dedicated_one_gpu_ratio"] = sls / ded_per_month
        row["dedicated_peak_sized_over_serverless_ratio"] = (
            row["dedicated_peak_sized_usd_per_month"] / sls
        )
    return row


def _latency_sections(scenario: Scenario, rate: float) -> dict[str, Any]:
    """Seed 001: a given per-request latency, serverless versus dedicated."""
    assert scenario.service.latency is not None
    latency_s = dist_mean(scenario.service.latency)
    requests_per_day = _requests_per_day(scenario)
    requests_per_month = requests_per_day * DAYS_PER_MONTH
    peak_to_mean = profile_peak_to_mean(scenario)
    sls_per_s = serverless_usd_per_s(scenario)
    ded_per_hour = dedicated_usd_per_gpu_hour(scenario)
    ded_per_month = None if ded_per_hour is None else ded_per_hour * HOURS_PER_MONTH
    ded_per_month_replica = (
        None if ded_per_month is None else ded_per_month * scenario.fleet.gpus_per_replica
    )
    work = _work_gpus(requests_per_day, latency_s)
    out: dict[str, Any] = {}
    out["capacity"] = {
        "request_latency_s": latency_s,
        "throughput_requests_per_s_per_gpu": 1.0 / latency_s,
        **_gpu_work(requests_per_day, latency_s, peak_to_mean),
        "one_gpu_max_requests_per_day": SECONDS_PER_DAY / latency_s,
        "one_gpu_max_requests_per_day_with_peak": SECONDS_PER_DAY / latency_s / peak_to_mean,
    }
    if work <= 1.0:  # one GPU's idle share; beyond one GPU of work there is none
        out["capacity"]["idle_of_one_gpu_fraction"] = 1.0 - work

    if sls_per_s is not None:
        per_request = latency_s * sls_per_s
        lam = rate
        idle_timeout = scenario.autoscaling.idle_timeout
        cold_start = dist_mean(scenario.autoscaling.cold_start_dist)
        # One container at low load (rate x latency << 1): after each request it idles
        # min(gap, idle_timeout), and a request arriving after the timeout pays a cold start.
        p_warm = 1.0 - math.exp(-lam * idle_timeout) if lam > 0 else 0.0
        idle_s = p_warm / lam if lam > 0 else 0.0
        cold_s = (1.0 - p_warm) * cold_start
        billed_s = latency_s + idle_s + cold_s
        out["serverless"] = {
            "serverless_usd_per_s": sls_per_s,
            "busy_gpu_s_per_day": requests_per_day * latency_s,
            "serverless_usd_per_request": per_request,
            "serverless_usd_per_1k_requests": per_request * 1000.0,
            "serverless_usd_per_day": per_request * requests_per_day,
            "serverless_usd_per_month": per_request * requests_per_month,
            "capsim_idle_timeout_s": idle_timeout,
            "capsim_cold_start_mean_s": cold_start,
            "capsim_idle_billed_s_per_request": idle_s,
            "capsim_cold_start_billed_s_per_request": cold_s,
            "capsim_billed_s_per_request": billed_s,
            "capsim_with_idle_and_cold_start_usd_per_month": billed_s
            * sls_per_s
            * requests_per_month,
        }

    if ded_per_month_replica is not None:
        assert ded_per_hour is not None
        replicas_peak = replicas_below_full(work * peak_to_mean)
        out["dedicated"] = {
            "gpu_usd_per_hour": ded_per_hour,
            "dedicated_usd_per_month": ded_per_month_replica,
            "dedicated_usd_per_request": ded_per_month_replica / requests_per_month,
            "capsim_replicas_at_peak": replicas_peak,
            "capsim_peak_sized_usd_per_month": replicas_peak * ded_per_month_replica,
            "capsim_peak_sized_usd_per_request": replicas_peak
            * ded_per_month_replica
            / requests_per_month,
        }

    if sls_per_s is not None and ded_per_month_replica is not None:
        assert ded_per_hour is not None
        sls_month = out["serverless"]["serverless_usd_per_month"]
        per_request_month = latency_s * sls_per_s * DAYS_PER_MONTH
        break_even = ded_per_month_replica / per_request_month
        # A peak-sized dedicated fleet costs at least this per request at any volume.
        floor_per_request = (
            ded_per_hour * scenario.fleet.gpus_per_replica / 3600.0 * latency_s * peak_to_mean
        )
        out["comparison"] = {
            "dedicated_over_serverless_ratio": ded_per_month_replica / sls_month,
            "switch_to_dedicated_savings_usd_per_month": sls_month - ded_per_month_replica,
            "switch_to_dedicated_savings_fraction": 1.0 - ded_per_month_replica / sls_month,
            "break_even_requests_per_day": break_even,
            "break_even_utilisation_fraction": _work_gpus(break_even, latency_s),
            "capsim_peak_sized_over_serverless_ratio": out["dedicated"][
                "capsim_peak_sized_usd_per_month"
            ]
            / sls_month,
            "capsim_peak_sized_savings_usd_per_month": sls_month
            - out["dedicated"]["capsim_peak_sized_usd_per_month"],
            "capsim_peak_sized_dedicated_floor_usd_per_request": floor_per_request,
            "capsim_serverless_always_cheaper_than_peak_sized": per_request_month / DAYS_PER_MONTH
            < floor_per_request,
        }

    volumes = sorted({*SEED_SCALING_REQUESTS_PER_DAY, requests_per_day})
    if "comparison" in out:
        volumes = sorted({*volumes, out["comparison"]["break_even_requests_per_day"]})
    out["scaling"] = {
        "rows": [
            _volume_row(v, latency_s, peak_to_mean, sls_per_s, ded_per_month_replica)
            for v in volumes
        ]
    }

    batch = batch_size_modelled(scenario)
    per_request_batched_s = latency_s  # no batch to price: batching saves nothing
    if batch is not None:
        unbatched = out["serverless"]["serverless_usd_per_month"] if "serverless" in out else None
        out["batch"] = _batch_section(scenario, batch, latency_s, rate, unbatched)
        per_request_batched_s = out["batch"]["gpu_s_per_request_batched"]

    if sls_per_s is not None and scenario.growth.requests_per_day:
        shares = scenario.growth.batch_share
        months = []
        cumulative = cumulative_unbatched = 0.0
        for i, volume in enumerate(scenario.growth.requests_per_day):
            share = shares[i] if i < len(shares) else 0.0
            unbatched = volume * latency_s * sls_per_s * DAYS_PER_MONTH
            cost = (
                volume
                * DAYS_PER_MONTH
                * sls_per_s
                * (latency_s * (1.0 - share) + per_request_batched_s * share)
            )
            cumulative += cost
            cumulative_unbatched += unbatched
            months.append(
                {
                    "month_number": i + 1,
                    "requests_per_day": volume,
                    "batch_share_fraction": share,
                    "unbatched_usd_per_month": unbatched,
                    "unbatched_cumulative_usd": cumulative_unbatched,
                    "usd_per_month": cost,
                    "savings_usd_per_month": unbatched - cost,
                    "cumulative_usd": cumulative,
                    "gpus_of_work_at_peak": _work_gpus(volume, latency_s) * peak_to_mean,
                }
            )
        out["growth"] = {
            "months": months,
            "months_count": len(months),
            "unbatched_total_usd": cumulative_unbatched,
            "total_usd": cumulative,
            "savings_total_usd": cumulative_unbatched - cumulative,
            "savings_fraction": 1.0 - cumulative / cumulative_unbatched,
        }
    return out


def batch_size_modelled(scenario: Scenario) -> int | None:
    """The batch the BOTEC prices: static batching's max_batch, else the size the
    service's batch_overhead is given at (seed 001's what-if); None without either."""
    batching = BATCHING[scenario.batching.policy]
    static = batching.batches and not batching.per_token_steps
    if static and scenario.batching.max_batch > 1:
        return scenario.batching.max_batch
    return scenario.service.batch_overhead_at


def _batch_section(
    scenario: Scenario,
    batch: int,
    latency_s: float,
    rate: float,
    unbatched_usd_per_month: float | None,
) -> dict[str, Any]:
    """Seed 001's batch inference: time per batch and request, wait to fill, serverless cost."""
    service = scenario.service
    peak_to_mean = profile_peak_to_mean(scenario)
    sls_per_s = serverless_usd_per_s(scenario)
    requests_per_month = _requests_per_day(scenario) * DAYS_PER_MONTH
    overhead_at = service.batch_overhead_at or max(2, scenario.batching.max_batch)
    batch_s = latency_s * batch_stretch(batch, service.batch_overhead, overhead_at)
    per_request_batched_s = batch_s / batch
    batch_section: dict[str, Any] = {
        "batch_size_requests": batch,
        "batch_overhead_fraction": service.batch_overhead,
        "batch_overhead_at_requests": overhead_at,
        "batch_time_s": batch_s,
        "gpu_s_per_request_batched": per_request_batched_s,
        "batched_over_unbatched_ratio": per_request_batched_s / latency_s,
        "batch_fill_time_s": (batch - 1) / rate if rate > 0 else math.inf,
        "capsim_mean_batch_wait_s": (batch - 1) / (2.0 * rate) if rate > 0 else math.inf,
        "capsim_mean_batch_wait_at_peak_s": (batch - 1) / (2.0 * rate * peak_to_mean)
        if rate > 0
        else math.inf,
    }
    if sls_per_s is not None and unbatched_usd_per_month is not None:
        unbatched = unbatched_usd_per_month
        batched = per_request_batched_s * sls_per_s * requests_per_month
        batch_section.update(
            {
                "serverless_usd_per_request": per_request_batched_s * sls_per_s,
                "serverless_usd_per_month": batched,
                "savings_usd_per_month": unbatched - batched,
                "savings_fraction": 1.0 - batched / unbatched,
            }
        )
    return batch_section


def botec(scenario: Scenario) -> dict[str, Any]:
    """The deterministic baseline of a scenario, as a JSON-ready dict of sections."""
    requests_per_day = _requests_per_day(scenario)
    rate = requests_per_day / SECONDS_PER_DAY
    result: dict[str, Any] = {
        "scenario": scenario.name,
        "description": scenario.description,
        "service_model": scenario.service.model,
        "days_per_month": DAYS_PER_MONTH,
        "traffic": _traffic(scenario, requests_per_day),
        "model": _model(scenario),
    }
    if scenario.traffic.closed_loop:
        result["closed_loop"] = _closed_loop(scenario)
    if scenario.storage.user_profile_bytes > 0 or scenario.storage.interaction_bytes > 0:
        result["storage"] = _storage(scenario, requests_per_day)
    if SERVICE_MODELS[scenario.service.model].from_hardware:
        seed = _inference_seed(scenario, rate)
        roof = _inference_roofline(scenario, rate, seed["inference_time_s"])
        result["inference_seed"] = seed
        result["inference_roofline"] = roof
        price = dedicated_usd_per_gpu_hour(scenario)
        if price is not None:
            result["fleet_cost"] = _fleet_cost(scenario, price, seed, roof)
    else:
        result.update(_latency_sections(scenario, rate))
    result["bandwidth"] = _bandwidth(scenario, rate)
    if scenario.api.use or scenario.api.rag_prompt_tokens is not None:
        result["api"] = _api(scenario, requests_per_day)
    if scenario.platform is not None:
        fleet = result.get("fleet_cost", {}).get("scenario_fleet_usd_per_month")
        result["platform"] = platform_section(scenario, fleet)
    if scenario.levers.splits:
        from sim.baseline.lever_botec import lever_botec  # it builds on this module

        result["levers"] = lever_botec(scenario)
    return result
