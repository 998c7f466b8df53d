"""Helpers for the engine behaviour tests: hand-made workloads, log checks, a reference model.

The checks here read only the per-request log (arrival, start, first token,
finish, status, replica), so they are independent of the engine's own books.
`reference_continuous` is a plain step-by-step re-implementation of one
continuous-batching replica, written from the service-time formula alone, to
hold the engine's event-skipping plans against.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from distributions.traffic import RequestChunk
from sim.engine.request_log import COMPLETED, DROPPED, LOST, PENDING, TIMED_OUT
from sim.engine.service_time import RooflineModel
from sim.montecarlo.replication import replication_streams, simulate
from sim.montecarlo.results import ReplicationResult
from sim.scenario.file import load_scenario

# Llama-3.1-8B on one A100-40GB, fixed 200-token prompts and 300-token answers.
LLAMA_8B_A100 = [
    'service={model="roofline"}',
    "model={parameters=8.03e9, layers=32, kv_heads=8, head_dim=128}",
    'fleet.gpu="A100-40GB"',
    'requests.prompt_tokens={dist="fixed", value=200}',
    'requests.output_tokens={dist="fixed", value=300}',
]

# A 7B model with full multi-head attention on a 16 GB T4: 2 GB left for the KV cache.
LLAMA_7B_T4 = [
    'service={model="roofline"}',
    "model={parameters=7e9, layers=32, kv_heads=32, head_dim=128}",
    'fleet.gpu="T4"',
    'requests.prompt_tokens={dist="fixed", value=200}',
    'requests.output_tokens={dist="fixed", value=300}',
]


def run_requests(
    sets: list[str],
    arrival_s,
    prompt_tokens=None,
    output_tokens=None,
    base: str = "mmc",
    seed: int = 11,
) -> ReplicationResult:
    """Simulate a hand-made list of arrivals (default 200 prompt, 300 output tokens)."""
    scenario = load_scenario(base, sets)
    arrival = np.asarray(arrival_s, dtype=float)
    n = len(arrival)
    prompt = np.full(n, 200) if prompt_tokens is None else np.asarray(prompt_tokens)
    output = np.full(n, 300) if output_tokens is None else np.asarray(output_tokens)
    requests = RequestChunk(
        arrival, prompt.astype(np.int64), output.astype(np.int64), np.zeros(len(arrival), np.int16)
    )
    return simulate(scenario, requests, replication_streams(seed, 0), keep_log=True)


def assert_conserved(result: ReplicationResult, timeout_s: float | None = None) -> None:
    """arrived = completed + dropped + timed_out + in_flight + lost, and the log agrees.

    Each outcome is checked against the timestamps it implies, so a request
    counted in one bucket cannot secretly belong to another.
    """
    counts = result.requests
    total = (
        counts["completed"]
        + counts["dropped"]
        + counts["timed_out"]
        + counts["in_flight"]
        + counts["lost"]
    )
    assert counts["arrived"] == total, counts
    log = result.log
    assert log is not None
    assert counts["arrived"] == len(log.arrival_s)
    status = log.status
    assert set(np.unique(status)) <= {PENDING, COMPLETED, DROPPED, TIMED_OUT, LOST}
    for code, name in [
        (COMPLETED, "completed"),
        (DROPPED, "dropped"),
        (TIMED_OUT, "timed_out"),
        (PENDING, "in_flight"),
        (LOST, "lost"),
    ]:
        assert int(np.count_nonzero(status == code)) == counts[name], name
    done = status == COMPLETED
    arrival, start = log.arrival_s[done], log.start_s[done]
    first, finish = log.first_token_s[done], log.finish_s[done]
    assert np.all(np.isfinite(finish)) and np.all(np.isfinite(start))
    assert np.all(arrival <= start) and np.all(start <= first) and np.all(first <= finish)
    assert np.all(finish <= result.end_s + 1e-9)
    assert np.all(log.replica[done] >= 0)
    dropped = status == DROPPED
    assert np.all(np.isnan(log.start_s[dropped]))
    assert np.all(log.finish_s[dropped] >= log.arrival_s[dropped])
    timed_out = status == TIMED_OUT
    assert np.all(np.isnan(log.start_s[timed_out]))
    if timeout_s is not None:
        expected = log.arrival_s[timed_out] + timeout_s
        assert np.allclose(log.finish_s[timed_out], expected, rtol=0, atol=1e-9)
        assert np.all(start - arrival <= timeout_s + 1e-9)  # nobody served after leaving
    else:
        assert counts["timed_out"] == 0
    assert np.all(np.isnan(log.finish_s[status == PENDING]))


def max_overlap(begin_s: np.ndarray, end_s: np.ndarray) -> int:
    """Largest number of half-open intervals [begin, end) that hold at one instant."""
    if len(begin_s) == 0:
        return 0
    times = np.concatenate([begin_s, end_s])
    steps = np.concatenate([np.ones(len(begin_s)), -np.ones(len(end_s))])
    order = np.lexsort((steps, times))  # at equal times, ends (-1) before begins (+1)
    return int(np.cumsum(steps[order]).max())


def max_in_service(result: ReplicationResult, replica: int) -> int:
    """Most requests in service at once on `replica`, from the log (start <= t < finish)."""
    log = result.log
    mine = (log.replica == replica) & np.isfinite(log.start_s)
    finish = np.where(np.isnan(log.finish_s[mine]), np.inf, log.finish_s[mine])
    return max_overlap(log.start_s[mine], finish)


def max_waiting(result: ReplicationResult) -> int:
    """Most requests waiting at once: arrived, not started and not yet resolved."""
    log = result.log
    until = np.where(np.isfinite(log.start_s), log.start_s, log.finish_s)
    until = np.where(np.isnan(until), np.inf, until)
    return max_overlap(log.arrival_s, until)


def reference_continuous(
    model: RooflineModel,
    arrival_s: np.ndarray,
    prompt_tokens: np.ndarray,
    output_tokens: np.ndarray,
    max_batch: int,
) -> dict[str, np.ndarray]:
    """One continuous-batching replica, simulated one step at a time.

    At each step boundary the replica fills the step's token budget as vLLM V1 does:
    each running request that has its first token decodes one token; the prompt left
    part-way through prefill takes the next chunk; then waiting requests are admitted
    in arrival order while a batch slot, KV memory (prompt + output tokens, reserved
    up front) and budget are free, the last of them possibly prefilled only in part.
    A request needing more KV than the whole cache is dropped. A request's first
    token comes with the step that prefills the last of its prompt. Step time is
    max((2 P tokens + A pairs) / (peak MFU), (W + kv (context + prefill)) / (bw MBU))
    + all-reduces + overhead, where pairs are the (query, key) pairs of attention:
    each decoder's context, and for a chunk of c tokens after d done, c d + c (c + 1) / 2.
    """
    n = len(arrival_s)
    start = np.full(n, math.nan)
    first = np.full(n, math.nan)
    finish = np.full(n, math.nan)
    status = np.zeros(n, dtype=np.int8)
    peak = model.peak_flops_per_s * model.mfu
    bandwidth = model.bandwidth_bytes_per_s * model.mbu

    def step_s(prefill: int, batch: int, context: int, pairs: float) -> float:
        compute = (
            2.0 * model.parameters * (prefill + batch)
            + model.attention_flops_per_pair * (context + pairs)
        ) / peak
        memory = (model.weight_bytes + model.kv_bytes_per_token * (context + prefill)) / bandwidth
        allreduce = model.allreduce_fixed_s + model.allreduce_s_per_token * (prefill + batch)
        return max(compute, memory) + allreduce + model.step_overhead_s

    now = 0.0
    next_arrival = 0
    waiting: deque[int] = deque()
    running: dict[int, list[int]] = {}  # decoding request -> [tokens generated, context]
    partial: list[int] = []  # [request, prompt tokens prefilled] part-way through prefill
    reserved = 0
    while next_arrival < n or waiting or running or partial:
        while next_arrival < n and arrival_s[next_arrival] <= now:
            waiting.append(next_arrival)
            next_arrival += 1
        if not waiting and not running and not partial:
            now = float(arrival_s[next_arrival])
            continue
        room = model.token_budget - len(running)
        chunks = []  # (request, chunk, tokens done before it)
        if partial:
            request, done = partial
            chunk = min(int(prompt_tokens[request]) - done, room)
            chunks.append((request, chunk, done))
            room -= chunk
        admitted = []
        slots = len(running) + len(partial)
        while room > 0 and waiting and slots + len(admitted) < max_batch:
            request = waiting[0]
            need = int(prompt_tokens[request] + output_tokens[request])
            if need > model.kv_capacity_tokens:
                waiting.popleft()
                status[request] = DROPPED
                finish[request] = now
                continue
            if reserved + need > model.kv_capacity_tokens:
                break
            waiting.popleft()
            reserved += need
            admitted.append(request)
            chunk = min(int(prompt_tokens[request]), room)
            chunks.append((request, chunk, 0))
            room -= chunk
        if not chunks and not running:
            continue
        context = sum(tokens[1] for tokens in running.values()) + sum(partial[1:])
        prefill = sum(chunk for _, chunk, _ in chunks)
        pairs = sum(chunk * done + chunk * (chunk + 1) / 2 for _, chunk, done in chunks)
        pairs -= sum(partial[1:])  # the part-way prompt's done tokens are in `context` too
        step_start = now
        now += step_s(prefill, len(running), context, pairs)
        for tokens in running.values():
            tokens[0] += 1
            tokens[1] += 1
        for request in admitted:
            start[request] = step_start
        partial = []
        for request, chunk, done in chunks:
            if done + chunk < prompt_tokens[request]:
                partial = [request, done + chunk]
                continue
            first[request] = now
            running[request] = [1, int(prompt_tokens[request]) + 1]
        for request in [r for r, tokens in running.items() if tokens[0] >= output_tokens[r]]:
            del running[request]
            reserved -= int(prompt_tokens[request] + output_tokens[request])
            status[request] = COMPLETED
            finish[request] = now
    return {"start_s": start, "first_token_s": first, "finish_s": finish, "status": status}
