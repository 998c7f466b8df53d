"""The precision a replica's matmuls run at, and that precision's peak FLOP/s per GPU."""

from __future__ import annotations

from sim.scenario.catalog import gpu_spec
from sim.scenario.schema import Scenario


def compute_precision(scenario: Scenario) -> str:
    """`model.compute_precision`, or for "auto" FP8 when the weights are one byte and
    the GPU has FP8 tensor cores (W8A8), else BF16 (weight-only INT4/INT8 dequantise)."""
    asked = scenario.model.compute_precision
    if asked != "auto":
        return asked
    one_byte = scenario.model.bytes_per_param == 1
    return "fp8" if one_byte and gpu_spec(scenario.fleet.gpu).fp8_tflops else "bf16"


def peak_flops_per_s(scenario: Scenario) -> float:
    """One GPU's dense tensor-core peak at the scenario's compute precision; CapsimError
    if the catalog gives the GPU none at that precision."""
    return gpu_spec(scenario.fleet.gpu).peak_flops_per_s_at(compute_precision(scenario))
