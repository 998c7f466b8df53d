"""capsim calibrate: recovering known step-model parameters, the predictor against the
engine, the measurement readers, and --write."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from distributions.traffic import generate_requests
from sim.engine.request_log import COMPLETED
from sim.errors import CapsimError
from sim.montecarlo.calibration import calibrate, free_parameters, predict, with_parameters
from sim.montecarlo.replication import replication_streams, simulate
from sim.scenario.file import load_scenario
from sim.scenario.measurements import MeasuredPoint, read_measurements
from tests.cli_error_helpers import assert_clean_error, invoke

EXAMPLES = Path(__file__).parents[1] / "docs" / "examples"
SCENARIO = EXAMPLES / "closed-loop.toml"
# What benchmarks/calibration_example.py made the bundled measurement files with.
TRUE_SERVICE = {"mfu": 0.42, "mbu": 0.68, "step_overhead": 0.004}


@pytest.mark.parametrize("name", ["measurements.csv", "vllm-bench.json"])
def test_bundled_synthetic_measurements_give_back_their_parameters(name):
    scenario = load_scenario(SCENARIO)
    assert {k: getattr(scenario.service, k) for k in TRUE_SERVICE} != TRUE_SERVICE
    result = calibrate(scenario, read_measurements(EXAMPLES / name))
    for key, true in TRUE_SERVICE.items():
        assert result.fitted[key] == pytest.approx(true, rel=0.02), key
    assert result.rms_relative_error < 1e-3 < result.start_rms_relative_error


def test_recovers_other_parameters_from_throughput_and_batch_one_figures():
    """Another truth, measured only as batch-1 TTFT/TPOT and batched throughput."""
    scenario = load_scenario(SCENARIO)
    truth = with_parameters(scenario, {"mfu": 0.3, "mbu": 0.85, "step_overhead": 0.0015})
    points = []
    for n, prompt, output in [(1, 256, 64), (1, 3000, 200), (16, 700, 300), (96, 400, 150)]:
        state = predict(truth, MeasuredPoint("x", n, prompt, output))
        if n == 1:
            points.append(MeasuredPoint("x", n, prompt, output, state.ttft_s, state.tpot_s))
        else:
            points.append(
                MeasuredPoint("x", n, prompt, output, throughput_per_s=state.throughput_per_s)
            )
    fitted = calibrate(scenario, points).fitted
    assert fitted == pytest.approx({"mfu": 0.3, "mbu": 0.85, "step_overhead": 0.0015}, rel=0.02)
    only_mbu = calibrate(scenario, points, names=["mbu"]).fitted
    assert list(only_mbu) == ["mbu"]


def test_points_that_cannot_split_two_parameters_say_so():
    """Batch-1 TPOT and throughput at one size: MBU and the step overhead trade off."""
    scenario = load_scenario(SCENARIO)
    truth = with_parameters(scenario, TRUE_SERVICE)
    state = predict(truth, MeasuredPoint("x", 1, 512, 128))
    points = [MeasuredPoint("x", 1, 512, 128, state.ttft_s, state.tpot_s, state.throughput_per_s)]
    result = calibrate(scenario, points)
    assert "step_overhead" in result.undetermined
    assert calibrate(scenario, read_measurements(EXAMPLES / "measurements.csv")).undetermined == []


def test_free_parameters_are_the_schema_keys_the_fitter_knows():
    scenario = load_scenario(SCENARIO)
    assert free_parameters(scenario) == ["mfu", "mbu", "step_overhead"]
    tp2 = scenario.model_copy(
        update={"fleet": scenario.fleet.model_copy(update={"gpus_per_replica": 2})}
    )
    assert free_parameters(tp2) == ["mfu", "mbu", "step_overhead", "link_efficiency"]


def _engine_means(scenario, warmup_s: float):
    streams = replication_streams(3, 0)
    log = simulate(
        scenario, generate_requests(scenario, streams["traffic"]), streams, keep_log=True
    ).log
    done = (log.status == COMPLETED) & (log.arrival_s >= warmup_s)
    finished = (log.finish_s >= warmup_s) & (log.finish_s < scenario.horizon)
    ttft = float(np.mean((log.first_token_s - log.arrival_s)[done]))
    e2e = float(np.mean((log.finish_s - log.arrival_s)[done]))
    return ttft, e2e, finished.sum() / (scenario.horizon - warmup_s)


def test_batch_one_prediction_is_what_the_engine_does_with_one_client():
    scenario = load_scenario(
        SCENARIO, ["traffic.concurrency=1", "traffic.think_time={dist='fixed', value=0}"]
    )
    ttft, e2e, _ = _engine_means(scenario, 0.0)
    state = predict(scenario, MeasuredPoint("x", 1, 512, 128))
    assert ttft == pytest.approx(state.ttft_s, rel=1e-9)
    assert e2e == pytest.approx(state.e2e_s, rel=1e-9)
    assert state.throughput_per_s == pytest.approx(1 / e2e, rel=1e-12)


@pytest.mark.parametrize("clients", [8, 64])
def test_batched_throughput_prediction_against_the_engine(clients):
    """Clients with varied output lengths (so they do not finish in lockstep) on the
    engine against the steady-state prediction at the mean size. The prediction is a
    model of the engine, not a statistic: measured 0.9% (8) and 2.4% (64) apart; 5%
    allowed."""
    sets = [
        f"traffic.concurrency={clients}",
        "traffic.think_time={dist='fixed', value=0}",
        "requests.output_tokens={dist='lognormal', mean=128, cv=0.5}",
        "horizon=3m",
    ]
    _, _, throughput = _engine_means(load_scenario(SCENARIO, sets), 30.0)
    state = predict(load_scenario(SCENARIO), MeasuredPoint("x", clients, 512, 128))
    assert throughput == pytest.approx(state.throughput_per_s, rel=0.05)


def test_write_keeps_the_rest_of_the_file_and_the_fit_reloads(tmp_path):
    path = tmp_path / "mine.toml"
    text = "# my deployment\n" + SCENARIO.read_text().replace(
        'model = "roofline"', 'model = "roofline"  # fitted below\nmfu = 0.5'
    )
    path.write_text(text)
    result = invoke(
        CliRunner(),
        "calibrate",
        str(EXAMPLES / "measurements.csv"),
        "--scenario",
        str(path),
        "--write",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    written = path.read_text()
    assert written.startswith("# my deployment\n") and "# fitted below" in written
    data = tomllib.loads(written)
    for key, true in TRUE_SERVICE.items():
        assert data["service"][key] == pytest.approx(true, rel=0.02)
        assert data["service"][key] == pytest.approx(document["fitted"][key], rel=1e-5)
    before = tomllib.loads(text)
    assert {k: v for k, v in data.items() if k != "service"} == {
        k: v for k, v in before.items() if k != "service"
    }
    assert load_scenario(path).service.mfu == pytest.approx(0.42, rel=0.02)
    assert [p.name for p in tmp_path.iterdir()] == ["mine.toml"]  # no temporary left


def test_write_refuses_a_bundled_scenario():
    result = invoke(
        CliRunner(), "calibrate", str(EXAMPLES / "measurements.csv"), "--scenario", "mmc", "--write"
    )
    assert_clean_error(result, "--write", "bundled")


def test_latency_model_has_nothing_to_calibrate():
    result = invoke(
        CliRunner(), "calibrate", str(EXAMPLES / "measurements.csv"), "--scenario", "mmc"
    )
    assert_clean_error(result, "service.model", "roofline")


GENAI_PERF = """Metric,avg,min,max,p99,p95,p90,p75,p50,p25
Time To First Token (ms),"1,146.31",249.48,"3,485.23",1,1,1,1,640.07,286.52
Inter Token Latency (ms),30.35,27.59,35.60,35.23,33.88,32.53,31.05,30.13,29.04
Request Latency (ms),"6,406.20","5,371.47","9,608.72",1,1,1,1,1,1
Output Sequence Length (tokens),174.45,164.00,187.00,186.22,183.10,180.10,177.00,174.00,171.75
Input Sequence Length (tokens),"3,000.05","2,999.00","3,001.00",1,1,1,1,1,1

Metric,Value
Output Token Throughput (per sec),261.25
Request Throughput (per sec),1.50
Request Count (count),40.00
"""


def test_genai_perf_csv_is_read_with_its_concurrency_from_the_folder(tmp_path):
    folder = tmp_path / "llama-openai-chat-concurrency16"
    folder.mkdir()
    path = folder / "profile_export_genai_perf.csv"
    path.write_text(GENAI_PERF)
    (point,) = read_measurements(path)
    assert point.concurrency == 16
    assert point.ttft_s == pytest.approx(1.14631)
    assert point.tpot_s == pytest.approx(0.03035)
    assert point.throughput_per_s == pytest.approx(1.5)
    assert point.prompt_tokens == pytest.approx(3000.05)


@pytest.mark.parametrize(
    ("name", "content", "fragments"),
    [
        ("m.csv", "concurrency,prompt_tokens,ttft_ms\n1,100,50\n", ["'output_tokens'"]),
        ("m.csv", "concurrency,prompt_tokens,output_tokens,ttft\n1,1,1,1\n", ["'ttft'", "allowed"]),
        (
            "m.csv",
            "concurrency,prompt_tokens,output_tokens,ttft_ms\n1,1,1,fast\n",
            ["line 2", "'ttft_ms'"],
        ),
        (
            "m.csv",
            "concurrency,prompt_tokens,output_tokens,ttft_ms\n1.5,1,1,5\n",
            ["'concurrency'"],
        ),
        ("m.csv", "concurrency,prompt_tokens,output_tokens\n1,1,1\n", ["no measured column"]),
        ("m.json", '{"completed": 5}', ["'max_concurrency'"]),
        (
            "m.json",
            '{"max_concurrency": null, "completed": 5, "total_input_tokens": 5,'
            ' "total_output_tokens": 5, "mean_ttft_ms": 3}',
            ["max_concurrency is null"],
        ),
        ("m.json", "{not json", ["not JSON"]),
    ],
)
def test_bad_measurement_files_get_one_line(tmp_path, name, content, fragments):
    path = tmp_path / name
    path.write_text(content)
    result = invoke(CliRunner(), "calibrate", str(path), "--scenario", str(SCENARIO))
    assert_clean_error(result, str(path), *fragments)


def test_genai_perf_without_concurrency_in_the_path_is_refused(tmp_path):
    path = tmp_path / "profile_export_genai_perf.csv"
    path.write_text(GENAI_PERF)
    with pytest.raises(CapsimError, match="concurrency is not in the path"):
        read_measurements(path)


def test_bundled_examples_are_what_the_generator_writes(tmp_path):
    """The example files are reproducible from benchmarks/calibration_example.py."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "calibration_example", Path(__file__).parents[1] / "benchmarks" / "calibration_example.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shutil.copy(SCENARIO, tmp_path / "closed-loop.toml")
    module.EXAMPLES = tmp_path
    module.main()
    for name in ("measurements.csv", "vllm-bench.json"):
        assert (tmp_path / name).read_text() == (EXAMPLES / name).read_text()
