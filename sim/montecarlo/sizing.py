"""`capsim size`: the cheapest fleet of each candidate that meets the SLO on enough days.

A candidate is a GPU type with the tensor-parallel degree its memory needs, a
market and a policy. Its setting (fixed: `fleet.replicas`) is searched by a
bracket from the BOTEC's estimate and a bisection. Every setting of every
candidate runs replications 0, 1, ... on the same seeds (common random numbers),
so a bigger fleet sees the same days as a smaller one. A setting is accepted when
the lower end of the 95% Wilson interval on its share of good days clears the
confidence, rejected when the upper end falls below it, and otherwise given more
replications up to the cap; still unclear there, it is "undecided", never picked.
The search decides on the SLO alone (more replicas never hurt it); a budget, which
more replicas can only break, is then checked on the cheapest count meeting the SLO.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from distributions.traffic import generate_requests
from sim.baseline.botec import botec, dist_mean
from sim.baseline.headline import botec_headline
from sim.baseline.queueing_theory import mmc_wait_quantile_s
from sim.engine.service_time import RooflineModel, build_service_model
from sim.errors import CapsimError
from sim.montecarlo.aggregate import good_day, spread, wilson_interval
from sim.montecarlo.executors import Executor, ReplicationBlock, run_block
from sim.montecarlo.replication import replication_streams
from sim.montecarlo.results import ReplicationResult
from sim.scenario.catalog import gpu_spec
from sim.scenario.memory import kv_budget_bytes, kv_bytes_per_token
from sim.scenario.plugins import ROUTERS, SERVICE_MODELS
from sim.scenario.prices import resolve_rates
from sim.scenario.schema import MAX_REPLICAS, Scenario

ACCEPTED, REJECTED, UNDECIDED = "accepted", "rejected", "undecided"
MARKETS = ("on-demand", "spot")
POLICIES = ("fixed", "target-tracking")
TARGETS = (0.5, 0.6, 0.7, 0.8)  # target tracking's coarse grid of utilisation targets
FIRST_REPLICATIONS = 4  # replications of a setting's first round; each further round doubles
TP_DEGREES = (1, 2, 4, 8)
SCREEN_REPLICATIONS = 8  # the screen's most replications per setting (rounds of 4 and 8)
MAX_REPLICATIONS_ANY = 10**9  # "as many as the runner allows"
OUT_OF_REACH_GAIN = 0.05  # a doubling that cuts the tail by less gives up (see out_of_reach)
ALONE_SAMPLE = 20_000  # requests of replication 0 timed alone for the reachability check
SEARCH_FACTOR = 16  # the search goes up to this many times the estimate (plus as many again)


@dataclass(frozen=True)
class Candidate:
    """One way to serve the scenario: a GPU type, its tensor-parallel degree, market, policy."""

    gpu: str
    gpus_per_replica: int
    market: str = "on-demand"
    policy: str = "fixed"
    target: float | None = None  # target tracking's target; its setting is min_replicas

    @property
    def name(self) -> str:
        target = "" if self.target is None else f" target={self.target:g}"
        return f"{self.gpu} x{self.gpus_per_replica} {self.market} {self.policy}{target}"


@dataclass
class Evaluation:
    """One setting of one candidate: its replications so far and the decision they give."""

    candidate: Candidate
    replicas: int
    scenario: Scenario
    results: list[ReplicationResult] = field(default_factory=list)
    good_days: int = 0  # days meeting the SLO
    within_budget_days: int = 0  # days meeting the SLO and the budget
    status: str = UNDECIDED

    @property
    def replications(self) -> int:
        return len(self.results)

    @property
    def good_share(self) -> float:
        return self.good_days / self.replications if self.results else math.nan

    @property
    def good_share_ci95(self) -> tuple[float, float]:
        return wilson_interval(self.good_days, self.replications)

    def summary(self) -> dict[str, object]:
        """The figures a table row or `--json` shows for this setting."""
        monthly = spread([r.cost_usd.get("monthly_total", math.nan) for r in self.results])
        return {
            "replicas": self.replicas,
            "status": self.status,
            "replications": self.replications,
            "good_days": self.good_days,
            "good_and_within_budget_days": self.within_budget_days,
            "good_share": self.good_share,
            "good_share_ci95": self.good_share_ci95,
            "cost_monthly_usd": monthly,
            "e2e_p99_s": spread([r.latency_s["e2e"]["p99"] for r in self.results]),
            "utilization": spread([r.utilization for r in self.results]),
        }


@dataclass
class Sized:
    """A candidate's answer: the cheapest accepted setting, the one below it, all evaluations."""

    candidate: Candidate
    estimate_replicas: int
    chosen: Evaluation | None
    next_cheaper: Evaluation | None
    evaluations: list[Evaluation]
    note: str = ""
    over_budget: bool = False  # the chosen count meets the SLO but not the budget
    alternatives: list[Sized] = field(default_factory=list)  # target tracking: every target
    next_target: Evaluation | None = None  # target tracking: the next (hotter) target, same minimum


def replications_to_accept(confidence: float) -> int:
    """Fewest all-good replications whose Wilson lower bound reaches `confidence`."""
    n = 1
    while wilson_interval(n, n)[0] < confidence:
        n += 1
        if n > 1_000_000:
            break
    return n


def decide(good_days: int, replications: int, confidence: float) -> str:
    """Accepted, rejected or (so far) undecided, from the 95% Wilson interval on good days."""
    low, high = wilson_interval(good_days, replications)
    if low >= confidence:
        return ACCEPTED
    if high < confidence:
        return REJECTED
    return UNDECIDED


def tensor_parallel_degree(scenario: Scenario, gpu: str) -> int:
    """Fewest GPUs per replica (1, 2, 4, 8) whose memory holds the weights and one request's KV
    (in the share of the rest the KV cache gets).

    A scenario with a given per-request latency keeps its own `fleet.gpus_per_replica`.
    """
    if not SERVICE_MODELS[scenario.service.model].from_hardware:
        return scenario.fleet.gpus_per_replica
    spec = gpu_spec(gpu)
    model = scenario.model
    tokens = dist_mean(scenario.requests.prompt_tokens) + dist_mean(scenario.requests.output_tokens)
    one_request_bytes = kv_bytes_per_token(model) * tokens
    fraction = scenario.service.kv_cache_memory_fraction
    for degree in TP_DEGREES:
        if kv_budget_bytes(spec.memory_bytes * degree, model.weight_bytes, fraction) >= (
            one_request_bytes
        ):
            return degree
    raise CapsimError(
        f"--gpus {gpu}: the model's weights ({model.weight_bytes / 1e9:.1f} GB) do not fit in "
        f"{TP_DEGREES[-1]} x {gpu} with room for one request's KV cache"
    )


def candidate_scenario(base: Scenario, candidate: Candidate, replicas: int) -> Scenario:
    """The base scenario served by `candidate` with `replicas` replicas (validated afresh):
    the fleet's size for `fixed`, the minimum (and starting size) for target tracking."""
    data = base.model_dump()
    data["fleet"].update(
        gpu=candidate.gpu,
        gpus_per_replica=candidate.gpus_per_replica,
        market=candidate.market,
        replicas=replicas,
    )
    data["autoscaling"]["policy"] = candidate.policy
    if candidate.policy == "target-tracking":
        scaling = data["autoscaling"]
        scaling["min_replicas"] = replicas
        scaling["max_replicas"] = max(scaling["max_replicas"], replicas)
        if candidate.target is not None:
            scaling["target"] = candidate.target
    try:
        return Scenario.model_validate(data)
    except ValueError as exc:
        raise CapsimError(f"{candidate.name}: not a valid scenario: {exc}") from None


def analytic_replicas(scenario: Scenario) -> int:
    """The BOTEC's replicas at the peak rate (batched roofline capacity at 100% busy);
    for a shared queue of fixed-latency servers, the Erlang C count meeting the e2e p99."""
    headline = botec_headline(scenario, botec(scenario))
    estimate = headline.get("replicas_at_peak", 1)
    estimate = 1 if not isinstance(estimate, int | float) or math.isnan(estimate) else estimate
    target_s = scenario.slo.latency_p99
    shared_line = ROUTERS[scenario.fleet.router].shared_line
    if shared_line and "request_time_s" in headline and target_s:
        service_s = float(headline["request_time_s"])
        rate = float(headline["peak_rate_per_s"])
        servers = max(1, math.floor(rate * service_s) + 1)
        while servers < MAX_REPLICAS:
            wait_s = mmc_wait_quantile_s(servers, rate, 1.0 / service_s, 0.99)
            if wait_s + service_s <= target_s:
                break
            servers += 1
        estimate = max(estimate, servers)
    return int(max(1, min(MAX_REPLICAS, estimate)))


class SettingRunner:
    """Runs settings on an executor, adding replications round by round, remembering all."""

    def __init__(
        self,
        base: Scenario,
        executor: Executor,
        confidence: float,
        max_replications: int,
        block_runner: Callable[[ReplicationBlock], list[ReplicationResult]] = run_block,
    ) -> None:
        needed = replications_to_accept(confidence)
        if needed > max_replications:
            raise CapsimError(
                f"-n {max_replications}: too few replications to show confidence "
                f"{confidence:g} (even {needed} good days of {needed} are needed); "
                f"raise -n to at least {needed} or lower --confidence"
            )
        self.needed = needed
        self.base = base
        self.executor = executor
        self.confidence = confidence
        self.max_replications = max_replications
        self.block_runner = block_runner  # the exact engine's run_block, or the fast engine's
        self.seen: dict[tuple[Candidate, int], Evaluation] = {}

    def evaluate(
        self, candidate: Candidate, replicas: int, most: int = MAX_REPLICATIONS_ANY
    ) -> Evaluation:
        """The setting's decision, running more replications while it is undecided
        (up to `most`, and never more than the runner's cap)."""
        most = min(most, self.max_replications)
        key = (candidate, replicas)
        if key not in self.seen:
            scenario = candidate_scenario(self.base, candidate, replicas)
            self.seen[key] = Evaluation(candidate, replicas, scenario)
        evaluation = self.seen[key]
        while evaluation.status == UNDECIDED and evaluation.replications < most:
            start = evaluation.replications
            stop = min(most, max(FIRST_REPLICATIONS, 2 * start))
            if start < self.needed < stop:
                stop = self.needed  # the fewest that can accept: a round ends there
            self._add(evaluation, start, stop)
            evaluation.status = decide(evaluation.good_days, stop, self.confidence)
        return evaluation

    def _add(self, evaluation: Evaluation, start: int, stop: int) -> None:
        """Run replications start..stop-1 in blocks over the executor's workers."""
        size = max(1, math.ceil((stop - start) / (2 * self.executor.workers)))
        blocks = [
            ReplicationBlock(0, first, min(first + size, stop), evaluation.scenario)
            for first in range(start, stop, size)
        ]
        finished = self.executor.map_unordered(self.block_runner, blocks)
        found = [r for _, results in finished for r in results]
        found.sort(key=lambda result: result.replication)
        evaluation.results.extend(found)
        scenario = evaluation.scenario
        evaluation.good_days += sum(good_day(scenario, r, with_budget=False) for r in found)
        evaluation.within_budget_days += sum(good_day(scenario, r) for r in found)


def median_p99_s(evaluation: Evaluation) -> float:
    """The median day's e2e p99 of a setting's replications so far."""
    return float(np.median([r.latency_s["e2e"]["p99"] for r in evaluation.results]))


def out_of_reach(smaller: Evaluation, larger: Evaluation) -> bool:
    """More replicas, under half busy, gave no good day and under OUT_OF_REACH_GAIN less
    tail latency: the requests' own service time, not the queue, misses the SLO."""
    if larger.good_days or smaller.good_days:
        return False
    if np.median([r.utilization for r in larger.results]) >= 0.5:
        return False  # still busy: more replicas may yet cut the wait
    before, after = median_p99_s(smaller), median_p99_s(larger)
    return math.isfinite(before) and after > (1 - OUT_OF_REACH_GAIN) * before


def smallest_not_rejected(
    evaluate: Callable[[int], Evaluation], estimate: int, max_replicas: int
) -> tuple[Evaluation | None, Evaluation | None]:
    """The fewest replicas not rejected and the evaluation of one fewer (None at one replica).

    Brackets from `estimate` (down by doubling steps while not rejected, up by doubling
    steps while rejected), then bisects; assumes the decision is monotone in the replica
    count, which common random numbers make the rule rather than luck.
    """
    estimate = max(1, min(max_replicas, estimate))
    first = evaluate(estimate)
    if first.status != REJECTED:
        high, low, step = first, None, 1
        while high.replicas - step >= 1:
            trial = evaluate(high.replicas - step)
            if trial.status == REJECTED:
                low = trial
                break
            high, step = trial, 2 * step
    else:
        low, high, step = first, None, 1
        while high is None:
            if low.replicas >= max_replicas:
                return None, low
            trial = evaluate(min(max_replicas, low.replicas + step))
            if trial.status != REJECTED:
                high = trial
            elif out_of_reach(low, trial):
                return None, trial
            else:
                low, step = trial, 2 * step
    bottom = 0 if low is None else low.replicas
    while high.replicas - bottom > 1:
        trial = evaluate((high.replicas + bottom) // 2)
        if trial.status != REJECTED:
            high = trial
        else:
            low, bottom = trial, trial.replicas
    return high, (low if low is not None and low.replicas == high.replicas - 1 else None)


def smallest_accepted(
    evaluate: Callable[[int, int], Evaluation],
    estimate: int,
    max_replicas: int = MAX_REPLICAS,
    screen_replications: int = SCREEN_REPLICATIONS,
) -> tuple[Evaluation | None, Evaluation | None]:
    """The fewest replicas accepted and the evaluation of one fewer (None at one replica).

    `evaluate(n, most)` decides n with at most `most` replications. A cheap screen
    (bracket and bisection, at most `screen_replications` each) finds the fewest
    replicas not rejected; a rejection is final, so everything below is out. Only
    from there up is each count run to a decision, usually one or two counts.
    """
    found, below = smallest_not_rejected(
        lambda n: evaluate(n, screen_replications), estimate, max_replicas
    )
    if found is None:
        return None, below
    for replicas in range(found.replicas, max_replicas + 1):
        trial = evaluate(replicas, MAX_REPLICATIONS_ANY)
        if trial.status == ACCEPTED:
            return trial, below
        below = trial
    return None, below


def alone_p99_s(scenario: Scenario, sample: int = ALONE_SAMPLE) -> tuple[float, float] | None:
    """(TTFT, e2e) p99 of replication 0's requests each served alone, the fastest any fleet
    can serve them (batching and queueing only add); None for a given per-request latency."""
    service = build_service_model(scenario)
    if not isinstance(service, RooflineModel):
        return None
    requests = generate_requests(scenario, replication_streams(scenario.seed, 0)["traffic"])
    count = len(requests.arrival_s)
    if count == 0:
        return None
    picked = np.linspace(0, count - 1, min(count, sample)).astype(np.int64)
    times = np.array(
        [
            service.alone_times_s(int(requests.prompt_tokens[i]), int(requests.output_tokens[i]))
            for i in picked
        ]
    )
    ttft_p99, e2e_p99 = np.percentile(times, 99, axis=0)
    return float(ttft_p99), float(e2e_p99)


def unreachable_slo(scenario: Scenario) -> str:
    """Why no fleet can meet the SLO (a request alone already misses it), or ""."""
    found = alone_p99_s(scenario)
    if found is None:
        return ""
    for (name, target_s), alone_s in zip(
        (("e2e", scenario.slo.latency_p99), ("TTFT", scenario.slo.ttft_p99)),
        (found[1], found[0]),
        strict=True,
    ):
        if target_s is not None and alone_s > (1 + OUT_OF_REACH_GAIN) * target_s:
            return (
                f"out of reach: requests served alone have a {name} p99 of {alone_s:.3g} s, "
                f"over the SLO's {target_s:g} s, with any number of replicas"
            )
    return ""


def size_candidate(
    runner: SettingRunner, candidate: Candidate, estimate: int | None = None
) -> Sized:
    """Search one candidate's replica count (fixed) or minimum (target tracking, one target)."""
    one = candidate_scenario(runner.base, candidate, 1)
    if estimate is None:
        estimate = analytic_replicas(one)
    reason = unreachable_slo(one)
    if reason:
        return Sized(candidate, estimate, None, None, [], reason)
    limit = min(MAX_REPLICAS, SEARCH_FACTOR * (estimate + 1))
    chosen, below = smallest_accepted(
        lambda n, most: runner.evaluate(candidate, n, most), estimate, limit
    )
    evaluations = sorted(
        (e for (c, _), e in runner.seen.items() if c == candidate), key=lambda e: e.replicas
    )
    note = ""
    if chosen is None and below is not None and below.good_days == 0:
        note = (
            f"no good day up to {below.replicas} replicas (median day's e2e p99 "
            f"{median_p99_s(below):.3g} s): out of reach"
        )
    elif chosen is None:
        note = f"no count up to {limit} was accepted"
    over_budget = False
    if chosen is not None and runner.base.budget.monthly_usd is not None:
        days = chosen.within_budget_days
        over_budget = decide(days, chosen.replications, runner.confidence) != ACCEPTED
        if over_budget:
            note = (
                f"meets the SLO at {chosen.replicas} replicas but only {days} of "
                f"{chosen.replications} days are within the budget"
            )
    undecided = [  # at the cap; a screen's unfinished settings are not undecided
        e
        for e in evaluations
        if e.status == UNDECIDED and e.replications >= runner.max_replications
    ]
    if undecided:
        note = (
            (note + "; " if note else "")
            + "undecided: "
            + ", ".join(f"{e.replicas} ({e.good_days}/{e.replications} good)" for e in undecided)
        )
    return Sized(candidate, estimate, chosen, below, evaluations, note, over_budget)


def candidates(
    base: Scenario, gpus: list[str], markets: list[str], policies: list[str]
) -> list[Candidate]:
    """Every (GPU, its tensor-parallel degree, market, policy) combination."""
    for policy in policies:
        if policy not in POLICIES:
            raise CapsimError(
                f"--policies: {policy!r} is not sized yet; allowed: {', '.join(POLICIES)}"
            )
    out = []
    for gpu in gpus:
        gpu_spec(gpu)  # an unknown GPU is a clear error before anything runs
        degree = tensor_parallel_degree(base, gpu)
        for market in markets:
            for policy in policies:
                candidate = Candidate(gpu, degree, market, policy)
                scenario = candidate_scenario(base, candidate, 1)
                if market not in resolve_rates(scenario).usd_per_replica_s:
                    raise CapsimError(
                        f"--markets {market}: the catalog has no {market} price for {gpu} "
                        f"on {scenario.fleet.provider}"
                    )
                out.append(candidate)
    return out


def size_targets(runner: SettingRunner, candidate: Candidate) -> Sized:
    """Target tracking: the fewest `min_replicas` per target of TARGETS, and the cheapest."""
    per_target = [size_candidate(runner, replace(candidate, target=target)) for target in TARGETS]
    accepted = [s for s in per_target if s.chosen is not None and not s.over_budget]
    pool = accepted or [s for s in per_target if s.chosen is not None] or per_target
    best = min(
        pool,
        key=lambda s: s.chosen.summary()["cost_monthly_usd"]["p50"] if s.chosen else math.inf,
    )
    best.evaluations = [e for s in per_target for e in s.evaluations]
    best.alternatives = per_target
    hotter = hotter_target(best.candidate.target)
    if best.chosen is not None and hotter is not None:
        # The next cheaper setting: the same minimum run hotter, on the same seeds.
        best.next_target = runner.evaluate(replace(candidate, target=hotter), best.chosen.replicas)
    return best


def hotter_target(target: float | None) -> float | None:
    """The next target of the grid above `target` (None above the last, or with no target)."""
    if target is None:
        return None
    return next((t for t in TARGETS if t > target), None)


def size_all(runner: SettingRunner, chosen: list[Candidate], on_sized=None) -> list[Sized]:
    """Size every candidate in turn on the runner's executor (`on_sized` hears of each)."""
    out = []
    for candidate in chosen:
        if candidate.policy == "target-tracking" and candidate.target is None:
            sized = size_targets(runner, candidate)
        else:
            sized = size_candidate(runner, candidate)
        if on_sized is not None:
            on_sized(sized)
        out.append(sized)
    return out


def parse_list(option: str, text: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    """A comma-separated option's items; CapsimError names the option and what it allows."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise CapsimError(f"{option}: give at least one value")
    for item in items:
        if allowed is not None and item not in allowed:
            raise CapsimError(f"{option}: unknown value {item!r}; allowed: {', '.join(allowed)}")
    return items
