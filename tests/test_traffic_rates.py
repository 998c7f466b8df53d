"""`capsim traffic`: one rate per bin (arrivals over the bin's own width) in every view."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from sim.cli import app

# A 1 h horizon in 7 min bins: eight full bins and a 4 min last bin.
ARGS = ["traffic", "mmc", "--set", "horizon=1h", "--bins", "7m"]


def test_csv_json_and_table_show_the_same_rate_for_a_short_last_bin() -> None:
    runner = CliRunner()
    as_json = json.loads(runner.invoke(app, [*ARGS, "--json"]).stdout)
    rows = list(csv.DictReader(io.StringIO(runner.invoke(app, [*ARGS, "--csv"]).stdout)))
    table = runner.invoke(app, ARGS).stdout
    counts = as_json["counts"]
    assert len(counts) == len(rows) == 9
    widths_s = [420.0] * 8 + [3600.0 - 8 * 420.0]
    expected = [n / w for n, w in zip(counts, widths_s, strict=True)]
    for row, rate in zip(rows, expected, strict=True):
        assert float(row["rate_per_s"]) == pytest.approx(rate, rel=1e-5)
    assert f"{expected[-1]:,.3f}" in table
    assert as_json["rate_per_s"] == pytest.approx(expected, rel=1e-12)
    assert as_json["peak_rate_per_s"] == pytest.approx(max(expected), rel=1e-12)
