"""BOTEC sections appear only where they apply: no invented batch, no negative idle share."""

from __future__ import annotations

import json

import pytest
from botec_helpers import run
from rich.console import Console
from typer.testing import CliRunner

from reports.botec_table import botec_tables
from sim.cli import app


def rendered(result: dict) -> str:
    console = Console(record=True, width=200)
    for table in botec_tables(result):
        console.print(table)
    return console.export_text()


@pytest.mark.parametrize("name", ["mmc", "diurnal-api"])
def test_no_idle_share_where_one_gpu_cannot_carry_the_load(name: str) -> None:
    result = run(name)
    assert result["capacity"]["gpus_of_work_at_mean"] > 1  # mmc 3.2, diurnal-api 2
    assert "idle_of_one_gpu_fraction" not in result["capacity"]
    assert "idle_of_one_gpu_fraction" not in rendered(result)


def test_the_idle_share_of_one_gpu_that_carries_the_load() -> None:
    result = run("redai-1k")  # seed 001: 2,000 busy GPU-seconds a day
    capacity = result["capacity"]
    assert capacity["idle_of_one_gpu_fraction"] == pytest.approx(1 - 2000 / 86400)


def test_no_batch_section_without_batching_or_a_batch_model() -> None:
    result = run("diurnal-api")  # batching.policy = "none", no service.batch_overhead_at
    assert "batch" not in result
    assert "batch.savings_fraction" not in rendered(result)
    document = json.loads(CliRunner().invoke(app, ["botec", "diurnal-api", "--json"]).stdout)
    assert "batch" not in document


def test_static_batching_and_the_seeds_batch_model_keep_the_section() -> None:
    static = run("diurnal-api", 'batching={policy="static", max_batch=4}')
    assert static["batch"]["batch_size_requests"] == 4
    seed = run("redai-1k")  # the seed's what-if: 10 requests take 2.3 s
    assert seed["batch"]["batch_size_requests"] == 10
    assert seed["batch"]["batch_time_s"] == pytest.approx(2.3)
