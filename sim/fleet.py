"""Put the fleet in motion: the warm replicas at t = 0, then the autoscaler and the spot market."""

from __future__ import annotations

import math

import numpy as np

from distributions.tokens import dist_mean_cv, sample
from sim.autoscaler import autoscaler
from sim.capacity import replica_capacity_per_s
from sim.engine_state import EngineState
from sim.scenario import Fixed, Scenario
from sim.serverless import attach_serverless_scaler
from sim.service_time import ServiceModel
from sim.spot import launch_market, spot_terms, watch_spot_replicas
from sim.traffic import traffic_profile


def replica_market(scenario: Scenario, markets_up: list[str]) -> str:
    """How the next replica is bought, given the markets of those up.

    With `spot_fraction`, spot while the fleet's spot share stays at the fraction
    (rounded half up), so the mix holds as the fleet grows, shrinks and loses spot.
    """
    fleet = scenario.fleet
    if scenario.autoscaling.policy == "serverless" or fleet.market == "serverless":
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


def uses_spot(scenario: Scenario) -> bool:
    fleet = scenario.fleet
    return fleet.market == "spot" or bool(fleet.spot_fraction)


def start_fleet(
    state: EngineState,
    scenario: Scenario,
    service: ServiceModel,
    streams: dict[str, np.random.Generator],
) -> None:
    """Start the initial replicas (warm) and the processes that change the fleet."""
    config = scenario.autoscaling
    fleet_rng = streams["fleet"]
    spot_rng = streams["spot"]
    cold_start = config.cold_start_dist
    if isinstance(cold_start, Fixed):
        cold_start_s = float(cold_start.value)  # draws nothing: no array per launch
        state.cold_start_sampler = lambda: cold_start_s
    else:
        state.cold_start_sampler = lambda: float(sample(cold_start, 1, fleet_rng)[0])
    concurrency = config.concurrency_per_replica
    if config.policy == "serverless" and concurrency and scenario.batching.policy != "none":
        state.max_batch = concurrency  # a container takes this many inputs at once
    for market in initial_markets(scenario):
        state.add_replica(cold_start_s=0.0, market=market)
    if uses_spot(scenario):
        watch_spot_replicas(state, spot_terms(scenario), scenario.spot, spot_rng)
    if config.policy == "fixed":
        return
    if config.policy == "serverless":
        attach_serverless_scaler(state, config)
        return

    def next_market() -> str:
        markets_up = [replica.market for replica in state.active_replicas()]
        return launch_market(replica_market(scenario, markets_up), scenario.spot, spot_rng)

    profile = traffic_profile(scenario)
    lead_s, _ = dist_mean_cv(cold_start)

    def forecast_rate_per_s(now_s: float) -> float:
        """The profile's mean rate over the next period, one cold start ahead."""
        start = now_s + lead_s
        return float(profile.integral(start, start + config.sync_period)) / config.sync_period

    capacity = replica_capacity_per_s(scenario, service)
    state.env.process(autoscaler(state, scenario, capacity, forecast_rate_per_s, next_market))
