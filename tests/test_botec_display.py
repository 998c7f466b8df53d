"""What `capsim botec` prints: the headline, the full tables, the seed column in capsim's unit."""

from __future__ import annotations

import json
import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

from reports.botec_table import SMARTPAL_FIGURES, botec_tables, seed_in_capsim_unit


def _text(renderables) -> str:
    console = Console(width=200, record=True)
    for renderable in renderables:
        console.print(renderable)
    return console.export_text()


def _row(text: str, key: str) -> list[str]:
    """The cells of the first table row whose first cell is `key`."""
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)]
        if len(cells) > 2 and cells[1] == key:
            return cells[1:-1]
    raise AssertionError(f"no row {key!r}")


def test_the_seed_column_is_in_capsim_units(smartpal):
    text = _text(botec_tables(smartpal))
    assert _row(text, "inference_time_s")[:3] == ["inference_time_s", "0.00961538", "0.0096"]
    assert _row(text, "prompt_tokens_per_day")[1:3] == ["250,000,000,000", "250,000,000,000"]
    assert _row(text, "api_cost_usd_per_month")[1:3] == ["525,000,000", "525,000,000"]
    assert _row(text, "rag_savings_fraction")[1:3] == ["0.428571", ">0.75"]
    assert "(capsim" not in text


def test_a_figure_off_only_in_rounding_is_marked_so(smartpal):
    text = _text(botec_tables(smartpal))
    assert _row(text, "ingress_mbps")[1:4] == ["185.185", "186", "≈"]
    assert _row(text, "rag_savings_fraction")[3] == "✗"
    assert "≈ the seed rounded the other way" in text


def test_seed_in_capsim_unit_converts_every_number_of_the_text():
    by_label = {f.label: f for f in SMARTPAL_FIGURES}
    assert seed_in_capsim_unit(by_label["Inference time (ms)"]) == "0.0096"
    assert seed_in_capsim_unit(by_label["API input cost ($M/day)"]) == "2,500,000"
    assert seed_in_capsim_unit(by_label["TRPS (requests/s)"]) == "11,574"


def _botec_cli(*args: str):
    from sim.cli import app

    result = CliRunner().invoke(app, ["botec", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("name", ["smartpal", "redai-1k", "redai-100k", "diurnal-api", "mmc"])
def test_botec_leads_with_a_headline_of_at_most_20_lines(name):
    text = _botec_cli(name)
    assert len(text.strip().splitlines()) <= 20, text
    assert "figure (unit in name)" not in text  # the section tables are behind --full
    for label in ("requests per second", "replicas needed", "cost per month", "SLO"):
        assert label in text
    assert f"capsim botec {name} --full" in text


def test_the_smartpal_headline_puts_the_seed_figures_beside_capsims():
    text = _botec_cli("smartpal")
    assert _row(text, "replicas needed (100% busy)")[1:] == [
        "1,341 at mean, 2,682 at peak",
        "112 ✓ (its formula, at the mean)",
    ]
    assert _row(text, "time per request (no queueing)")[2].startswith("9.6 ms ✓")
    assert _row(text, "hosted API instead")[1:] == ["$525,000,000", "$525,000,000 ✓"]
    assert "26 figures: 22 ✓, 1 ≈ (rounding only), 3 ✗" in text
    assert "≈ Ingress (Mbps): seed 186, capsim 185" in text


def test_the_redai_headline_marks_the_seeds_wrong_break_even():
    text = _botec_cli("redai-1k")
    assert _row(text, "break-even, one dedicated replica")[1:] == [
        "22,545 requests/day",
        "4,500 ✗",
    ]
    assert _row(text, "cost per month (30 d)")[2] == "$9.90 ✓"
    assert "... and 25 more" in text


def test_botec_full_prints_every_table_and_json_is_unchanged(smartpal):
    full = _botec_cli("smartpal", "--full")
    assert "inference_roofline.batched" in full and "figure (unit in name)" in full
    assert "Figures the seed printed" in full
    assert len(full.splitlines()) > 100
    assert json.loads(_botec_cli("smartpal", "--json")) == smartpal
