"""Put the fleet in motion: the warm replicas at t = 0, then the autoscaler and the spot market."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from distributions.tokens import dist_mean_cv, sample
from distributions.traffic import traffic_profile
from sim.engine.environment import ServingEnvironment
from sim.engine.routers import make_router
from sim.engine.service_time import ServiceModel
from sim.engine.state import EngineState, Workload
from sim.fleet.autoscaler import ScalingPolicy, autoscaler
from sim.fleet.capacity import replica_capacity_per_s
from sim.fleet.serverless import attach_serverless_scaler
from sim.fleet.spot import launch_market, watch_spot_replicas
from sim.scenario.plugins import AUTOSCALING, BATCHING, MARKETS
from sim.scenario.schema import Scenario
from sim.scenario.spot_terms import spot_terms


def replica_market(scenario: Scenario, markets_up: list[str]) -> str:
    """How the next replica is bought, given the markets of those up.

    With `spot_fraction`, spot while the fleet's spot share stays at the fraction
    (rounded half up), so the mix holds as the fleet grows, shrinks and loses spot.
    """
    fleet = scenario.fleet
    if AUTOSCALING[scenario.autoscaling.policy].containers or MARKETS[fleet.market].containers:
        return "serverless"
    if fleet.spot_fraction is not None:
        spot_wanted = math.floor(fleet.spot_fraction * (len(markets_up) + 1) + 0.5)
        return "spot" if markets_up.count("spot") < spot_wanted else "on-demand"
    return fleet.market


def initial_markets(scenario: Scenario) -> list[str]:
    """Markets of the replicas that are up and warm when the run starts."""
    markets: list[str] = []
    for _ in range(scenario.fleet.replicas):
        markets.append(replica_market(scenario, markets))
    return markets


def cold_start_sampler(scenario: Scenario, rng: np.random.Generator) -> Callable[[], float]:
    """One cold start per call, drawn from the scenario's distribution (both engines)."""
    cold_start = scenario.autoscaling.cold_start_dist
    if cold_start.dist == "fixed":
        cold_start_s = float(cold_start.value)  # draws nothing: no array per launch
        return lambda: cold_start_s
    return lambda: float(sample(cold_start, 1, rng)[0])


def scaling_policy(scenario: Scenario, service: ServiceModel) -> ScalingPolicy:
    """The periodic policy's decision rule, with the predictive policy's forecast."""
    config = scenario.autoscaling
    # Only the predictive policy forecasts (closed-loop clients have no profile).
    profile = traffic_profile(scenario) if config.policy == "predictive" else None
    lead_s, _ = dist_mean_cv(config.cold_start_dist)

    def forecast_rate_per_s(now_s: float) -> float:
        """The profile's mean rate over the next period, one cold start ahead."""
        start = now_s + lead_s
        return float(profile.integral(start, start + config.sync_period)) / config.sync_period

    return ScalingPolicy(config, replica_capacity_per_s(scenario, service), forecast_rate_per_s)


def start_fleet(
    state: EngineState,
    scenario: Scenario,
    service: ServiceModel,
    streams: dict[str, np.random.Generator],
) -> None:
    """Start the initial replicas (warm) and the processes that change the fleet."""
    config = scenario.autoscaling
    spot_rng = streams["spot"]
    state.cold_start_sampler = cold_start_sampler(scenario, streams["fleet"])
    policy = AUTOSCALING[config.policy]
    concurrency = config.concurrency_per_replica
    if policy.containers and concurrency and BATCHING[scenario.batching.policy].batches:
        state.max_batch = concurrency  # a container takes this many inputs at once
    for market in initial_markets(scenario):
        state.add_replica(cold_start_s=0.0, market=market)
    if scenario.fleet.uses_spot:
        watch_spot_replicas(state, spot_terms(scenario), scenario.spot, spot_rng)
    if policy.containers:
        attach_serverless_scaler(state, config)
    if not policy.periodic:
        return

    def next_market() -> str:
        markets_up = [replica.market for replica in state.active_replicas()]
        return launch_market(replica_market(scenario, markets_up), scenario.spot, spot_rng)

    state.env.process(autoscaler(state, scaling_policy(scenario, service), next_market))


def simpy_fleet(
    scenario: Scenario,
    workload: Workload,
    service: ServiceModel,
    streams: dict[str, np.random.Generator],
) -> EngineState:
    """The SimPy engine's state for the workload, its fleet started (`start_fleet`) in a
    new environment (`state.env`); the caller feeds it arrivals or clients."""
    containers = AUTOSCALING[scenario.autoscaling.policy].containers  # one shared line
    router = None if containers else make_router(scenario.fleet.router, streams["routing"])
    state = EngineState(
        env=ServingEnvironment(),
        workload=workload,
        service=service,
        batching=scenario.batching,
        router=router,
        max_queue=scenario.admission.max_queue,
    )
    start_fleet(state, scenario, service, streams)
    return state
