"""Options checked before any simulation: the seed, -n, and the paths a command writes
(--out, --plot). A bad one is one line, exit 2, and nothing is written or simulated."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from classic_queue import CLASSIC_SHORT
from cli_error_helpers import assert_clean_error, invoke
from typer.testing import CliRunner

import distributions.traffic
import sim.montecarlo.run_plan


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def scenario(tmp_path):
    path = tmp_path / "scenario.toml"
    path.write_text(CLASSIC_SHORT, encoding="utf-8")
    return path


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if a command starts simulating (the checks must come first)."""

    def simulate(*args, **kwargs):
        raise AssertionError("simulated before checking the options")

    monkeypatch.setattr(sim.montecarlo.run_plan, "run_and_aggregate", simulate)
    monkeypatch.setattr(distributions.traffic, "traffic_summary", simulate)


def files_under(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*"))


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ("run", "--seed", "-1"),
            "--seed: must be at least 0 and at most 9223372036854775807 (got -1)",
        ),
        (("traffic", "--seed", "-1"), "--seed: must be at least 0"),
        (("compare", "--seed", "-1"), "--seed: must be at least 0"),
        (("run", "--seed", str(2**64)), "--seed: must be at least 0"),
        (("run", "-n", "0"), "--replications: must be at least 1 and at most 1000000 (got 0)"),
    ],
    ids=" ".join,
)
def test_a_bad_seed_or_count_is_refused_before_simulating(
    runner, scenario, no_simulation, args, fragment
):
    result = invoke(runner, args[0], str(scenario), *args[1:])
    assert_clean_error(result, fragment)


def test_plot_into_a_missing_folder(runner, tmp_path, scenario, no_simulation):
    before = files_under(tmp_path)
    plot = tmp_path / "missing" / "x.png"
    result = invoke(runner, "traffic", str(scenario), "--plot", str(plot))
    assert_clean_error(result, f"--plot {plot}", "no such folder")
    assert files_under(tmp_path) == before


@pytest.mark.parametrize(("name", "fragment"), [("x.txt", "must end in .png"), ("", "is a folder")])
def test_plot_to_a_name_that_is_no_figure(
    runner, tmp_path, scenario, no_simulation, name, fragment
):
    plot = tmp_path / name
    result = invoke(runner, "traffic", str(scenario), "--plot", str(plot))
    assert_clean_error(result, "--plot", fragment)


def test_out_is_an_existing_file(runner, tmp_path, scenario, no_simulation):
    out = tmp_path / "results"
    out.write_text("keep me")
    result = invoke(runner, "run", str(scenario), "--out", str(out))
    assert_clean_error(result, f"--out {out}", "is a file, not a folder")
    assert out.read_text() == "keep me"


def test_out_below_a_file(runner, tmp_path, scenario, no_simulation):
    (tmp_path / "results").write_text("keep me")
    out = tmp_path / "results" / "run1"
    result = invoke(runner, "run", str(scenario), "--out", str(out))
    assert_clean_error(result, f"--out {out}", "is a file, not a folder")


def can_write_in(folder: Path) -> bool:
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write in: a read-only one, or /sys when running as root."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    if can_write_in(folder):  # root ignores permission bits
        folder = Path("/sys")
        if not folder.is_dir() or can_write_in(folder):
            pytest.skip("no unwritable folder here")
    return folder


@pytest.mark.parametrize("verb", ["run", "traffic"])
def test_an_unwritable_folder(runner, tmp_path, scenario, no_simulation, verb):
    folder = unwritable_folder(tmp_path)
    if verb == "run":
        out, option = folder / "capsim-results", "--out"
    else:
        out, option = folder / "capsim-rate.png", "--plot"
    result = invoke(runner, verb, str(scenario), option, str(out))
    assert_clean_error(result, f"{option} {out}", f"cannot write in {folder}")
    assert not out.exists()


def test_a_writable_out_folder_still_runs(runner, tmp_path, scenario):
    out = tmp_path / "new" / "results"
    result = invoke(runner, "run", str(scenario), "-n", "1", "--json", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert (out / "summary.json").is_file()
    assert not list(out.glob("tmp*"))  # the write check leaves nothing behind
