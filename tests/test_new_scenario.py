"""`capsim new`: its prompts, the scenario file it writes (valid, atomic, never over a
file without --force) and the BOTEC it prints."""

from __future__ import annotations

import tomllib

import pytest
from typer.testing import CliRunner

from sim.baseline.botec import botec
from sim.cli import app
from sim.errors import CapsimError
from sim.scenario.file import load_scenario
from sim.scenario.new_scenario import Answers, gpus_per_replica


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_defaults_write_a_valid_scenario_and_print_its_botec(runner, tmp_path):
    path = tmp_path / "chat.toml"
    result = runner.invoke(app, ["new", str(path)], input="\n" * 8)
    assert result.exit_code == 0, result.output
    assert "Daily active users [10000]" in result.output
    assert "BOTEC: chat" in result.output
    scenario = load_scenario(path)
    assert scenario.traffic.daily_active_users == Answers.daily_active_users
    assert scenario.slo.latency_p99 == Answers.latency_p99_s
    # The fleet is the BOTEC's batched count at the peak, which the file's own BOTEC repeats.
    roof = botec(scenario)["inference_roofline"]["batched"]
    assert scenario.fleet.replicas == roof["gpus_needed_at_peak"]
    assert f"({scenario.fleet.replicas} replicas" in result.output
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0


def test_answers_reach_the_file_and_bad_ones_are_asked_again(runner, tmp_path):
    path = tmp_path / "big.toml"
    answers = ["2e6", "5", "-3", "1200", "400", "70", "B200", "H100-SXM", "10", "500000"]
    result = runner.invoke(app, ["new", str(path)], input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert "a number greater than 0" in result.output
    assert "one of: T4" in result.output
    data = tomllib.loads(path.read_text())
    assert data["traffic"]["daily_active_users"] == 2e6
    assert data["requests"]["prompt_tokens"]["mean"] == 1200
    assert data["model"]["parameters"] == 70e9
    # 140 GB of FP16 weights: two 80 GB H100s hold 128 GB at 80% for weights, four 256.
    assert data["fleet"] == {**data["fleet"], "gpu": "H100-SXM", "gpus_per_replica": 4}
    assert data["budget"]["monthly_usd"] == 500000
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0


def test_refuses_to_overwrite_without_force(runner, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("# my own notes\n")
    result = runner.invoke(app, ["new", str(path)], input="\n" * 8)
    assert result.exit_code == 2
    assert "exists; pass --force" in result.output
    assert path.read_text() == "# my own notes\n"
    forced = runner.invoke(app, ["new", str(path), "--force"], input="\n" * 8)
    assert forced.exit_code == 0
    assert load_scenario(path).name == "mine"


def test_interrupted_prompts_leave_no_file(runner, tmp_path):
    path = tmp_path / "half.toml"
    result = runner.invoke(app, ["new", str(path)], input="100\n3\n")  # input ends early
    assert result.exit_code != 0
    assert list(tmp_path.iterdir()) == []


def test_a_model_too_big_for_eight_gpus_is_one_clear_line():
    with pytest.raises(CapsimError, match="do not fit in 8 x T4"):
        gpus_per_replica(Answers(model_billions=405, gpu="T4"))
