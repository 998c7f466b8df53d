"""Mixed steps under a token budget (chunked prefill sharing steps with decodes):
the compiled kernel and the SimPy engine agree bit for bit, and prefill
interference shows in the time per output token as load grows."""

from __future__ import annotations

import pytest
from engine_helpers import run_once
from test_compiled_dynamic import assert_same_outcome, both_engines
from test_fixed_fleet import ROOFLINE

from sim.engine.request_log import COMPLETED

CHUNKED = [
    *ROOFLINE,
    'fleet.gpu="A100-80GB"',
    "model={parameters=8.03e9, layers=32, hidden_size=4096, kv_heads=8, head_dim=128}",
    'requests.prompt_tokens={dist="lognormal", mean=1500, cv=1.0}',
    'requests.output_tokens={dist="lognormal", mean=120, cv=0.8}',
]


@pytest.mark.parametrize(
    ("budget", "replicas", "router", "rate"),
    [(64, 2, "least-loaded", 3.0), (300, 3, "round-robin", 8.0), (None, 2, "shared-queue", 6.0)],
)
def test_kernel_and_simpy_agree_on_chunked_prefill(budget, replicas, router, rate) -> None:
    sets = [
        *CHUNKED,
        'batching={policy="continuous", max_batch=16}',
        f"fleet.replicas={replicas}",
        f'fleet.router="{router}"',
        f"traffic.rate_per_s={rate}",
        "horizon=300",
    ]
    if budget is not None:
        sets.append(f"batching.max_num_batched_tokens={budget}")
    kernel, simpy = both_engines(sets, seed=11)
    assert_same_outcome(sets, kernel, simpy)
    assert (kernel.log.status == COMPLETED).sum() > 0.5 * len(kernel.log.status)


def _mean_tpot_s(rate: float, budget: int) -> float:
    result = run_once(
        [
            *CHUNKED,
            'batching={policy="continuous", max_batch=32}',
            f"batching.max_num_batched_tokens={budget}",
            "fleet.replicas=1",
            f"traffic.rate_per_s={rate}",
            "horizon=600",
        ]
    )
    return result.latency_s["tpot"]["mean"]


def test_prefill_interference_raises_tpot_as_load_grows() -> None:
    """Decodes share their steps with other requests' prompt chunks: the more arrivals,
    the more of a decode's steps carry prefill, and the longer each of its tokens takes.
    A smaller budget spreads each prompt over more, cheaper steps."""
    light, heavy = _mean_tpot_s(0.5, 2048), _mean_tpot_s(4.0, 2048)
    assert heavy > 1.5 * light
    assert _mean_tpot_s(4.0, 256) < heavy
