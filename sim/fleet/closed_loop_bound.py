"""The throughput closed-loop clients can reach: Little's law's asymptotic bounds.

N clients, each thinking Z s between a reply and its next request, complete at most
N / (T + Z) requests a second, where T is the time a request takes served alone
(queueing and batching only add to it); and no fleet completes more than its
capacity. The throughput bound is the smaller of the two (the asymptotic bounds of a
closed queueing network); `capsim run` shows where between them the fleet lands.
"""

from __future__ import annotations

from dataclasses import dataclass

from distributions.tokens import dist_mean_cv
from distributions.traffic import output_tokens_mean, prompt_tokens_mean
from sim.engine.service_time import LatencyModel, ServiceModel
from sim.fleet.capacity import replica_capacity_per_s
from sim.scenario import plugins
from sim.scenario.schema import Scenario


@dataclass(frozen=True)
class ClosedLoopBound:
    """The figures of the bound, in requests per second and seconds."""

    concurrency: int
    think_time_s: float  # mean
    request_time_s: float  # one request of mean size served alone
    clients_bound_per_s: float  # concurrency / (request time + think time)
    fleet_bound_per_s: float  # replicas x what one replica completes at most
    replicas: int  # the fleet the capacity counts (max_replicas under autoscaling)

    @property
    def throughput_per_s(self) -> float:
        return min(self.clients_bound_per_s, self.fleet_bound_per_s)

    @property
    def limited_by(self) -> str:
        """'clients' while adding clients still adds throughput, else 'fleet'."""
        return "clients" if self.clients_bound_per_s <= self.fleet_bound_per_s else "fleet"

    @property
    def saturation_concurrency(self) -> float:
        """N* = fleet capacity x (T + Z): the concurrency at which the two bounds meet."""
        return self.fleet_bound_per_s * (self.request_time_s + self.think_time_s)


def request_alone_s(scenario: Scenario, service: ServiceModel) -> float:
    """Time a request of mean size takes served alone (batch 1, no queue)."""
    if isinstance(service, LatencyModel):
        return float(service.alone_s(dist_mean_cv(scenario.service.latency)[0]))
    prompt = max(1, round(prompt_tokens_mean(scenario)))
    output = max(1, round(output_tokens_mean(scenario)))
    return float(service.alone_times_s(prompt, output)[1])


def replica_bound_per_s(scenario: Scenario, service: ServiceModel) -> float:
    """Most requests a second one replica can complete.

    Under continuous batching each request costs the replica its own prefill (a step
    of its prompt beside a full batch's decodes, which batching cannot share) and its
    share of the decode steps: a full batch of `slots` yields `slots` tokens a step,
    so output / slots steps per request, one of them the prefill step. Otherwise
    `replica_capacity_per_s` (one full batch at a time).
    """
    if (
        isinstance(service, LatencyModel)
        or not plugins.BATCHING[scenario.batching.policy].per_token_steps
    ):
        return replica_capacity_per_s(scenario, service)
    prompt = prompt_tokens_mean(scenario)
    output = output_tokens_mean(scenario)
    slots = max(
        1,
        min(
            scenario.batching.max_batch,
            int(service.kv_capacity_tokens // max(1.0, prompt + output)),
        ),
    )
    context = slots * (prompt + output / 2)
    prefill_step_s = service.step_s(prompt, slots - 1, context)
    decode_step_s = service.decode_span_s(1, slots, context)
    return 1.0 / (prefill_step_s + max(0.0, output / slots - 1.0) * decode_step_s)


def closed_loop_bound(scenario: Scenario, service: ServiceModel) -> ClosedLoopBound:
    """The asymptotic throughput bounds of the scenario's closed-loop clients."""
    traffic = scenario.traffic
    think = traffic.think_time
    think_s = dist_mean_cv(think)[0] if think is not None else 0.0
    alone_s = request_alone_s(scenario, service)
    scales = plugins.AUTOSCALING[scenario.autoscaling.policy].scales
    replicas = scenario.autoscaling.max_replicas if scales else scenario.fleet.replicas
    concurrency = traffic.concurrency or 1
    return ClosedLoopBound(
        concurrency=concurrency,
        think_time_s=think_s,
        request_time_s=alone_s,
        clients_bound_per_s=concurrency / (alone_s + think_s),
        fleet_bound_per_s=replicas * replica_bound_per_s(scenario, service),
        replicas=replicas,
    )
