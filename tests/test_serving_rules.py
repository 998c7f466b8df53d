"""The serving rules of sim/engine/rules/: each checked against arithmetic worked by hand,
and shown to be the one function both engines call (the SimPy modules and the compiled
loop hold the same function object, so the rule exists once)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.engine import compiled_loop, replica, routers, state, waiting_line
from sim.engine.rules import books, continuous, kv_memory, lifecycle, routing, static_batch
from sim.engine.rules import waiting_line as line_rules
from sim.engine.waiting_line import WaitingLine
from sim.fleet import serverless

# ---------------------------------------------------------------- routing


def test_least_loaded_tie_is_broken_by_the_draw_among_the_tied_in_order():
    loads = np.array([3, 1, 4, 1, 1, 5], dtype=np.int64)
    assert routing.fewest(loads) == (1, 3)  # replicas 1, 3 and 4 share the least load
    assert routing.tie_needs_draw(3) and not routing.tie_needs_draw(1)
    # A draw u in [0, 1) passes over int(3u) of them: [0, 1/3) -> 1, [1/3, 2/3) -> 3, else 4.
    for draw, chosen in [(0.0, 1), (0.3333, 1), (0.34, 3), (0.6666, 3), (0.67, 4), (0.9999, 4)]:
        skip = routing.tie_skip(draw, 3)
        assert routing.nth_with_load(loads, 1, skip) == chosen
    assert routing.nth_with_load(loads, 1, 3) == -1  # only three are tied
    assert routing.nth_with_load(loads, 2, 0) == -1  # nobody has that load


def test_round_robin_and_random_picks():
    assert [routing.round_robin_pick(turn, 3) for turn in range(1, 7)] == [1, 2, 0, 1, 2, 0]
    assert [routing.random_pick(u, 4) for u in (0.0, 0.2499, 0.25, 0.9999)] == [0, 0, 1, 3]


def test_the_simpy_least_loaded_router_takes_the_tied_replica_its_draw_names():
    """The router's draws are the generator's blocks of 4096 reversed (`routers._draw_block`):
    with three tied replicas, the first tie goes to the int(3 u)-th of them."""
    loads = [2, 0, 5, 0, 0]
    choose = routers.least_loaded(np.random.default_rng(11))
    first_draw = np.random.default_rng(11).random(4096)[-1]
    assert choose(loads) == [1, 3, 4][int(first_draw * 3)]
    # A lone least-loaded replica takes no draw: the next tie still uses the first number
    # (the second would name another replica here).
    second_draw = np.random.default_rng(11).random(4096)[-2]
    assert int(second_draw * 3) != int(first_draw * 3)
    choose = routers.least_loaded(np.random.default_rng(11))
    assert choose([4, 1, 2]) == 1
    assert choose(loads) == [1, 3, 4][int(first_draw * 3)]


# ---------------------------------------------------------------- the waiting line


@pytest.mark.parametrize(
    ("waiting", "max_queue", "sharers", "room"),
    [
        (0, -1, 1, True),  # no cap
        (10**9, -1, 0, True),
        (2, 3, 1, True),
        (3, 3, 1, False),  # a cap of 3 holds 3
        (3, 3, 0, False),  # a shared line counts at least one replica
        (5, 3, 2, True),  # a shared line of 2 replicas holds 6
        (6, 3, 2, False),
        (0, 0, 4, False),  # a cap of zero lets nobody wait
    ],
)
def test_queue_cap(waiting, max_queue, sharers, room):
    assert line_rules.line_has_room(waiting, max_queue, sharers) is room


def test_a_client_waiting_until_exactly_its_deadline_has_not_given_up():
    assert not line_rules.gave_up(5.0, 5.0)
    assert line_rules.gave_up(5.0, math.nextafter(5.0, 6.0))
    assert not line_rules.gave_up(math.inf, 1e300)


def test_kv_fit_edge():
    """A context of exactly the KV memory fits, one token more never does."""
    assert not kv_memory.never_fits(1000, 24, 1024)
    assert kv_memory.never_fits(1000, 25, 1024)
    assert not kv_memory.never_fits(10**9, 10**9, math.inf)  # a latency model holds any
    assert kv_memory.kv_fits(1000, 24, 1024)  # a second member filling the memory exactly
    assert not kv_memory.kv_fits(1000, 25, 1024)


# ---------------------------------------------------------------- static batches


def test_static_batch_membership_by_slots_and_kv_worked_by_hand():
    """Contexts of 300, 400, 200 and 100 tokens at the head, 900 tokens of KV and batches
    of up to 3: 300 + 400 fit (700), + 200 fills it (900); the 100 waits for the next
    batch because three slots are taken. With 850 tokens the batch stops at two."""

    def members(contexts, kv_tokens, max_batch):
        reserved, size = contexts[0], 1
        while static_batch.batch_open(size, max_batch) and size < len(contexts):
            if not kv_memory.kv_fits(reserved, contexts[size], kv_tokens):
                break
            reserved += contexts[size]
            size += 1
        return size

    assert members([300, 400, 200, 100], 900, 3) == 3
    assert members([300, 400, 200, 100], 850, 3) == 2
    assert members([300, 400, 200, 100], 10_000, 8) == 4


def test_a_static_batch_runs_one_prefill_step_then_its_longest_output():
    """Prompts 3 and 5, outputs 4 and 7, on a roofline whose every step takes 10 ms:
    first token after the one prefill step, the end after 6 more decode steps."""
    flat_10ms = (0.0, 0.01, 0.0, 0.0, 0.0, 0.0, 0.0)
    totals = (0, 0.0, 0)
    for prompt_tokens, output_tokens in ((3, 4), (5, 7)):
        totals = static_batch.add_member(*totals, prompt_tokens, output_tokens)
    assert totals == (8, 3 * 4 / 2 + 5 * 6 / 2, 7)
    first_s, duration_s = static_batch.roofline_batch_times_s(flat_10ms, *totals, 2)
    assert first_s == pytest.approx(0.01, rel=1e-12)
    assert duration_s == pytest.approx(0.07, rel=1e-12)


def test_fill_wait_worked_by_hand():
    """A head that arrived at t = 10 with max_wait 2 s waits at t = 10.5 until t = 12 (1.5 s),
    unless a full batch waits or the wait is over; no max_wait: never waits."""
    assert static_batch.fill_wait_s(2.0, 3, 8, 10.0, 10.5) == 1.5
    assert static_batch.fill_wait_s(2.0, 8, 8, 10.0, 10.5) == -1.0
    assert static_batch.fill_wait_s(2.0, 3, 8, 10.0, 12.0) == -1.0
    assert static_batch.fill_wait_s(0.0, 3, 8, 10.0, 10.5) == -1.0
    assert static_batch.starts_now(0.0, 1, 8) and static_batch.starts_now(2.0, 8, 8)
    assert not static_batch.starts_now(2.0, 7, 8)


# ---------------------------------------------------------------- accounting


def test_line_length_integral_worked_by_hand():
    """Joins at 0 and 1, leaves at 3 and 4: 1 x 1 + 2 x 2 + 1 x 1 = 6 request-seconds."""
    line = WaitingLine()
    line.push(0, 0.0)
    line.push(1, 1.0)
    assert line.length_area_until(2.0) == 1.0 + 2.0
    line.pop(3.0)
    line.pop(4.0)
    line.close(10.0)
    assert line.length_area == 6.0
    assert books.accrue(6.0, 0, 4.0, 10.0) == 6.0


def test_a_client_who_gave_up_counts_only_until_it_left():
    """Joined at 1, deadline 3, noticed at 5: it waited 2 s, not 4; one who joined after its
    deadline (a retry, say) waited not at all."""
    assert books.expired_overcount(5.0, 1.0, 3.0) == 2.0
    assert books.expired_overcount(5.0, 4.0, 3.0) == 1.0
    line = WaitingLine()
    line.push(0, 1.0)
    assert line.drop_expired(5.0, [3.0]) == [0]
    line.close(9.0)
    assert line.length_area == 2.0


def test_busy_time_counts_only_while_serving():
    assert books.accrue_busy(0.0, 0.0, 0, 0.0, 7.0) == (0.0, 0.0)  # idle for 7 s
    assert books.accrue_busy(1.0, 3.0, 4, 2.0, 2.5) == (1.5, 5.0)  # 4 running for 0.5 s


# ---------------------------------------------------------------- stopping


def test_drain_reclaim_and_retirement_rules():
    assert lifecycle.drained(True, 0)
    assert not lifecycle.drained(True, 2)  # finishes what it holds first
    assert not lifecycle.drained(False, 0)  # not draining: it idles
    assert lifecycle.retried_after_reclaim(2, 100.0, 30.0) == (3, 130.0)
    assert lifecycle.retires_idle(3, 2, 0)
    assert not lifecycle.retires_idle(2, 2, 0)  # min_replicas stay warm
    assert not lifecycle.retires_idle(3, 2, 1)  # somebody waits
    assert lifecycle.idle_timer_fires(True, 40.0, 40.0)
    assert not lifecycle.idle_timer_fires(True, 55.0, 40.0)  # it worked since: a newer timer
    assert not lifecycle.idle_timer_fires(False, 40.0, 40.0)


# ---------------------------------------------------------------- written once

# Each rule, with the SimPy-side modules that call it.
SIMPY_USERS = {
    routing.round_robin_pick: [routers],
    routing.random_pick: [routers],
    routing.fewest: [routers],
    routing.tie_needs_draw: [routers],
    routing.tie_skip: [routers],
    routing.nth_with_load: [routers],
    line_rules.line_has_room: [state],
    line_rules.gave_up: [waiting_line],
    kv_memory.never_fits: [replica],
    kv_memory.kv_fits: [replica],
    kv_memory.kv_need_tokens: [replica],
    static_batch.batch_open: [replica],
    static_batch.starts_now: [replica],
    static_batch.fill_wait_s: [replica],
    static_batch.add_member: [replica],
    static_batch.roofline_batch_times_s: [replica],
    static_batch.latency_batch_s: [replica],
    books.accrue: [waiting_line, replica],
    books.accrue_busy: [replica],
    books.expired_overcount: [waiting_line],
    lifecycle.drained: [replica],
    lifecycle.retried_after_reclaim: [state],
    lifecycle.retires_idle: [serverless],
    lifecycle.idle_timer_fires: [serverless],
    continuous.after_decode_steps: [replica],
    continuous.cut_at_next_step: [replica],
    continuous.decode_steps_planned: [replica],
    continuous.finish_step: [replica],
    continuous.may_admit: [replica],
    continuous.newcomer_chunk: [replica],
    continuous.partial_chunk: [replica],
    continuous.prefill_step: [replica],
    continuous.prompts_prefilled: [replica],
    continuous.release_finished: [replica],
    continuous.run_span_s: [replica],
    continuous.step_room_tokens: [replica],
}


def _rules_in(module):
    return [
        value
        for value in vars(module).values()
        if getattr(value, "py_func", None) is not None and value.__module__ == module.__name__
    ]


def test_every_rule_is_listed():
    rules = [
        f
        for m in (routing, line_rules, static_batch, books, lifecycle, kv_memory, continuous)
        for f in _rules_in(m)
    ]
    assert set(rules) == set(SIMPY_USERS)


@pytest.mark.parametrize("rule", list(SIMPY_USERS), ids=lambda rule: rule.__name__)
def test_both_engines_call_the_same_rule(rule):
    name = rule.__name__
    assert getattr(compiled_loop, name) is rule
    for module in SIMPY_USERS[rule]:
        assert getattr(module, name) is rule
