"""The plug-ins a scenario names, each registered once under the name the scenario uses.

Routers, batching policies, service-time models, autoscaling policies and markets:
the schema takes its allowed values (and its error messages) from these registries,
and the rest of capsim asks an entry what it does (`router.shared_line`,
`policy.periodic`, `batching.batches`, `market.reclaimed`) instead of comparing
names. An entry names its implementation as "module:attribute"; the engine and the
fleet import it when they run it (`implementation`), so this module, at the bottom
of `sim`, imports nothing above `sim.scenario`.

A new router is one file (a factory `(rng) -> choose(loads) -> index`) and one line
here, `ROUTERS.register(Router("name", "what it does", "module:factory"))`. With
`compiled=False` (the default) it runs on the SimPy engine by itself. Register it
where every worker process imports it (here): a name registered at run time by one
process (as `tests/test_plugins.py` does) is unknown to a pool's other processes.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BeforeValidator, StringConstraints
from pydantic_core import PydanticCustomError


@dataclass(frozen=True)
class Plugin:
    """One registered name: what it is, where its code is, and whether the compiled loop has it."""

    name: str
    summary: str  # one line: what it does
    implementation: str = ""  # "module:attribute"; "" where the engine needs no code of its own
    compiled: bool = False  # the compiled loop (sim/engine/compiled_loop.py) runs it too


@dataclass(frozen=True)
class Router(Plugin):
    """Which replica a new request joins: a factory `(rng) -> choose(loads) -> index`."""

    shared_line: bool = False  # no choice at arrival: every replica pulls from one FIFO line


@dataclass(frozen=True)
class BatchingPolicy(Plugin):
    """How a replica groups the requests it serves."""

    batches: bool = True  # serves up to batching.max_batch requests at once (else one)
    per_token_steps: bool = False  # admits at decode-step boundaries: needs token timing


@dataclass(frozen=True)
class ServiceModel(Plugin):
    """How long a request (or a batch, or a decode step) takes on a replica."""

    token_timing: bool = False  # times each token: TTFT, TPOT, per-token batching
    from_hardware: bool = False  # computed from the GPU's specs, so the GPU type matters
    takes_latency: bool = False  # reads service.latency, a per-request latency distribution


@dataclass(frozen=True)
class AutoscalingPolicy(Plugin):
    """How the fleet's size changes over the run."""

    scales: bool = True  # changes the fleet's size (else the fleet stays at fleet.replicas)
    periodic: bool = False  # decides at sync instants (`ScalingPolicy`), not at each arrival
    containers: bool = False  # serverless containers: one shared line, billed per container
    needs_schedule: bool = False  # sizes the fleet from autoscaling.schedule
    metered: bool = False  # decides from the fleet's measured load (busy time, requests in flight)
    polled: bool = False  # decides every autoscaling.polling_interval (else sync_period)
    forecasts: bool = False  # decides from the traffic profile ahead, not from measurements
    fleet_scale: bool = False  # the fast engine (sim/fleetscale/fleet_loop.py) steps it too


@dataclass(frozen=True)
class Market(Plugin):
    """How a replica is bought and billed."""

    reclaimed: bool = False  # the provider may take it back after a notice (spot)
    committed: bool = False  # paid for whether used or not (reserved)
    containers: bool = False  # serverless containers, billed per container-second
    fleet_scale: bool = False  # the fast engine (sim/fleetscale/) bills and reclaims it too


P = TypeVar("P", bound=Plugin)
MAX_NAME_CHARS = 100  # a name fits on one line of a table or an error


class Registry(Generic[P]):
    """The plug-ins of one kind, in registration order (the order messages list them)."""

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind  # e.g. "router"
        self.key = key  # the scenario key that names one, e.g. "fleet.router"
        self._entries: dict[str, P] = {}

    def register(self, plugin: P) -> P:
        """Add a plug-in under its name; a name registered twice is an error."""
        if not 0 < len(plugin.name) <= MAX_NAME_CHARS:
            raise ValueError(f"a {self.kind}'s name has 1 to {MAX_NAME_CHARS} characters")
        if plugin.name in self._entries:
            raise ValueError(f"{self.kind} {plugin.name!r} is already registered")
        self._entries[plugin.name] = plugin
        return plugin

    def unregister(self, name: str) -> None:
        """Remove a plug-in (for tests that register one of their own)."""
        del self._entries[name]

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def __getitem__(self, name: str) -> P:
        try:
            return self._entries[name]
        except KeyError:
            allowed = ", ".join(self._entries)
            raise KeyError(f"unknown {self.kind} {name!r}; allowed: {allowed}") from None

    def check(self, value: Any) -> Any:
        """The scenario's value if it names a plug-in, else the schema's `literal_error`
        listing every registered name (as a `Literal` field would)."""
        if value in self:
            return value
        expected = [repr(name) for name in self._entries]
        listed = (
            f"{', '.join(expected[:-1])} or {expected[-1]}" if len(expected) > 1 else expected[0]
        )
        raise PydanticCustomError(
            "literal_error", "Input should be {expected}", {"expected": listed}
        )

    def field(self) -> Any:
        """The schema type of a key naming one of these plug-ins."""
        return Annotated[
            str, StringConstraints(max_length=MAX_NAME_CHARS), BeforeValidator(self.check)
        ]


def implementation(plugin: Plugin) -> Any:
    """The object a plug-in's "module:attribute" names, imported on first use."""
    module, _, attribute = plugin.implementation.partition(":")
    return getattr(importlib.import_module(module), attribute)


ROUTERS: Registry[Router] = Registry("router", "fleet.router")
ROUTERS.register(
    Router(
        "least-loaded",
        "the replica with the fewest queued plus running requests, ties at random",
        "sim.engine.routers:least_loaded",
        compiled=True,
    )
)
ROUTERS.register(
    Router("round-robin", "each replica in turn", "sim.engine.routers:round_robin", compiled=True)
)
ROUTERS.register(
    Router(
        "random",
        "a replica chosen uniformly at random",
        "sim.engine.routers:uniform_random",
        compiled=True,
    )
)
ROUTERS.register(
    Router(
        "shared-queue",
        "one FIFO line every replica pulls from (the M/M/c discipline)",
        compiled=True,
        shared_line=True,
    )
)

BATCHING: Registry[BatchingPolicy] = Registry("batching policy", "batching.policy")
BATCHING.register(BatchingPolicy("none", "one request at a time", compiled=True, batches=False))
BATCHING.register(
    BatchingPolicy(
        "static", "a batch starts together and ends with its longest request", compiled=True
    )
)
BATCHING.register(
    BatchingPolicy(
        "continuous",
        "admits and retires requests at each decode step (iteration-level batching)",
        compiled=True,
        per_token_steps=True,
    )
)

SERVICE_MODELS: Registry[ServiceModel] = Registry("service model", "service.model")
SERVICE_MODELS.register(
    ServiceModel(
        "roofline",
        "prefill and decode steps from the GPU's FLOP/s and memory bandwidth",
        "sim.engine.service_time:roofline_model",
        compiled=True,
        token_timing=True,
        from_hardware=True,
    )
)
SERVICE_MODELS.register(
    ServiceModel(
        "latency",
        "a given per-request latency, stretched for batches",
        "sim.engine.service_time:latency_model",
        compiled=True,
        takes_latency=True,
    )
)

AUTOSCALING: Registry[AutoscalingPolicy] = Registry("autoscaling policy", "autoscaling.policy")
AUTOSCALING.register(
    AutoscalingPolicy(
        "fixed", "fleet.replicas for the whole run", compiled=True, fleet_scale=True, scales=False
    )
)
AUTOSCALING.register(
    AutoscalingPolicy(
        "target-tracking",
        "the Kubernetes HPA rule on utilisation or in-flight requests",
        compiled=True,
        fleet_scale=True,
        periodic=True,
        metered=True,
    )
)
AUTOSCALING.register(
    AutoscalingPolicy(
        "queue-depth",
        "KEDA-style: replicas for the waiting requests",
        compiled=True,
        fleet_scale=True,
        periodic=True,
        metered=True,
        polled=True,
    )
)
AUTOSCALING.register(
    AutoscalingPolicy(
        "scheduled",
        "replicas by time of day from autoscaling.schedule",
        compiled=True,
        fleet_scale=True,
        periodic=True,
        needs_schedule=True,
    )
)
AUTOSCALING.register(
    AutoscalingPolicy(
        "predictive",
        "the profile's rate one cold start ahead",
        compiled=True,
        fleet_scale=True,
        periodic=True,
        forecasts=True,
    )
)
AUTOSCALING.register(
    AutoscalingPolicy(
        "serverless",
        "containers started per request, kept warm for idle_timeout, scaled to zero",
        compiled=True,
        fleet_scale=True,
        containers=True,
    )
)

MARKETS: Registry[Market] = Registry("market", "fleet.market")
MARKETS.register(
    Market("on-demand", "billed by the second while up", compiled=True, fleet_scale=True)
)
MARKETS.register(
    Market(
        "spot",
        "cheaper, reclaimed as a Poisson process after a notice",
        compiled=True,
        fleet_scale=True,
        reclaimed=True,
    )
)
MARKETS.register(
    Market(
        "reserved",
        "committed replicas, paid for over the whole horizon",
        compiled=True,
        fleet_scale=True,
        committed=True,
    )
)
MARKETS.register(
    Market(
        "serverless",
        "containers billed per container-second",
        compiled=True,
        fleet_scale=True,
        containers=True,
    )
)
