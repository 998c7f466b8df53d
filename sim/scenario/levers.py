"""Settings the cost levers derive: a TTL cache's expected hit share, the routed fleet."""

from __future__ import annotations

from sim.scenario.file import validate_scenario
from sim.scenario.schema import Levers, Scenario


def ttl_hit_share(rate_per_s: float, hit_rate: float, distinct_prompts: int, ttl_s: float) -> float:
    """Expected hit share under a TTL at a constant rate: each prompt's requests are
    Poisson at rate x hit_rate / distinct_prompts = lam, and a miss is followed by
    lam x ttl hits on average before its entry expires (a renewal cycle), so a
    cacheable request hits with probability lam ttl / (1 + lam ttl)."""
    lam_ttl = rate_per_s * hit_rate / distinct_prompts * ttl_s
    return hit_rate * lam_ttl / (1.0 + lam_ttl)


def routed_fleet_scenario(scenario: Scenario) -> Scenario:
    """The second deployment a routing share with to = "fleet" runs on: the small model
    (default: the scenario's) on its GPU, a fixed on-demand fleet of routing.replicas."""
    routing = scenario.levers.routing
    data = scenario.model_dump(mode="python")
    data["name"] = f"{scenario.name} (routed)"
    data["levers"] = Levers().model_dump(mode="python")
    if routing.model is not None:
        data["model"] = routing.model.model_dump(mode="python")
    if routing.gpu is not None:  # another GPU: its catalog price, not the main one's override
        data["fleet"]["gpu"] = routing.gpu
        data["pricing"]["gpu_usd_per_hour"] = None
    if routing.latency is not None:
        data["service"]["latency"] = routing.latency.model_dump(mode="python")
    data["fleet"].update(market="on-demand", spot_fraction=None, replicas=routing.replicas)
    data["autoscaling"]["policy"] = "fixed"
    data["pricing"]["reserved_replicas"] = 0
    return validate_scenario(data, source=f"{scenario.name}: levers.routing")
