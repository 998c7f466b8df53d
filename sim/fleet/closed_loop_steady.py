"""Mean TTFT, TPOT and throughput of N closed-loop clients on one replica, in steady state.

What a benchmark at a fixed concurrency measures (no think time), predicted from the
service model directly, so a calibration can evaluate it thousands of times a second:

- one client: the request alone (batch 1), exactly as the engine serves it;
- n = min(N, batch slots) clients in a continuous batch: a request's life is one
  prefill step beside n - 1 decodes, then output - 1 steps in which the n - 1 others'
  prefills fall (each client re-admits as it finishes, spread over the steps; when
  there are more of them than steps they share steps), the rest pure decodes of n;
  the context is n x (prompt + output / 2);
- more clients than slots: the batch stays full and the rest wait, so by Little's
  law the e2e is N / throughput and the wait adds to the TTFT.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.engine.service_time import RooflineModel


@dataclass(frozen=True)
class SteadyState:
    """Predicted means of one load point."""

    ttft_s: float
    tpot_s: float
    throughput_per_s: float
    e2e_s: float


def steady_state(
    service: RooflineModel, concurrency: int, prompt: float, output: float, slots: int
) -> SteadyState:
    """The means N = `concurrency` clients see on one replica of `slots` batch slots."""
    prompt_tokens = max(1, round(prompt))
    output_tokens = max(1, round(output))
    slots = max(1, min(slots, int(service.kv_capacity_tokens // max(1.0, prompt + output))))
    n = min(concurrency, slots)
    decode_steps = output_tokens - 1
    if n == 1:
        ttft, service_s = service.alone_times_s(prompt_tokens, output_tokens)
    else:
        context = n * (prompt + output / 2)
        ttft = service.step_s(prompt, n - 1, context)
        if decode_steps == 0:
            service_s = ttft
        else:
            per_step = (n - 1) / decode_steps  # others' admissions per decode step
            if per_step <= 1:
                mixed = n - 1
                mixed_s = ttft
            else:
                mixed = decode_steps
                mixed_s = service.step_s(prompt * per_step, n - per_step, context)
            pure_s = service.decode_span_s(1, n, context)
            service_s = ttft + mixed * mixed_s + (decode_steps - mixed) * pure_s
    tpot = (service_s - ttft) / decode_steps if decode_steps else 0.0
    throughput = n / service_s
    e2e = concurrency / throughput if concurrency > n else service_s
    return SteadyState(
        ttft_s=ttft + (e2e - service_s),
        tpot_s=tpot,
        throughput_per_s=throughput,
        e2e_s=e2e,
    )
