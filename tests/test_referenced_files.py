"""Trace and CDF files a scenario names: `validate` reads them as `run` does, and one
rule says where a relative path points (the scenario file's folder; the working
directory for a path given by --set)."""

from __future__ import annotations

import pytest
from classic_queue import CLASSIC_SHORT
from cli_error_helpers import assert_clean_error, invoke
from typer.testing import CliRunner

GOOD_TRACE = "TIMESTAMP,ContextTokens,GeneratedTokens\n0,10,20\n1.5,12,30\n2,9,25\n"
GOOD_CDF = "value,cdf\n0.5,0.2\n1.0,1.0\n"
TRACE_SET = 'traffic={{ profile = "trace", arrival = "trace", trace = {{ file = "{}" }} }}'
CDF_SET = 'service.latency={{ dist = "empirical", file = "{}" }}'

# Each bad file, and what its error must say besides the file and the key.
BAD_TRACES = {
    "missing-column": ("time,ContextTokens\n0,10\n1,12\n", "no timestamp column 'TIMESTAMP'"),
    "empty": ("", "the trace file is empty"),
    "header-only": ("TIMESTAMP,ContextTokens,GeneratedTokens\n", "the trace is empty"),
    "garbage-rows": ("TIMESTAMP,ContextTokens\n0,10\nnoon?,12\n", "line 3 has 'noon?'"),
    "nan-tokens": ("TIMESTAMP,ContextTokens\n0,10\n1,NaN\n", "token column 'ContextTokens'"),
    "inf-tokens": ("TIMESTAMP,ContextTokens\n0,10\n1,inf\n", "line 3 has 'inf'"),
    "one-row-looped": ("TIMESTAMP,ContextTokens\n0,10\n", "looping needs at least two"),
}
BAD_CDFS = {
    "missing-column": ("value,p\n1,0.5\n2,1\n", "needs columns 'value' and 'cdf'"),
    "empty": ("", "cannot read as CSV"),
    "header-only": ("value,cdf\n", "the CDF table has no rows"),
    "garbage-rows": ("value,cdf\n1,0.5\ntwo,1\n", "line 3 has 'two'"),
    "inf-value": ("value,cdf\n1,0.5\ninf,1\n", "must hold finite numbers; line 3"),
    "decreasing": ("value,cdf\n1,0.8\n2,0.4\n3,1\n", "must both be non-decreasing"),
}


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def scenario(tmp_path, monkeypatch):
    """The classic queue in scen/, with the working directory its parent."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scen").mkdir()
    path = tmp_path / "scen" / "scenario.toml"
    path.write_text(CLASSIC_SHORT, encoding="utf-8")
    return path


def both_verbs(runner, scenario, override: str) -> tuple[str, str]:
    """The error of `validate` and of `run` on the same scenario and override."""
    messages = []
    for verb in (("validate",), ("run", "-n", "1")):
        result = invoke(runner, verb[0], str(scenario), *verb[1:], "--set", override)
        messages.append(assert_clean_error(result))
    return messages[0], messages[1]


@pytest.mark.parametrize("kind", list(BAD_TRACES))
def test_validate_rejects_the_traces_run_rejects(runner, tmp_path, scenario, kind):
    text, fragment = BAD_TRACES[kind]
    data = tmp_path / "trace.csv"
    data.write_text(text, encoding="utf-8")
    validate, run = both_verbs(runner, scenario, TRACE_SET.format("trace.csv"))
    assert validate == run
    for part in (str(scenario), "traffic.trace.file", str(data), fragment):
        assert part in validate, (part, validate)


@pytest.mark.parametrize("kind", list(BAD_CDFS))
def test_validate_rejects_the_cdf_tables_run_rejects(runner, tmp_path, scenario, kind):
    text, fragment = BAD_CDFS[kind]
    data = tmp_path / "cdf.csv"
    data.write_text(text, encoding="utf-8")
    validate, run = both_verbs(runner, scenario, CDF_SET.format("cdf.csv"))
    assert validate == run
    for part in (str(scenario), "service.latency.file", str(data), fragment):
        assert part in validate, (part, validate)


def test_a_bad_column_file_names_the_class_key(runner, tmp_path, scenario):
    (tmp_path / "tokens.csv").write_text("n\n5\n-3\n", encoding="utf-8")
    override = (
        'requests.classes=[{ name = "chat", share = 1, prompt_tokens = '
        '{ dist = "empirical", file = "tokens.csv", column = "n" } }]'
    )
    result = invoke(runner, "validate", str(scenario), "--set", override)
    assert_clean_error(result, "requests.classes.0.prompt_tokens.file", "'n' must be >= 0")


# ---------------------------------------------------------------- where a relative path points


@pytest.mark.parametrize("kind", ["trace", "cdf"])
def test_a_path_in_the_file_is_read_from_the_scenario_folder(runner, tmp_path, scenario, kind):
    (tmp_path / "scen" / "data.csv").write_text(GOOD_TRACE if kind == "trace" else GOOD_CDF)
    line = (
        '[traffic.trace]\nfile = "data.csv"\n'
        if kind == "trace"
        else '[service.latency]\ndist = "empirical"\nfile = "data.csv"\n'
    )
    text = CLASSIC_SHORT.replace('latency = { dist = "exponential", mean = 1.0 }\n', "")
    if kind == "trace":
        text = text.replace("rate_per_s = 3.2\n", "").replace('"constant"', '"trace"')
        text = text.replace('arrival = "poisson"', 'arrival = "trace"')
        text = text.replace('latency"\n', 'latency"\nlatency = { dist = "fixed", value = 1 }\n')
    scenario.write_text(text + line, encoding="utf-8")
    result = invoke(runner, "validate", str(scenario))
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("template", [TRACE_SET, CDF_SET], ids=["trace", "cdf"])
def test_a_path_given_by_set_is_read_from_the_working_directory(
    runner, tmp_path, scenario, template
):
    data = GOOD_TRACE if template is TRACE_SET else GOOD_CDF
    (tmp_path / "scen" / "data.csv").write_text(data)  # beside the scenario: not this one
    result = invoke(runner, "validate", str(scenario), "--set", template.format("data.csv"))
    assert_clean_error(result, f"no such file {str(tmp_path / 'data.csv')!r}", "--set")
    (tmp_path / "data.csv").write_text(data)
    result = invoke(runner, "validate", str(scenario), "--set", template.format("data.csv"))
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("template", [TRACE_SET, CDF_SET], ids=["trace", "cdf"])
def test_set_on_a_bundled_scenario_reads_from_the_working_directory(
    runner, tmp_path, monkeypatch, template
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.csv").write_text(GOOD_TRACE if template is TRACE_SET else GOOD_CDF)
    override = template.format("data.csv")
    if template is CDF_SET:
        override = override.replace("service.latency=", "requests.prompt_tokens=")
    result = invoke(runner, "validate", "smartpal", "--set", override)
    assert result.exit_code == 0, result.stderr
