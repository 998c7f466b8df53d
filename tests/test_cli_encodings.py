"""Files that are not UTF-8 text: one clean line naming the file, on every verb."""

from __future__ import annotations

import pytest
from classic_queue import CLASSIC_SHORT
from cli_error_helpers import VERBS, assert_clean_error, invoke
from typer.testing import CliRunner

TRACE = "TIMESTAMP,ContextTokens,GeneratedTokens\n0,10,20\n1,12,30\n2,9,25\n"
CDF = "value,cdf\n0.5,0.2\n1.0,1.0\n"
RANDOM_BYTES = bytes([0x80, 0x9F, 0x00, 0x01, 0xFE, 0x0A, 0xC3, 0x28, 0xA0, 0x0A] * 30)


def encodings(text: str) -> dict[str, bytes]:
    """The same text as random bytes, UTF-16 with a byte-order mark, and Latin-1 (with an é)."""
    return {
        "random-bytes": RANDOM_BYTES,
        "utf-16": text.encode("utf-16"),
        "latin-1": ("# café\n" + text).encode("latin-1"),
    }


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("encoding", ["random-bytes", "utf-16", "latin-1"])
@pytest.mark.parametrize("verb", VERBS, ids=" ".join)
def test_scenario_file_not_utf8(runner, tmp_path, encoding, verb):
    path = tmp_path / "scenario.toml"
    path.write_bytes(encodings(CLASSIC_SHORT)[encoding])
    result = invoke(runner, verb[0], str(path), *verb[1:])
    assert_clean_error(result, str(path), "UTF-", "save it as UTF-8")


def test_scenario_file_with_a_utf8_byte_order_mark_is_read(runner, tmp_path):
    path = tmp_path / "scenario.toml"
    path.write_bytes(b"\xef\xbb\xbf" + CLASSIC_SHORT.encode())
    result = invoke(runner, "validate", str(path))
    assert result.exit_code == 0, result.stderr


TRACE_SET = 'traffic={ profile = "trace", arrival = "trace", trace = { file = "data.csv" } }'
CDF_SET = 'service.latency={ dist = "empirical", file = "data.csv" }'


@pytest.mark.parametrize("encoding", ["random-bytes", "utf-16", "latin-1"])
@pytest.mark.parametrize("kind", ["trace", "cdf"])
@pytest.mark.parametrize("verb", VERBS, ids=" ".join)
def test_referenced_csv_not_utf8(runner, tmp_path, monkeypatch, encoding, kind, verb):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenario.toml").write_text(CLASSIC_SHORT, encoding="utf-8")
    data = tmp_path / "data.csv"
    data.write_bytes(encodings(TRACE if kind == "trace" else CDF)[encoding])
    override = TRACE_SET if kind == "trace" else CDF_SET
    result = invoke(runner, verb[0], "scenario.toml", *verb[1:], "--set", override)
    assert_clean_error(result, str(data), "not UTF-8 text", "save it as a UTF-8 CSV")
