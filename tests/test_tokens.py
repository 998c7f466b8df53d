"""Token and latency distributions: moments, empirical sampling, rounding, classes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import TypeAdapter
from scipy import stats
from scipy.special import gammaln

from distributions.errors import WorkloadError
from distributions.request_classes import (
    assign_classes,
    class_dist,
    class_names,
    sample_class_tokens,
)
from distributions.tokens import (
    dist_mean_cv,
    sample,
    sample_tokens,
    summarize,
    summarize_histogram,
    to_token_counts,
)
from sim.scenario.schema import DistSpec, Requests

SPEC = TypeAdapter(DistSpec)
N = 200_000


def spec(**kwargs) -> DistSpec:
    return SPEC.validate_python(kwargs)


def raw_moments(s: DistSpec) -> list[float]:
    """E[X^k] for k = 0..4, from the distribution's formulas (independent of the sampler)."""
    if s.dist == "fixed":
        return [s.value**k for k in range(5)]
    if s.dist == "exponential":
        return [math.factorial(k) * s.mean**k for k in range(5)]
    if s.dist == "lognormal":
        sigma2 = math.log(1 + s.cv**2)
        mu = math.log(s.mean) - sigma2 / 2
        return [math.exp(k * mu + k * k * sigma2 / 2) for k in range(5)]
    if s.dist == "gamma":
        shape, scale = 1 / s.cv**2, s.mean * s.cv**2
        return [math.exp(gammaln(shape + k) - gammaln(shape)) * scale**k for k in range(5)]
    if s.dist == "uniform":
        a, b = s.low, s.high
        return [(b ** (k + 1) - a ** (k + 1)) / ((k + 1) * (b - a)) for k in range(5)]
    raise AssertionError(s)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dist": "fixed", "value": 250},
        {"dist": "exponential", "mean": 2.0},
        {"dist": "lognormal", "mean": 300, "cv": 0.8},
        {"dist": "lognormal", "mean": 800, "cv": 1.0},
        {"dist": "gamma", "mean": 500, "cv": 0.6},
        {"dist": "gamma", "mean": 1.0, "cv": 3.0},
        {"dist": "uniform", "low": 100, "high": 300},
    ],
)
def test_samples_match_mean_and_variance(kwargs):
    s = spec(**kwargs)
    x = sample(s, N, np.random.default_rng(1))
    m1, m2, m3, m4 = raw_moments(s)[1:]
    var = m2 - m1**2
    mu4 = m4 - 4 * m1 * m3 + 6 * m1**2 * m2 - 3 * m1**4
    assert x.dtype == np.float64 and x.shape == (N,)
    assert abs(x.mean() - m1) <= 4 * math.sqrt(var / N) + 1e-9 * m1
    assert abs(x.var() - var) <= 4 * math.sqrt(max(mu4 - var**2, 0) / N) + 1e-9 * m1**2
    mean, cv = dist_mean_cv(s)
    assert mean == pytest.approx(m1)
    assert cv == pytest.approx(math.sqrt(var) / m1, abs=1e-12)


def test_token_counts_are_rounded_and_clipped():
    counts = to_token_counts(np.array([0.2, 0.6, 1.5, 2.49, 9000.0]), max_tokens=8192)
    np.testing.assert_array_equal(counts, [1, 1, 2, 2, 8192])
    assert counts.dtype == np.int64
    tokens = sample_tokens(
        spec(dist="lognormal", mean=300, cv=0.8), N, np.random.default_rng(2), 512
    )
    assert tokens.min() >= 1 and tokens.max() <= 512


def test_empirical_values_and_weights_match_by_chi_square():
    s = spec(dist="empirical", values=[10, 20, 50, 100], weights=[1, 2, 3, 4])
    x = sample(s, N, np.random.default_rng(3))
    observed = np.array([(x == v).sum() for v in (10, 20, 50, 100)])
    assert observed.sum() == N
    assert stats.chisquare(observed, N * np.array([0.1, 0.2, 0.3, 0.4])).pvalue > 1e-3
    equal = sample(spec(dist="empirical", values=[1, 2]), 1000, np.random.default_rng(3))
    assert set(np.unique(equal)) == {1.0, 2.0}


def test_empirical_cdf_table_matches_its_cdf(tmp_path):
    path = tmp_path / "lengths.csv"
    path.write_text("value,cdf\n10,0.0\n100,0.5\n400,0.9\n2000,1.0\n")
    s = spec(dist="empirical", file=str(path))
    x = sample(s, N, np.random.default_rng(4))
    values, cdf = [10, 100, 400, 2000], [0.0, 0.5, 0.9, 1.0]
    assert stats.kstest(x, lambda v: np.interp(v, values, cdf)).pvalue > 1e-3
    mean, _ = dist_mean_cv(s)
    assert abs(x.mean() - mean) <= 4 * x.std() / math.sqrt(N)


def test_empirical_cdf_table_first_row_is_an_atom(tmp_path):
    path = tmp_path / "atom.csv"
    path.write_text("value,cdf\n1,0.3\n11,1.0\n")
    x = sample(spec(dist="empirical", file=str(path)), N, np.random.default_rng(5))
    share = (x == 1).mean()
    assert abs(share - 0.3) <= 4 * math.sqrt(0.3 * 0.7 / N)


def test_empirical_column_of_a_file_is_resampled(tmp_path):
    path = tmp_path / "trace.csv"
    path.write_text("TIMESTAMP,ContextTokens\n0,5\n1,7\n2,7\n3,100\n")
    x = sample(
        spec(dist="empirical", file=str(path), column="ContextTokens"), N, np.random.default_rng(6)
    )
    assert set(np.unique(x)) == {5.0, 7.0, 100.0}
    assert abs((x == 7).mean() - 0.5) <= 4 * math.sqrt(0.25 / N)


def test_bad_empirical_files_give_clear_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("value,cdf\n1,0.5\n2,0.4\n")
    with pytest.raises(WorkloadError, match="non-decreasing"):
        sample(spec(dist="empirical", file=str(bad)), 10, np.random.default_rng(0))
    short = tmp_path / "short.csv"
    short.write_text("value,cdf\n1,0.2\n2,0.8\n")
    with pytest.raises(WorkloadError, match="end at 1"):
        sample(spec(dist="empirical", file=str(short)), 10, np.random.default_rng(0))
    with pytest.raises(WorkloadError, match="'Tokens'"):
        sample(
            spec(dist="empirical", file=str(short), column="Tokens"), 10, np.random.default_rng(0)
        )
    with pytest.raises(WorkloadError, match="cannot read"):
        sample(
            spec(dist="empirical", file=str(tmp_path / "nope.csv")), 10, np.random.default_rng(0)
        )


def test_histogram_summary_equals_the_sample_summary():
    x = sample_tokens(spec(dist="gamma", mean=300, cv=1.2), 50_000, np.random.default_rng(7), 8192)
    direct = summarize(x)
    from_hist = summarize_histogram(np.bincount(x))
    for key in ("mean", "p50", "p90", "p99", "cv"):
        assert from_hist[key] == pytest.approx(direct[key], rel=1e-9)


def test_request_classes_by_share_with_their_own_tokens():
    requests = Requests.model_validate(
        {
            "prompt_tokens": {"dist": "fixed", "value": 50},
            "output_tokens": {"dist": "fixed", "value": 60},
            "classes": [
                {"name": "chat", "share": 3, "prompt_tokens": {"dist": "fixed", "value": 100}},
                {"name": "batch", "share": 1, "output_tokens": {"dist": "fixed", "value": 900}},
            ],
        }
    )
    assert class_names(requests) == ("chat", "batch")
    rng = np.random.default_rng(8)
    index = assign_classes(requests, N, rng)
    assert index.dtype == np.int16
    batch_share = (index == 1).mean()
    assert abs(batch_share - 0.25) <= 4 * math.sqrt(0.25 * 0.75 / N)
    prompt = sample_class_tokens(requests, index, "prompt", rng)
    output = sample_class_tokens(requests, index, "output", rng)
    np.testing.assert_array_equal(prompt, np.where(index == 0, 100, 50))
    np.testing.assert_array_equal(output, np.where(index == 0, 60, 900))
    assert class_dist(requests, 1, "prompt").value == 50


def test_no_classes_means_one_default_class():
    requests = Requests()
    assert class_names(requests) == ("default",)
    index = assign_classes(requests, 10, np.random.default_rng(0))
    np.testing.assert_array_equal(index, np.zeros(10))


def test_same_seed_same_samples():
    s = spec(dist="lognormal", mean=300, cv=0.8)
    a = sample(s, 1000, np.random.default_rng(9))
    b = sample(s, 1000, np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)
