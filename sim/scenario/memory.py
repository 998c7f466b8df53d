"""What a replica's GPU memory holds: the weights, and the KV cache in a share of the rest."""

from __future__ import annotations

import math

from sim.errors import CapsimError
from sim.scenario.catalog import gpu_spec
from sim.scenario.schema import Model, Scenario


def kv_bytes_per_token(model: Model) -> float:
    """KV-cache bytes one token of context holds (K and V, every layer).

    From the architecture when given (2 x layers x kv_heads x head_dim x bytes);
    else from layers x hidden size (multi-head attention); else estimated from the
    parameter count, assuming params = 12 x layers x hidden^2 and hidden = 128 x
    layers, which recovers Llama-2-7B's 32 layers x 4096 within 3%.
    """
    if model.kv_bytes_per_token is not None:
        return model.kv_bytes_per_token
    element = model.kv_bytes_per_element
    if model.layers and model.kv_heads and model.head_dim:
        return 2.0 * model.layers * model.kv_heads * model.head_dim * element
    if model.layers and model.hidden_size:
        return 2.0 * model.layers * model.hidden_size * element
    layers = (model.parameters / (12 * 128**2)) ** (1 / 3)
    return 2.0 * layers * 128 * layers * element


def layers_and_hidden(model: Model) -> tuple[float, float]:
    """(layers, hidden size) of the model: as given, else by the estimate above
    (params = 12 x layers x hidden^2, hidden = 128 x layers)."""
    layers = (model.parameters / (12 * 128**2)) ** (1 / 3)
    if model.layers:
        layers = float(model.layers)
    if model.hidden_size:
        return layers, float(model.hidden_size)
    if model.layers:
        return layers, math.sqrt(model.parameters / (12 * layers))
    return layers, 128 * layers


def kv_budget_bytes(memory_bytes: float, weight_bytes: float, kv_fraction: float) -> float:
    """KV-cache bytes an engine allocates: `kv_fraction` of the memory the weights leave
    (as TensorRT-LLM's free_gpu_memory_fraction); the rest is activations and workspace."""
    return (memory_bytes - weight_bytes) * kv_fraction


def kv_memory_bytes(scenario: Scenario) -> float:
    """Bytes of one replica's KV cache (`service.kv_cache_memory_fraction` of the memory
    left after the weights); CapsimError if the weights do not fit."""
    gpu = gpu_spec(scenario.fleet.gpu)
    n_gpus = scenario.fleet.gpus_per_replica
    model = scenario.model
    free_bytes = gpu.memory_bytes * n_gpus - model.weight_bytes
    if free_bytes <= 0:
        raise CapsimError(
            f"the model's weights ({model.weight_bytes / 1e9:.1f} GB) do not fit in "
            f"{n_gpus} x {gpu.name} ({gpu.memory_gb * n_gpus:.0f} GB): raise "
            f"fleet.gpus_per_replica or lower model.bytes_per_param"
        )
    return kv_budget_bytes(
        gpu.memory_bytes * n_gpus, model.weight_bytes, scenario.service.kv_cache_memory_fraction
    )
