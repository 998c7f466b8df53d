"""What `capsim botec` prints: the headline, the full tables, the seed column in capsim's unit."""

from __future__ import annotations

import re

from rich.console import Console

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
