"""Trace replay: exact timestamps, scaling, looping, thinning/replication, clear errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from distributions.errors import WorkloadError
from distributions.trace import (
    TraceRateProfile,
    iter_trace_chunks,
    load_trace,
    trace_expected_count,
)

TRACES = Path(__file__).resolve().parent.parent / "scenarios" / "traces"
CONV = TRACES / "azure_conv.csv"


def replay(trace, horizon_s, seed=0, **kwargs):
    chunks = list(iter_trace_chunks(trace, horizon_s, np.random.default_rng(seed), **kwargs))
    if not chunks:
        return np.empty(0), np.empty(0, dtype=np.int64)
    return (
        np.concatenate([c.arrival_s for c in chunks]),
        np.concatenate([c.row for c in chunks]),
    )


@pytest.fixture(scope="module")
def conv():
    return load_trace(CONV)


@pytest.fixture(scope="module")
def conv_seconds():
    frame = pd.read_csv(CONV)
    stamps = pd.to_datetime(frame["TIMESTAMP"], format="ISO8601")
    return (stamps - stamps.iloc[0]).dt.total_seconds().to_numpy()


def test_azure_trace_loads_with_seven_fractional_digits(conv, conv_seconds):
    assert conv.n_requests == 19_366
    assert conv.arrival_s[0] == 0.0
    np.testing.assert_allclose(conv.arrival_s, conv_seconds, rtol=0, atol=1e-6)
    assert conv.arrival_s[1] == pytest.approx(4.314579, abs=1e-9)  # 18:15:50.9951690 - 46.6805900
    assert conv.prompt_tokens[0] == 374 and conv.output_tokens[0] == 44


def test_replay_returns_exactly_the_trace_timestamps(conv):
    arrival_s, row = replay(conv, conv.span_s + 1.0, loop=False)
    np.testing.assert_array_equal(arrival_s, conv.arrival_s)
    np.testing.assert_array_equal(row, np.arange(conv.n_requests))


def test_time_scale_stretches_the_timestamps(conv):
    arrival_s, _ = replay(conv, 1e9, loop=False, time_scale=2.0)
    np.testing.assert_array_equal(arrival_s, conv.arrival_s * 2.0)
    half, _ = replay(conv, 1e9, loop=False, time_scale=0.5)
    np.testing.assert_array_equal(half, conv.arrival_s * 0.5)


def test_loop_fills_the_horizon_periodically(conv):
    period = conv.period_s()
    assert period == pytest.approx(conv.span_s * conv.n_requests / (conv.n_requests - 1))
    arrival_s, row = replay(conv, 3 * period, chunk_size=5000)
    assert arrival_s.size == 3 * conv.n_requests
    assert np.all(np.diff(arrival_s) >= 0)
    np.testing.assert_allclose(
        arrival_s[conv.n_requests : 2 * conv.n_requests], conv.arrival_s + period
    )
    np.testing.assert_array_equal(
        row[: 2 * conv.n_requests] % conv.n_requests, np.tile(np.arange(conv.n_requests), 2)
    )
    assert trace_expected_count(conv, 3 * period) == 3 * conv.n_requests
    cut, _ = replay(conv, 1800.0)
    assert cut.max() < 1800.0 and cut.size == np.searchsorted(conv.arrival_s, 1800.0)


def test_rate_scale_below_one_thins_by_bernoulli(conv):
    arrival_s, row = replay(conv, conv.span_s + 1, seed=1, loop=False, rate_scale=0.3)
    n = conv.n_requests
    assert abs(arrival_s.size - 0.3 * n) <= 4 * math.sqrt(n * 0.3 * 0.7)
    np.testing.assert_array_equal(arrival_s, conv.arrival_s[row])  # kept requests keep their time
    assert np.all(np.diff(row) > 0)


def test_rate_scale_above_one_replicates_within_gaps(conv):
    n = conv.n_requests
    arrival_s, row = replay(conv, 10 * conv.span_s, seed=2, loop=False, rate_scale=2.5)
    assert abs(arrival_s.size - 2.5 * n) <= 4 * math.sqrt(n * 0.25)
    assert np.all(np.diff(arrival_s) >= 0)
    copies = np.bincount(row, minlength=n)
    assert copies.min() >= 2 and copies.max() <= 3
    gap_end = np.append(conv.arrival_s[1:], conv.span_s + conv.mean_gap_s)
    assert np.all(arrival_s >= conv.arrival_s[row]) and np.all(arrival_s <= gap_end[row])
    assert set(conv.arrival_s) <= set(arrival_s)  # the originals are all there
    profile = TraceRateProfile(conv, rate_scale=2.5, loop=False)
    assert float(profile.cumulative(10 * conv.span_s)) == pytest.approx(2.5 * n)


def test_numeric_unsorted_trace_is_sorted_and_shifted(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("ts,p,o\n105.5,30,3\n100.25,10,1\n103,20,2\n")
    trace = load_trace(path, "ts", "p", "o")
    np.testing.assert_array_equal(trace.arrival_s, [0.0, 2.75, 5.25])
    np.testing.assert_array_equal(trace.prompt_tokens, [10, 20, 30])
    np.testing.assert_array_equal(trace.output_tokens, [1, 2, 3])


def test_token_columns_are_optional_unless_required(tmp_path):
    path = tmp_path / "only_times.csv"
    path.write_text("TIMESTAMP\n0\n1\n2\n")
    trace = load_trace(path)
    assert trace.prompt_tokens is None and trace.output_tokens is None
    with pytest.raises(WorkloadError, match="'ContextTokens'"):
        load_trace(path, require_token_columns=True)


def test_unreadable_trace_is_a_clear_error(tmp_path):
    missing = tmp_path / "missing.csv"
    with pytest.raises(WorkloadError, match=r"missing\.csv: cannot read the trace file"):
        load_trace(missing)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(WorkloadError, match=r"binary\.csv: cannot read the trace"):
        load_trace(binary)


def test_trace_without_timestamp_column_names_it(tmp_path):
    path = tmp_path / "no_time.csv"
    path.write_text("time,ContextTokens\n0,1\n")
    with pytest.raises(WorkloadError) as info:
        load_trace(path)
    message = str(info.value)
    assert (
        "no_time.csv" in message and "'TIMESTAMP'" in message and "time, ContextTokens" in message
    )


def test_non_numeric_tokens_and_bad_timestamps_name_the_column_and_line(tmp_path):
    path = tmp_path / "bad_tokens.csv"
    path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n0,10,5\n1,lots,5\n")
    with pytest.raises(
        WorkloadError, match=r"bad_tokens\.csv: token column 'ContextTokens'.*line 3"
    ):
        load_trace(path)
    stamps = tmp_path / "bad_time.csv"
    stamps.write_text("TIMESTAMP\n2023-11-16 18:17:03.9799600\nyesterday\n")
    with pytest.raises(WorkloadError, match=r"'TIMESTAMP'.*line 3 has 'yesterday'"):
        load_trace(stamps)


def test_empty_trace_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n")
    with pytest.raises(WorkloadError, match=r"empty\.csv: the trace is empty"):
        load_trace(path)


def test_single_request_trace_cannot_loop(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("TIMESTAMP\n5\n")
    trace = load_trace(path)
    with pytest.raises(WorkloadError, match="loop = false"):
        replay(trace, 100.0)
    arrival_s, _ = replay(trace, 100.0, loop=False)
    np.testing.assert_array_equal(arrival_s, [0.0])
