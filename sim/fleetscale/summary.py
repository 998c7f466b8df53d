"""From the stepped fleet to ReplicationResults, the same shape the exact engine returns.

Latency histograms mix the model's per-load histograms, weighted by the requests
completed in each step at that load, with the backlogged steps' requests binned
at their fluid wait plus the time in service alone; percentiles come from the
mixed histograms, never from averaged percentiles. There is no per-request log.
"""

from __future__ import annotations

import math

import numpy as np

from distributions.request_classes import class_names
from distributions.tokens import dist_mean_cv
from sim.errors import CapsimError
from sim.fleet.series import SERIES_BINS
from sim.fleetscale.fleet_loop import MARKETS, FleetRun
from sim.fleetscale.latency_model import METRICS, QUANTILES, ModelSet
from sim.money.billing import cost_summary, replica_hours, request_cost_usd
from sim.montecarlo.latency_histogram import (
    _BINS,
    _LOG_RATIO,
    _LOW_S,
    _RATIO,
)
from sim.montecarlo.results import PERCENTILES, ReplicationResult
from sim.scenario import plugins
from sim.scenario.plugins import AUTOSCALING, ROUTERS
from sim.scenario.prices import resolve_rates
from sim.scenario.schema import Scenario

_CENTRES_S = np.concatenate([[0.0], _LOW_S * _RATIO ** (np.arange(1, _BINS) - 0.5)])


def bin_index(values_s: np.ndarray) -> np.ndarray:
    """The latency histogram's bin of each value (as `histogram_of` bins them)."""
    values = np.asarray(values_s, dtype=float)
    index = np.zeros(values.shape, dtype=np.int64)
    positive = values >= _LOW_S
    index[positive] = 1 + np.floor(np.log(values[positive] / _LOW_S) / _LOG_RATIO).astype(np.int64)
    return np.clip(index, 0, _BINS - 1)


# Plain numpy sums, not BLAS: a threaded BLAS on a busy machine takes milliseconds a call.
def _dot(a: np.ndarray, b: np.ndarray) -> float:
    return float((a * b).sum())


def _mix(weights: np.ndarray, histograms: np.ndarray) -> np.ndarray:
    """Sum of the per-load histograms, each times its weight."""
    out = np.zeros(histograms.shape[1])
    for weight, histogram in zip(weights, histograms, strict=True):
        if weight:
            out += weight * histogram
    return out


def _stats(hist: np.ndarray) -> dict[str, float]:
    total = hist.sum()
    if total <= 0:
        return {"mean": math.nan, **{f"p{p:g}": math.nan for p in PERCENTILES}}
    found = _percentiles(hist, list(PERCENTILES))
    mean = _dot(hist, _CENTRES_S) / float(total)
    return {"mean": mean, **{f"p{p:g}": v for p, v in zip(PERCENTILES, found, strict=True)}}


def _percentiles(hist: np.ndarray, percentiles: list[float]) -> list[float]:
    """Percentiles of a histogram with fractional counts (a mixture's weights)."""
    total = float(hist.sum())
    cumulative = np.cumsum(hist)
    out = []
    for percentile in percentiles:
        index = int(np.searchsorted(cumulative, percentile / 100.0 * total * (1 - 1e-12)))
        out.append(0.0 if index == 0 else _LOW_S * _RATIO ** (index - 0.5))
    return out


def build_results(
    scenario: Scenario, model: ModelSet, run: FleetRun, first_replication: int = 0
) -> list[ReplicationResult]:
    """One ReplicationResult per replication of the batch."""
    return [
        _result(scenario, model, run, r, first_replication + r)
        for r in range(run.arrivals.shape[0])
    ]


def _latencies(scenario: Scenario, model: ModelSet, run: FleetRun, r: int):
    horizon_s = scenario.horizon
    bin_s = 3600.0 if horizon_s <= 7 * 86400 else 86400.0
    hours = max(1, math.ceil(horizon_s / bin_s - 1e-9))
    steps = run.arrivals.shape[1]
    dt = run.dt_s
    hour = np.minimum((np.arange(steps) * dt // bin_s).astype(np.int64), hours - 1)
    k = len(model.loads)
    done = run.completed[r].astype(float)
    calm = ~run.backlogged[r] & (done > 0)
    position = run.level[r][calm].astype(float)
    lo = np.clip(np.floor(position).astype(np.int64), 0, k - 1)
    hi = np.minimum(lo + 1, k - 1)
    frac = position - lo
    base = run.table_index[r][calm].astype(np.int64) * k
    lo, hi = lo + base, hi + base
    k = k * len(model.sizes)
    weight_lo = done[calm] * (1 - frac)
    weight_hi = done[calm] * frac
    size = hours * k
    by_hour = np.bincount(hour[calm] * k + lo, weight_lo, size) + np.bincount(
        hour[calm] * k + hi, weight_hi, size
    )
    by_hour = by_hour.reshape(hours, k).astype(float)
    by_level = by_hour.sum(axis=0)
    hists = {m: _mix(by_level, model.histograms[m]) for m in METRICS}
    e2e_hourly = np.stack([_mix(row, model.histograms["e2e"]) for row in by_hour])
    scales = run.service_scale
    if scales is not None:  # a replay: each step's latencies follow its requests' sizes
        weights = (hour[calm], lo, hi, weight_lo, weight_hi, hours, k)
        for metric in ("ttft", "e2e"):
            shifts = shift_bins(scales[metric][r][calm])
            found = _mix_shifted(*weights, shifts, model.histograms[metric])
            hists[metric] = found.sum(axis=0)
            if metric == "e2e":
                e2e_hourly = found
    wait_means = (model.histograms["wait"] * _CENTRES_S).sum(axis=1)
    wait_sum_hourly = (by_hour * wait_means).sum(axis=1)
    done_hourly = by_hour.sum(axis=1)

    jam = np.flatnonzero(run.backlogged[r] & (done > 0))
    if len(jam):
        arrivals = run.arrivals[r]
        cum_arrived = run.cum_arrived[r]
        left = np.concatenate([[0.0], run.cum_left[r]])
        times = np.arange(steps + 1) * dt
        before = cum_arrived[jam] - arrivals[jam]
        # Requests past the last one to leave the backlog were still waiting at the end.
        finished = np.clip((left[-1] - before) / np.maximum(arrivals[jam], 1e-12), 0.0, 1.0)
        count = done[jam] * finished
        middle = before + arrivals[jam] / 2
        wait = np.maximum(np.interp(middle, left, times) - (jam + 0.5) * dt, 0.0)
        jam_hour = hour[jam]
        # A backlogged replica serves a full batch: by Little's law its requests' time
        # in service follows their cost to it (ones but in a replay).
        jam_scale = scales["saturated"][r][jam] if scales is not None else None
        waits = wait_quantiles(wait, _line_rate_per_s(scenario, model, run, r, jam), model)
        if run.peak_excess is not None and run.peak_excess[r].any():
            waits, count, jam_hour = _with_peak_waits(
                scenario, model, run, r, jam, waits, count, jam_hour
            )
            wait = waits.mean(axis=1)
            jam_scale = None if jam_scale is None else np.concatenate([jam_scale, jam_scale])
        for metric in ("ttft", "e2e"):
            index, weights, at_hour = _shifted_bins(
                waits, count, jam_hour, model.largest.service_quantiles[metric], jam_scale
            )
            hists[metric] += np.bincount(index, weights, _BINS)
            if metric == "e2e":
                flat = at_hour * _BINS + index
                e2e_hourly += np.bincount(flat, weights, hours * _BINS).reshape(hours, _BINS)
        hists["wait"] += np.bincount(
            bin_index(waits).ravel(), np.repeat(count / QUANTILES, QUANTILES), _BINS
        )
        hists["tpot"] += count.sum() * model.largest.saturated_tpot.astype(float)
        wait_sum_hourly += np.bincount(jam_hour, count * wait, hours)
        done_hourly += np.bincount(jam_hour, count, hours)
    series = {
        "time_s": [b * bin_s for b in range(hours)],
        "e2e_p99_s": [
            _percentiles(e2e_hourly[h], [99.0])[0] if e2e_hourly[h].sum() > 0 else math.nan
            for h in range(hours)
        ],
        "wait_mean_s": [
            float(wait_sum_hourly[h] / done_hourly[h]) if done_hourly[h] > 0 else math.nan
            for h in range(hours)
        ],
    }
    return hists, series


SHIFT_BINS = 5  # a replay's latency scales are kept to this many bins (0.5%)


def shift_bins(scale: np.ndarray) -> np.ndarray:
    """Histogram bins that multiply a latency by `scale` (bins are log-spaced), in
    multiples of SHIFT_BINS."""
    steps = np.rint(np.log(np.maximum(scale, 1e-12)) / (SHIFT_BINS * _LOG_RATIO))
    return steps.astype(np.int64) * SHIFT_BINS


def shifted(hist: np.ndarray, bins: int) -> np.ndarray:
    """The histogram of the same values times _RATIO ** bins; the zero bin stays, the
    ends collect what would fall beyond them."""
    if bins == 0:
        return hist
    out = np.zeros_like(hist)
    out[0] = hist[0]
    body = hist[1:]
    width = len(body)
    move = min(abs(bins), width - 1)
    if bins > 0:
        out[1 + move :] = body[: width - move]
        out[-1] += body[width - move :].sum()
    else:
        out[1 : 1 + width - move] = body[move:]
        out[1] += body[:move].sum()
    return out


def _mix_shifted(hour, lo, hi, weight_lo, weight_hi, hours, k, shifts, histograms):
    """(hours, bins): each hour's calm steps' level histograms mixed by their weights,
    each step's shifted by its `shifts` bins (steps with one shift are mixed together)."""
    out = np.zeros((hours, histograms.shape[1]))
    for shift in np.unique(shifts):
        pick = shifts == shift
        by_hour = np.bincount(hour[pick] * k + lo[pick], weight_lo[pick], hours * k)
        by_hour += np.bincount(hour[pick] * k + hi[pick], weight_hi[pick], hours * k)
        by_hour = by_hour.reshape(hours, k)
        for h in np.flatnonzero(by_hour.sum(axis=1) > 0):
            out[h] += shifted(_mix(by_hour[h], histograms), int(shift))
    return out


# Wait quantile i is paired with service quantile _PAIRING[i]: a fixed shuffle, so the
# 32 sums sample wait + service as independent parts (sorted pairing would add their tails).
_PAIRING = np.random.default_rng(0).permutation(QUANTILES)


def _line_rate_per_s(scenario: Scenario, model: ModelSet, run: FleetRun, r: int, jam):
    """Completions per second of the line a backlogged request waits in: its replica's,
    or the whole fleet's when every replica serves one shared line."""
    per_replica = model.capacity_per_s[run.table_index[r][jam].astype(np.int64)]
    shared = (
        ROUTERS[scenario.fleet.router].shared_line
        or AUTOSCALING[scenario.autoscaling.policy].containers
    )
    return per_replica * np.maximum(run.serving[r][jam], 1) if shared else per_replica


WILSON_HILFERTY_SHAPE = 30.0  # above this gamma shape, quantiles by Wilson-Hilferty


def wait_quantiles(wait_s: np.ndarray, line_rate_per_s: np.ndarray, model: ModelSet):
    """(steps, QUANTILES) midpoint quantiles of a backlogged request's wait: the fluid
    wait w is its mean; leaving after w x rate completions, it varies as a gamma with
    variance w x D / rate (D the saturated replica's completion dispersion)."""
    from scipy.special import gammaincinv, ndtri

    dispersion = max(model.largest.completion_dispersion, 1e-9)
    scale = dispersion / np.maximum(line_rate_per_s, 1e-12)
    shape = wait_s / scale
    levels = (np.arange(QUANTILES) + 0.5) / QUANTILES
    out = np.zeros((len(wait_s), QUANTILES))
    small = (shape > 0) & (shape < WILSON_HILFERTY_SHAPE)
    if small.any():
        out[small] = gammaincinv(shape[small, None], levels[None, :]) * scale[small, None]
    large = shape >= WILSON_HILFERTY_SHAPE
    if large.any():  # Wilson-Hilferty: a cube of a normal, within 0.1% here, and fast
        k = shape[large, None]
        cube = 1.0 - 1.0 / (9.0 * k) + ndtri(levels)[None, :] * np.sqrt(1.0 / (9.0 * k))
        out[large] = k * scale[large, None] * cube**3
    return out


def _with_peak_waits(
    scenario: Scenario, model: ModelSet, run: FleetRun, r: int, jam, waits, count, jam_hour
):
    """Serverless: the step's requests that arrived above its warm slots at the peak wait
    for a busy container to free. With c slots busy, the k-th of them waits for the k-th
    of c residual service times, about k x E[S^2] / E[S] / (c + 1); the rest as they were.
    Returns the wait rows, their request counts and hours, the peak's rows appended."""
    excess = run.peak_excess[r][jam].astype(float)
    slots = run.peak_slots[r][jam].astype(float)
    share = np.where(slots > 0, np.clip(excess / np.maximum(run.arrivals[r][jam], 1e-12), 0, 1), 0)
    service = model.largest.service_quantiles["e2e"]
    gap_s = float((service**2).mean() / max(service.mean(), 1e-12)) / (slots + 1.0)
    levels = (np.arange(QUANTILES) + 0.5) / QUANTILES
    order = 1.0 + np.maximum(excess - 1.0, 0.0)[:, None] * levels[None, :]
    # ...or for the container it starts, whichever comes first.
    cold_start_s = float(dist_mean_cv(scenario.autoscaling.cold_start_dist)[0])
    extra = np.minimum(order * gap_s[:, None], cold_start_s)
    rows = np.concatenate([waits, waits + extra])
    counts = np.concatenate([count * (1 - share), count * share])
    return rows, counts, np.concatenate([jam_hour, jam_hour])


def _shifted_bins(
    waits_s: np.ndarray,
    count: np.ndarray,
    hour: np.ndarray,
    quantiles_s: np.ndarray,
    scale: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bins and weights of wait + time in service, both given by their quantiles
    (waits_s: one row of wait quantiles per step; the service's scaled by each row's
    `scale` if given), paired as independent parts.

    Where the wait is so long that both spreads are under a tenth of a bin (0.01% of
    the total), the quantiles fall in one bin: their means stand for them.
    """
    scale = np.ones(len(waits_s)) if scale is None else scale
    spread_s = float(quantiles_s.max() - quantiles_s.min()) * scale
    wait_spread_s = waits_s.max(axis=1) - waits_s.min(axis=1)
    wait_s = waits_s.mean(axis=1)
    narrow = spread_s + wait_spread_s < 1e-4 * (wait_s + quantiles_s.min() * scale)
    wide = ~narrow
    index = [bin_index(wait_s[narrow] + quantiles_s.mean() * scale[narrow])]
    weights = [count[narrow]]
    hours = [hour[narrow]]
    if wide.any():
        values = waits_s[wide] + quantiles_s[_PAIRING][None, :] * scale[wide, None]
        index.append(bin_index(values).ravel())
        weights.append(np.repeat(count[wide] / QUANTILES, QUANTILES))
        hours.append(np.repeat(hour[wide], QUANTILES))
    return np.concatenate(index), np.concatenate(weights), np.concatenate(hours)


def _replica_lines(scenario: Scenario, run: FleetRun, r: int) -> dict[str, float]:
    """Replica cost by market over the horizon, as `billing.replica_cost_usd` books it."""
    rates = resolve_rates(scenario)
    lines: dict[str, float] = {}
    billed_s = 0.0
    busy_s = 0.0
    for market in MARKETS:
        up_s = float(run.up_s[market][r])
        busy = float(run.busy_s[market][r])
        if up_s <= 0:
            continue
        busy_s += min(busy, up_s)
        plugin = plugins.MARKETS[market]
        if plugin.committed and rates.reserved_replicas:
            continue
        charged_s = busy if plugin.containers and rates.billed_only_busy else up_s
        line = "serverless" if plugin.containers else f"gpu_{market}"
        lines[line] = lines.get(line, 0.0) + charged_s * _rate(rates, market)
        billed_s += charged_s
    if rates.reserved_replicas:
        committed_s = rates.reserved_replicas * scenario.horizon
        lines["gpu_reserved_commitment"] = committed_s * _rate(rates, "reserved")
        overflow_s = float(run.totals["reserved_above_s"][r])
        if overflow_s > 0:
            market = "on-demand" if "on-demand" in rates.usd_per_replica_s else "reserved"
            lines["gpu_reserved_overflow"] = overflow_s * _rate(rates, market)
        billed_s += committed_s + overflow_s
    return {**lines, "_billed_replica_s": billed_s, "_busy_replica_s": busy_s}


def _rate(rates, market: str) -> float:
    if market not in rates.usd_per_replica_s:
        raise CapsimError(f"no price for market {market!r}: set it under [pricing]")
    return rates.usd_per_replica_s[market]


def _fleet_series(scenario: Scenario, run: FleetRun, r: int) -> dict[str, list[float]]:
    horizon_s = scenario.horizon
    inside = run.horizon_steps
    edges = np.linspace(0.0, horizon_s, SERIES_BINS + 1)
    start = np.arange(inside) * run.dt_s
    index = np.clip(np.searchsorted(edges, start, side="right") - 1, 0, SERIES_BINS - 1)
    steps_per_bin = np.maximum(np.bincount(index, minlength=SERIES_BINS), 1)
    mean = {
        name: np.bincount(index, values[r, :inside], SERIES_BINS) / steps_per_bin
        for name, values in (("replicas_up", run.up), ("replicas_serving", run.serving))
    }
    arrivals = np.bincount(index, run.arrivals[r, :inside], SERIES_BINS)
    return {
        "time_s": edges[:-1].tolist(),
        "replicas_up": mean["replicas_up"].tolist(),
        "replicas_serving": mean["replicas_serving"].tolist(),
        "arrival_rate_per_s": (arrivals / np.diff(edges)).tolist(),
    }


def _result(
    scenario: Scenario, model: ModelSet, run: FleetRun, r: int, replication: int
) -> ReplicationResult:
    totals = {name: float(values[r]) for name, values in run.totals.items()}
    arrived = round(run.arrivals[r].sum())
    dropped = round(totals["dropped"])
    timed_out = round(totals["timed_out"])
    in_flight = round(totals["in_flight"])
    lost = round(totals["lost"])
    completed = max(0, arrived - dropped - timed_out - in_flight - lost)
    requests = {
        "in_flight": in_flight,
        "completed": completed,
        "dropped": dropped,
        "timed_out": timed_out,
        "lost": lost,
        "arrived": arrived,
        "retried": round(totals["retried"]),
    }
    hists, latency_series = _latencies(scenario, model, run, r)
    stats = {m: _stats(hists[m]) for m in METRICS}
    sums = {m: _dot(hists[m], _CENTRES_S) for m in METRICS}
    replica_lines = _replica_lines(scenario, run, r)
    cost = cost_summary(
        replica_lines,
        request_cost_usd(
            scenario,
            completed,
            np.array([completed * model.largest.prompt_tokens_mean]),
            np.array([completed * model.largest.output_tokens_mean]),
        ),
        scenario.horizon,
        completed,
    )
    serving_s = totals["serving_s"]
    end_s = float(run.end_s[r])
    up = run.up[r, : run.horizon_steps].astype(float)
    failed = dropped + timed_out
    name = class_names(scenario.requests)[0]
    return ReplicationResult(
        replication=replication,
        seed=scenario.seed,
        horizon_s=scenario.horizon,
        end_s=end_s,
        requests=requests,
        latency_s=stats,
        latency_histograms=hists,
        latency_sums_s=sums,
        throughput_per_s=completed / scenario.horizon,
        utilization=totals["busy_s"] / serving_s if serving_s > 0 else 0.0,
        mean_running_per_replica=totals["running_area"] / serving_s if serving_s > 0 else 0.0,
        mean_queue_length=totals["queue_area"] / end_s if end_s > 0 else 0.0,
        replica_seconds=serving_s,
        replicas={
            "min": float(up.min()) if len(up) else 0.0,
            "mean": float(up.mean()) if len(up) else 0.0,
            "max": float(up.max()) if len(up) else 0.0,
            "started": totals["started"],
        },
        events={name: int(values[r]) for name, values in run.counters.items()},
        fleet_series=_fleet_series(scenario, run, r),
        latency_series=latency_series,
        cost_usd=cost,
        billing=replica_hours(replica_lines),
        classes={
            name: {
                "arrived": arrived,
                "completed": completed,
                "failed": failed,
                "e2e_p99_s": stats["e2e"]["p99"],
                "ttft_p99_s": stats["ttft"]["p99"],
            }
        },
        log=None,
    )
