"""Scenario files: a bad file is one clear CapsimError naming the file, key, value and fix.

Most cases call `load_scenario` in-process (fast); tests/test_cli_errors.py checks the
same messages end to end through the `capsim` command line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from classic_queue import CLASSIC

from scenarios import bundled_scenario_descriptions, bundled_scenario_names
from sim.engine.service_time import build_service_model
from sim.errors import CapsimError
from sim.scenario.file import load_scenario, parse_override_value
from sim.scenario.schema import Exponential, Fixed

# Words a user should never have to read: pydantic's phrasing and Python reprs.
JARGON = ("Input should", "Field required", "Extra inputs", "Value error", "Traceback", "{'")


def write(tmp_path: Path, text: str, name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def error_of(ref: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> str:
    with pytest.raises(CapsimError) as info:
        load_scenario(ref, overrides)
    message = str(info.value)
    for word in JARGON:
        assert word not in message, f"{word!r} in {message!r}"
    return message


def assert_mentions(message: str, *fragments: str) -> None:
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


# ---------------------------------------------------------------- valid files


def test_classic_queue_example_is_a_valid_scenario(tmp_path):
    scenario = load_scenario(write(tmp_path, CLASSIC))
    assert scenario.traffic.rate_per_s == 3.2
    assert scenario.traffic.profile == "constant"
    assert scenario.traffic.arrival == "poisson"
    assert scenario.service.model == "latency"
    assert scenario.service.latency == Exponential(dist="exponential", mean=1.0)
    assert scenario.batching.policy == "none"
    assert scenario.autoscaling.policy == "fixed"
    assert scenario.fleet.replicas == 4
    # everything else takes its documented default
    assert scenario.horizon == 86400.0
    assert scenario.replications == 20
    assert scenario.fleet.router == "least-loaded"
    build_service_model(scenario)


def test_classic_queue_with_fixed_latency_is_m_d_c(tmp_path):
    text = replace(CLASSIC, '{ dist = "exponential", mean = 1.0 }', '{ dist = "fixed", value = 1 }')
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.service.latency == Fixed(dist="fixed", value=1.0)


def test_durations_and_times_of_day_are_read_in_seconds(tmp_path):
    text = 'horizon = "2h"\n' + CLASSIC
    text = replace(
        text,
        'arrival = "poisson"\n',
        'arrival = "poisson"\nbursts = [{ start = "19:30", duration = "50ms", multiplier = 2 }]\n',
    )
    text = replace(text, 'policy = "none"\n', 'policy = "none"\nmax_wait = "1d"\n')
    text = replace(text, 'policy = "fixed"\n', 'policy = "fixed"\nsync_period = "2m"\n')
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.horizon == 7200.0
    assert scenario.traffic.bursts[0].start == 19.5 * 3600
    assert scenario.traffic.bursts[0].duration == pytest.approx(0.05)
    assert scenario.batching.max_wait == 86400.0
    assert scenario.autoscaling.sync_period == 120.0


@pytest.mark.parametrize("name", bundled_scenario_names())
def test_every_bundled_scenario_validates(name):
    scenario = load_scenario(name)
    build_service_model(scenario)
    assert bundled_scenario_descriptions()[name], f"{name} has no description"


def test_bundled_scenarios_have_one_line_descriptions():
    descriptions = bundled_scenario_descriptions()
    assert set(descriptions) == set(bundled_scenario_names())
    assert "mmc" in descriptions
    for name, text in descriptions.items():
        assert text.strip(), name
        assert "\n" not in text, name


# ---------------------------------------------------------------- unknown keys


@pytest.mark.parametrize(
    ("old", "new", "key_path", "suggestion", "allowed"),
    [
        ("replicas = 4", "replicaz = 4", "fleet.replicaz", "replicas", "gpus_per_replica"),
        ("[fleet]", "[fleets]", "fleets", "fleet", "autoscaling"),
        ("[traffic]\n", 'horizn = "1h"\n[traffic]\n', "horizn", "horizon", "replications"),
        ("mean = 1.0", "meen = 1.0", "service.latency.meen", "mean", "dist, mean"),
        ("rate_per_s = 3.2", "rate_pers = 3.2", "traffic.rate_pers", "rate_per_s", "cv"),
    ],
)
def test_unknown_key_names_the_key_and_suggests_a_close_match(
    tmp_path, old, new, key_path, suggestion, allowed
):
    path = write(tmp_path, replace(CLASSIC, old, new), name="typo.toml")
    message = error_of(path)
    assert_mentions(
        message, str(path), f"unknown key {key_path!r}", f"Did you mean {suggestion!r}?", allowed
    )
    # a misspelt key is one problem, not also "the intended key is required"
    assert "\n" not in message


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("replicas = 4", 'replicas = 4\nrouter = "' + "y" * 100_000 + '"'),
        ("[traffic]\n", 'horizon = "' + "x" * 100_000 + '"\n[traffic]\n'),
        ("rate_per_s = 3.2", "rate_per_s = [" + ", ".join(['"z"'] * 30_000) + "]"),
    ],
)
def test_a_huge_bad_value_is_quoted_short(tmp_path, old, new):
    """The error quotes a bad value's start and length, not 100,000 characters of it."""
    message = error_of(write(tmp_path, replace(CLASSIC, old, new), name="huge.toml"))
    assert len(message) < 600 and "characters)" in message


def test_unknown_key_inside_an_array_of_tables(tmp_path):
    text = replace(
        CLASSIC,
        'arrival = "poisson"\n',
        'arrival = "poisson"\nbursts = [{ start = "19:00", duration = "1h", multipler = 3 }]\n',
    )
    message = error_of(write(tmp_path, text))
    assert_mentions(
        message,
        "unknown key 'traffic.bursts.0.multipler'",
        "Did you mean 'multiplier'?",
        "start, duration, multiplier, day",
    )


# ---------------------------------------------------------------- wrong types


@pytest.mark.parametrize(
    ("old", "new", "fragments"),
    [
        ("rate_per_s = 3.2", 'rate_per_s = "fast"', ["traffic.rate_per_s", "a number", '"fast"']),
        ("rate_per_s = 3.2", "rate_per_s = [1, 2]", ["traffic.rate_per_s", "a number", "[1, 2]"]),
        ("replicas = 4", "replicas = 2.5", ["fleet.replicas", "whole number", "2.5"]),
        ("[traffic]\n", "name = 3\n[traffic]\n", ["name:", "string", "(got 3)"]),
        ("[batching]\n", '[api]\nuse = "maybe"\n[batching]\n', ["api.use", "true or false"]),
        (
            "[batching]\n",
            "[requests]\nprompt_tokens = 250\n[batching]\n",
            ["requests.prompt_tokens", "distribution table", 'dist = "fixed"', "(got 250)"],
        ),
        (
            'dist = "exponential"',
            'dist = "expo"',
            ["service.latency.dist", '"expo"', '"exponential"', '"lognormal"', '"empirical"'],
        ),
        (
            '{ dist = "exponential", mean = 1.0 }',
            "{ mean = 1.0 }",
            ["service.latency", "'dist'", '"fixed"', '"gamma"'],
        ),
        ("[traffic]\n", "slo = 3\n[traffic]\n", ["slo:", "table", "(got 3)"]),
        ('model = "latency"', 'model = "magic"', ["service.model", '"roofline"', '"magic"']),
        (
            'policy = "none"',
            'policy = "none"\nmax_wait = "5 parsecs"',
            ["batching.max_wait", '"5 parsecs"', "ms", "h"],
        ),
    ],
)
def test_wrong_type_names_key_value_and_what_is_allowed(tmp_path, old, new, fragments):
    path = write(tmp_path, replace(CLASSIC, old, new), name="types.toml")
    message = error_of(path)
    assert_mentions(message, "types.toml", *fragments)


# ---------------------------------------------------------------- impossible values


@pytest.mark.parametrize(
    ("old", "new", "fragments"),
    [
        ("rate_per_s = 3.2", "rate_per_s = -5", ["traffic.rate_per_s", "greater than 0", "-5"]),
        ("rate_per_s = 3.2", "rate_per_s = 0", ["traffic.rate_per_s", "greater than 0", "got 0"]),
        (
            "rate_per_s = 3.2",
            "requests_per_day = 0",
            ["traffic.requests_per_day", "greater than 0", "got 0"],
        ),
        ("mean = 1.0", "mean = -1.0", ["service.latency.mean", "greater than 0", "-1"]),
        (
            'profile = "constant"',
            'profile = "diurnal"\npeak_to_mean = 0.5',
            ["traffic.peak_to_mean", "at least 1", "0.5"],
        ),
        ("replicas = 4", "replicas = 0", ["fleet.replicas >= 1"]),
        ("replicas = 4", "replicas = -2", ["fleet.replicas", "at least 0", "-2"]),
        (
            'policy = "none"',
            'policy = "none"\nmax_batch = 4',
            ["batching", "max_batch = 1"],
        ),
    ],
)
def test_impossible_value_names_key_value_and_limit(tmp_path, old, new, fragments):
    path = write(tmp_path, replace(CLASSIC, old, new), name="values.toml")
    message = error_of(path)
    assert_mentions(message, "values.toml", *fragments)


def test_traffic_volume_must_be_given_exactly_once(tmp_path):
    twice = replace(CLASSIC, "rate_per_s = 3.2", "rate_per_s = 3.2\nrequests_per_day = 1000")
    never = replace(CLASSIC, "rate_per_s = 3.2\n", "")
    for text in (twice, never):
        message = error_of(write(tmp_path, text))
        assert_mentions(message, "traffic:", "exactly once", "rate_per_s", "requests_per_day")


def test_hourly_profile_needs_24_or_168_weights(tmp_path):
    text = replace(
        CLASSIC, 'profile = "constant"', 'profile = "hourly"\nhourly_weights = [1, 2, 3]'
    )
    message = error_of(write(tmp_path, text))
    assert_mentions(message, "traffic", "24", "168", "got 3")


def test_missing_section_and_missing_latency(tmp_path):
    no_service = CLASSIC.replace(
        '[service]\nmodel = "latency"\nlatency = { dist = "exponential", mean = 1.0 }\n', ""
    )
    assert_mentions(error_of(write(tmp_path, no_service)), "service: is required")
    no_latency = replace(CLASSIC, 'latency = { dist = "exponential", mean = 1.0 }\n', "")
    assert_mentions(error_of(write(tmp_path, no_latency)), "service", "latency distribution")


def test_several_problems_are_listed_briefly(tmp_path):
    text = (
        CLASSIC.replace("rate_per_s = 3.2", "rate_per_s = -1")
        .replace("replicas = 4", "replicas = 2.5\nrouter = 7")
        .replace('model = "latency"', 'model = "magic"')
    )
    message = error_of(write(tmp_path, text))
    lines = message.splitlines()
    assert len(lines) == 4
    assert lines[-1] == "... and 1 more problem"


# ---------------------------------------------------------------- catalog


@pytest.mark.parametrize(
    ("key", "value", "fragments"),
    [
        ("gpu", "A100-80", ["fleet.gpu", "'A100-80'", "Did you mean 'A100-80GB'?", "T4"]),
        ("provider", "awz", ["fleet.provider", "'awz'", "Did you mean 'aws'?", "gcp"]),
        (
            "market",
            "spot-ish",
            [
                "fleet.market",
                '"spot-ish"',
                '"on-demand", "spot", "reserved", "serverless"',
                'Did you mean "spot"?',
            ],
        ),
    ],
)
def test_unknown_gpu_provider_market(tmp_path, key, value, fragments):
    text = replace(CLASSIC, "[fleet]\n", f'[fleet]\n{key} = "{value}"\n')
    message = error_of(write(tmp_path, text, name="catalog.toml"))
    assert_mentions(message, "catalog.toml", *fragments)


# ---------------------------------------------------------------- the file itself


def test_malformed_toml_gives_the_line_number(tmp_path):
    text = replace(CLASSIC, "rate_per_s = 3.2", "rate_per_s = 3.2.1")  # line 2
    path = write(tmp_path, text, name="broken.toml")
    message = error_of(path)
    assert_mentions(message, str(path), "not valid TOML", "line 2")


def test_unterminated_string_gives_the_line_number(tmp_path):
    text = replace(CLASSIC, "[fleet]\n", '[fleet]\ngpu = "T4\n')  # line 11
    message = error_of(write(tmp_path, text))
    assert_mentions(message, "not valid TOML", "line 11")


def test_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    message = error_of(path)
    assert_mentions(message, str(path), "no such file")


def test_directory_is_not_a_file(tmp_path):
    message = error_of(tmp_path)
    assert_mentions(message, str(tmp_path), "not a file")


def test_unknown_bundled_name_suggests_a_close_match():
    message = error_of("mmcc")
    assert_mentions(message, "mmcc", "Did you mean 'mmc'?", "smartpal")


def test_relative_trace_file_is_resolved_next_to_the_scenario(tmp_path):
    (tmp_path / "t.csv").write_text("TIMESTAMP\n0\n1\n", encoding="utf-8")
    text = replace(
        CLASSIC,
        'rate_per_s = 3.2\nprofile = "constant"\narrival = "poisson"\n',
        'profile = "trace"\narrival = "trace"\ntrace = { file = "t.csv" }\n',
    )
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.traffic.trace.file == str(tmp_path / "t.csv")
    missing = text.replace("t.csv", "gone.csv")
    assert_mentions(error_of(write(tmp_path, missing)), "traffic.trace.file", "gone.csv")


# ---------------------------------------------------------------- --set overrides


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("8", 8),
        ("2.5", 2.5),
        ("1e3", 1000.0),
        ("true", True),
        ('"spot"', "spot"),
        ("spot", "spot"),  # not TOML: the bare string
        ("19:00", "19:00"),
        ("1h", "1h"),
        ("[1, 2, 3]", [1, 2, 3]),
        ('{ dist = "fixed", value = 3 }', {"dist": "fixed", "value": 3}),
        ("", ""),
    ],
)
def test_override_values_are_read_as_toml_else_bare_strings(raw, value):
    assert parse_override_value(raw) == value


def test_overrides_replace_file_values_and_create_sections(tmp_path):
    path = write(tmp_path, CLASSIC)
    scenario = load_scenario(
        path,
        [
            "fleet.replicas=8",
            "fleet.gpu=T4",
            'service.latency={ dist = "fixed", value = 0.5 }',
            "slo.latency_p99=20s",
            'traffic.bursts=[{ start = "19:00", duration = "1h", multiplier = 3 }]',
            " horizon = 2h ",
        ],
    )
    assert scenario.fleet.replicas == 8
    assert scenario.fleet.gpu == "T4"
    assert scenario.service.latency == Fixed(dist="fixed", value=0.5)
    assert scenario.slo.latency_p99 == 20.0
    assert scenario.traffic.bursts[0].multiplier == 3.0
    assert scenario.horizon == 7200.0


@pytest.mark.parametrize("override", ["fleet.replicas", "=8", "  =8"])
def test_override_without_key_or_equals_is_an_error(tmp_path, override):
    message = error_of(write(tmp_path, CLASSIC), [override])
    assert_mentions(message, "--set", repr(override), "key.path=value", "fleet.replicas=8")


def test_override_into_a_value_is_an_error(tmp_path):
    message = error_of(write(tmp_path, CLASSIC), ["fleet.replicas.x=3"])
    assert_mentions(message, "--set", "'replicas' is a value, not a section")


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("fleet.market=spot-ish", ["fleet.market", '"spot-ish"', '"on-demand"']),
        ("traffic.rate_per_s=-1", ["traffic.rate_per_s", "greater than 0", "-1"]),
        ("traffic.rate_per_s=0", ["traffic.rate_per_s", "greater than 0", "got 0"]),
        ("traffic.peak_to_mean=0.9", ["traffic.peak_to_mean", "at least 1", "0.9"]),
        ("fleet.replicaz=3", ["unknown key 'fleet.replicaz'", "Did you mean 'replicas'?"]),
        ("fleet.replicas=many", ["fleet.replicas", "whole number", '"many"']),
        ("fleet.gpu=H1000", ["fleet.gpu", "'H1000'", "H100"]),
        ("fleet.provider=amazon", ["fleet.provider", "'amazon'", "aws"]),
        ("horizon=5 parsecs", ["horizon", '"5 parsecs"', "ms"]),
    ],
)
def test_bad_override_values_give_the_same_clean_errors(tmp_path, override, fragments):
    path = write(tmp_path, CLASSIC, name="base.toml")
    message = error_of(path, [override])
    assert_mentions(message, "base.toml", *fragments)
    assert "\n" not in message


# ---------------------------------------------------------------- strictness and file references


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ('traffic.rate_per_s="3"', ["traffic.rate_per_s", "must be a number", '"3"']),
        ("fleet.replicas=true", ["fleet.replicas", "must be a whole number", "true"]),
        ("fleet.replicas=2.5", ["fleet.replicas", "must be a whole number", "2.5"]),
    ],
)
def test_values_of_the_wrong_toml_type_are_not_coerced(tmp_path, override, fragments):
    path = write(tmp_path, CLASSIC)
    assert_mentions(error_of(path, [override]), str(path), *fragments)


def test_a_missing_empirical_file_is_named_with_its_key_at_validation(tmp_path):
    path = write(tmp_path, CLASSIC)
    message = error_of(path, ['requests.prompt_tokens={dist="empirical", file="lengths.csv"}'])
    assert_mentions(message, str(path), "requests.prompt_tokens.file", "lengths.csv")


def test_empirical_files_are_read_relative_to_the_scenario_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path.parent)  # not the scenario's folder
    (tmp_path / "lengths.csv").write_text("value,cdf\n100,0.5\n200,1.0\n", encoding="utf-8")
    text = CLASSIC.replace(
        "[service]",
        '[requests]\nprompt_tokens = { dist = "empirical", file = "lengths.csv" }\n\n[service]',
    )
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.requests.prompt_tokens.file == str(tmp_path / "lengths.csv")


def test_a_model_too_big_for_the_replica_is_an_error_naming_the_file(tmp_path):
    path = write(tmp_path, CLASSIC)
    message = error_of(path, ['service={model="roofline"}', "model.parameters=1e12"])
    assert_mentions(message, str(path), "do not fit", "fleet.gpus_per_replica")


def test_an_out_of_range_time_of_day_says_so(tmp_path):
    path = write(tmp_path, CLASSIC)
    message = error_of(path, ['traffic.peak_time="25:99"'])
    assert_mentions(message, "traffic.peak_time", "time of day", "below 24")


@pytest.mark.parametrize(
    ("name", "override", "rate_per_s"),
    [
        ("smartpal", "traffic.rate_per_s=50", 50.0),  # the file gives daily_active_users
        ("smartpal", "traffic.requests_per_day=864000", 10.0),
        ("mmc", "traffic.requests_per_day=86400", 1.0),  # the file gives rate_per_s
    ],
)
def test_a_volume_override_replaces_the_files_volume(name, override, rate_per_s):
    scenario = load_scenario(name, [override])
    assert scenario.traffic.mean_rate_per_s == pytest.approx(rate_per_s)
    assert scenario.traffic.daily_active_users is None


def test_a_users_override_keeps_the_files_requests_per_user(tmp_path):
    path = write(tmp_path, CLASSIC)  # gives rate_per_s = 3.2
    both = ["traffic.daily_active_users=8640", "traffic.requests_per_user_per_day=10"]
    assert load_scenario(path, both).traffic.mean_rate_per_s == pytest.approx(1.0)
    users = load_scenario("smartpal", ["traffic.daily_active_users=8640"])
    assert users.traffic.rate_per_s is None
    assert users.traffic.mean_rate_per_s == pytest.approx(1.0)


def test_two_volume_overrides_are_still_given_twice(tmp_path):
    twice = ["traffic.rate_per_s=2", "traffic.requests_per_day=1000"]
    message = error_of(write(tmp_path, CLASSIC), twice)
    assert_mentions(message, "traffic:", "exactly once")
