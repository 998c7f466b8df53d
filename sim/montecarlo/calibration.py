"""Fit the step model's free parameters to measured results by least squares.

The parameters are a list of `[service]` keys (those of `FREE_PARAMETERS` the schema
has, so a key added to the step model joins the fit by adding it here); each
measured point is predicted by `closed_loop_steady.steady_state` on one replica of
the scenario, and the residuals are relative errors, so TTFT, TPOT and throughput
weigh alike whatever their units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from sim.engine.service_time import RooflineModel, build_service_model
from sim.errors import CapsimError
from sim.fleet.closed_loop_steady import SteadyState, steady_state
from sim.scenario import plugins
from sim.scenario.measurements import METRICS, MeasuredPoint
from sim.scenario.schema import Scenario, Service

# [service] key: (lowest, highest, typical step) a fit may take.
FREE_PARAMETERS: dict[str, tuple[float, float, float]] = {
    "mfu": (0.001, 1.0, 0.1),
    "mbu": (0.001, 1.0, 0.1),
    "step_overhead": (0.0, 0.1, 1e-3),  # seconds a step
    "link_efficiency": (0.001, 1.0, 0.1),  # the tensor-parallel link's share of its bandwidth
}


@dataclass(frozen=True)
class Residual:
    """One measured figure against its prediction."""

    source: str
    concurrency: int
    metric: str
    measured: float
    predicted: float

    @property
    def relative_error(self) -> float:
        return self.predicted / self.measured - 1.0


@dataclass(frozen=True)
class Calibration:
    """The fitted parameters, the starting ones, and every point's residual."""

    fitted: dict[str, float]
    start: dict[str, float]
    residuals: list[Residual]
    start_residuals: list[Residual]
    undetermined: list[str]  # parameters these points cannot tell apart (see `_undetermined`)

    @property
    def rms_relative_error(self) -> float:
        return _rms(self.residuals)

    @property
    def start_rms_relative_error(self) -> float:
        return _rms(self.start_residuals)


def _rms(residuals: list[Residual]) -> float:
    errors = [r.relative_error for r in residuals]
    return math.sqrt(sum(e * e for e in errors) / len(errors)) if errors else math.nan


def free_parameters(scenario: Scenario) -> list[str]:
    """The `[service]` keys a calibration fits: those of FREE_PARAMETERS the schema has,
    less those the scenario cannot feel (a link efficiency without tensor parallelism,
    whose zero gradient would stall the fit)."""
    names = [name for name in FREE_PARAMETERS if name in Service.model_fields]
    if scenario.fleet.gpus_per_replica == 1:
        names = [name for name in names if name != "link_efficiency"]
    return names


def current_value(service: Service, name: str) -> float:
    """A free parameter's value in force: the file's, else its default (an unset
    `step_overhead` is the model's own, `step_overhead_s`)."""
    value = getattr(service, name)
    return float(getattr(service, f"{name}_s") if value is None else value)


def with_parameters(scenario: Scenario, values: dict[str, float]) -> Scenario:
    """The scenario with these `[service]` values (trial values: not re-validated)."""
    return scenario.model_copy(update={"service": scenario.service.model_copy(update=values)})


def predict(scenario: Scenario, point: MeasuredPoint) -> SteadyState:
    """The point's means on one replica of the scenario."""
    service = build_service_model(scenario)
    if not isinstance(service, RooflineModel):
        raise CapsimError(
            f"{scenario.name}: service.model = {scenario.service.model!r} has no step model "
            "to calibrate; calibrate fits service.model = 'roofline'"
        )
    batching = scenario.batching
    slots = batching.max_batch if plugins.BATCHING[batching.policy].per_token_steps else 1
    return steady_state(service, point.concurrency, point.prompt_tokens, point.output_tokens, slots)


def residuals(scenario: Scenario, points: list[MeasuredPoint]) -> list[Residual]:
    """Every measured figure of every point against the scenario's prediction."""
    out = []
    for point in points:
        predicted = predict(scenario, point)
        for metric, measured in point.measured().items():
            value = getattr(predicted, metric)
            out.append(Residual(point.source, point.concurrency, metric, measured, value))
    return out


def calibrate(
    scenario: Scenario, points: list[MeasuredPoint], names: list[str] | None = None
) -> Calibration:
    """Least-squares fit of the named `[service]` parameters to the measured points."""
    names = names or free_parameters(scenario)
    measured = sum(len(p.measured()) for p in points)
    if measured < len(names):
        raise CapsimError(
            f"{measured} measured figures cannot determine {len(names)} parameters "
            f"({', '.join(names)}); measure more points (e.g. concurrency 1 and a batch)"
        )
    start = {name: current_value(scenario.service, name) for name in names}
    low = np.array([FREE_PARAMETERS[n][0] for n in names])
    high = np.array([FREE_PARAMETERS[n][1] for n in names])
    x0 = np.clip(np.array([start[n] for n in names]), low, high)
    scale = np.array([FREE_PARAMETERS[n][2] for n in names])  # one typical step each

    def relative_errors(x: np.ndarray) -> np.ndarray:
        trial = with_parameters(scenario, dict(zip(names, x.tolist(), strict=True)))
        return np.array([r.relative_error for r in residuals(trial, points)])

    fit = least_squares(
        relative_errors, x0, bounds=(low, high), x_scale=scale, xtol=1e-12, ftol=1e-12
    )
    fitted = dict(zip(names, fit.x.tolist(), strict=True))
    return Calibration(
        fitted=fitted,
        start=start,
        residuals=residuals(with_parameters(scenario, fitted), points),
        start_residuals=residuals(scenario, points),
        undetermined=_undetermined(names, np.asarray(fit.jac) * scale),
    )


def _undetermined(names: list[str], jacobian: np.ndarray, ratio: float = 1e-4) -> list[str]:
    """Parameters the points do not pin down: those with a large share in a direction the
    residuals hardly change along (a singular value below `ratio` of the largest, on the
    Jacobian scaled by each parameter's typical step). E.g. batch-1 TPOT alone cannot
    split MBU from the step overhead."""
    _, singular, directions = np.linalg.svd(jacobian, full_matrices=True)
    singular = np.concatenate([singular, np.zeros(len(names) - len(singular))])
    weak = set()
    for value, direction in zip(singular, directions, strict=True):
        if value <= ratio * max(singular[0], 1e-300):
            weak.update(n for n, w in zip(names, direction, strict=True) if abs(w) > 0.3)
    return [n for n in names if n in weak]


__all__ = ["METRICS", "Calibration", "Residual", "calibrate", "free_parameters", "predict"]
