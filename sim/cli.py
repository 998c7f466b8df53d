"""The `capsim` command line: a few verbs over one scenario schema and `--set key.path=value`."""

from __future__ import annotations

import functools
import math
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from sim.errors import CapsimError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Monte Carlo capacity and cost simulator for LLM inference deployments.",
)
# Piped output keeps whole tables: rich would otherwise cut them at 80 columns.
stdout = Console(width=None if sys.stdout.isatty() else 160)
stderr = Console(stderr=True)

ScenarioArg = Annotated[str, typer.Argument(help="A scenario file, or a bundled scenario's name.")]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a key: --set fleet.replicas=8 (repeatable)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document, nothing else.")]
SeedOption = Annotated[
    int | None, typer.Option("--seed", help="Master seed (default: the file's).")
]
ReplicationsOption = Annotated[
    int | None, typer.Option("-n", "--replications", min=1, help="Monte Carlo replications.")
]
WorkersOption = Annotated[
    int, typer.Option("--workers", min=1, help="Local processes (results do not depend on it).")
]


def clean_errors(command):
    """Show a CapsimError as one line on stderr and exit 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except CapsimError as exc:
            message = escape(str(exc))  # square brackets in a message are text, not markup
            stderr.print(f"[bold red]capsim:[/] {message}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def _load(scenario: str, sets: list[str] | None, seed: int | None = None, n: int | None = None):
    from sim.scenario_file import load_scenario

    loaded = load_scenario(scenario, sets or [])
    update = {}
    if seed is not None:
        update["seed"] = seed
    if n is not None:
        update["replications"] = n
    return loaded.model_copy(update=update) if update else loaded


def _print_json(document) -> None:
    from sim.json_output import dumps

    sys.stdout.write(dumps(document) + "\n")


@app.command("scenarios")
@clean_errors
def scenarios_command(json_output: JsonOption = False) -> None:
    """List the bundled scenarios."""
    from rich.table import Table

    from scenarios import bundled_scenario_descriptions

    descriptions = bundled_scenario_descriptions()
    if json_output:
        _print_json(descriptions)
        return
    table = Table(title="Bundled scenarios (use the name in place of a file)")
    table.add_column("name")
    table.add_column("description")
    for name, description in descriptions.items():
        table.add_row(name, description)
    stdout.print(table)


@app.command("validate")
@clean_errors
def validate_command(scenario: ScenarioArg, sets: SetOption = None) -> None:
    """Check a scenario file against the schema and the catalog."""
    loaded = _load(scenario, sets)
    from sim.service_time import build_service_model

    build_service_model(loaded)
    stdout.print(f"{scenario}: valid scenario {loaded.name!r}", highlight=False)


@app.command("catalog")
@clean_errors
def catalog_command(json_output: JsonOption = False) -> None:
    """GPUs and prices, each with its source and date."""
    from dataclasses import asdict

    from reports.catalog_table import catalog_tables
    from sim.catalog import load_catalog

    catalog = load_catalog()
    if json_output:
        _print_json(
            {
                "gpus": [asdict(g) for g in catalog.gpus.values()],
                "prices": [asdict(p) for p in catalog.prices],
                "spot": [asdict(s) for s in catalog.spot.values()],
            }
        )
        return
    for table in catalog_tables(catalog):
        stdout.print(table)


@app.command("botec")
@clean_errors
def botec_command(
    scenario: ScenarioArg, sets: SetOption = None, json_output: JsonOption = False
) -> None:
    """The deterministic back-of-the-envelope baseline, with the seeds' figures beside it."""
    from reports.botec_table import botec_tables
    from sim.botec import botec

    result = botec(_load(scenario, sets))
    if json_output:
        _print_json(result)
        return
    for table in botec_tables(result):
        stdout.print(table)


@app.command("traffic")
@clean_errors
def traffic_command(
    scenario: ScenarioArg,
    sets: SetOption = None,
    bins: Annotated[str, typer.Option("--bins", help="Bin width, e.g. 1h, 15m, 30s.")] = "1h",
    seed: SeedOption = None,
    json_output: JsonOption = False,
    csv_output: Annotated[bool, typer.Option("--csv", help="Print bins as CSV.")] = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Draw the rate to a PNG.")] = None,
) -> None:
    """Preview one replication's arrivals per bin and its request sizes."""
    from reports.traffic_figure import plot_traffic
    from reports.traffic_table import traffic_table
    from sim.traffic import traffic_summary
    from sim.units import parse_duration_s

    try:
        bin_s = parse_duration_s(bins)
    except ValueError as exc:
        raise CapsimError(f"--bins: {exc}") from None
    if bin_s <= 0:
        raise CapsimError("--bins: a bin must be longer than zero")
    loaded = _load(scenario, sets, seed)
    from sim.traffic import MAX_TRAFFIC_BINS, bin_count

    if bin_count(bin_s, loaded.horizon) > MAX_TRAFFIC_BINS:
        raise CapsimError(
            f"--bins: {bins} bins over a {loaded.horizon:g} s horizon are "
            f"{bin_count(bin_s, loaded.horizon):,}, more than the {MAX_TRAFFIC_BINS:,} allowed; "
            f"use --bins {_narrowest_bin(loaded.horizon)} or wider"
        )
    from sim.simulation import replication_streams

    # Replication 0's traffic stream: the same arrivals `capsim run` simulates first.
    streams = replication_streams(loaded.seed, 0)
    summary = traffic_summary(loaded, loaded.seed, bin_s, rng=streams["traffic"])
    if plot is not None:
        plot_traffic(summary, plot)
    if json_output:
        _print_json(summary)
    elif csv_output:
        sys.stdout.write("bin_start_s,arrivals,rate_per_s,target_rate_per_s\n")
        for i, count in enumerate(summary["counts"]):
            target = summary["target_rate_per_s"][i]
            sys.stdout.write(f"{i * bin_s:g},{count},{count / bin_s:.6g},{target:.6g}\n")
    else:
        stdout.print(traffic_table(summary))
        if plot is not None:
            stdout.print(f"rate plot written to {plot}", highlight=False)


def _narrowest_bin(horizon_s: float) -> str:
    """The narrowest bin width, in a unit a user can type, that keeps within the bin limit."""
    from sim.traffic import MAX_TRAFFIC_BINS, bin_count
    from sim.units import SECONDS_PER_UNIT

    narrowest_s = horizon_s / MAX_TRAFFIC_BINS
    unit = next(u for u in ("h", "m", "s", "ms", "us") if narrowest_s >= SECONDS_PER_UNIT[u])
    tenths = math.ceil(narrowest_s / SECONDS_PER_UNIT[unit] * 10 - 1e-6)
    while bin_count(tenths / 10 * SECONDS_PER_UNIT[unit], horizon_s) > MAX_TRAFFIC_BINS:
        tenths += 1
    return f"{tenths / 10:g}{unit}"


@app.command("run")
@clean_errors
def run_command(
    scenario: ScenarioArg,
    sets: SetOption = None,
    replications: ReplicationsOption = None,
    seed: SeedOption = None,
    workers: WorkersOption = 1,
    out: Annotated[Path | None, typer.Option("--out", help="Write results to this folder.")] = None,
    json_output: JsonOption = False,
    yes: Annotated[
        bool, typer.Option("--yes", help="Run even if it will take over an hour.")
    ] = False,
) -> None:
    """Simulate N replications; print latency, requests, cost and risk next to the BOTEC."""
    from reports.run_table import run_report
    from sim.run_plan import check_plan, plan_run, run_and_aggregate

    loaded = _load(scenario, sets, seed, replications)
    plan = plan_run(loaded, workers)
    check_plan(plan, yes)  # a refusal is one line, so it comes before the plan is shown
    if not json_output:
        stderr.print(plan.describe(), highlight=False)
    summary, results = run_and_aggregate(loaded, workers, show_progress=not json_output)
    if out is not None:
        from sim.run_output import write_run

        write_run(out, summary, results)
    if json_output:
        _print_json(summary)
        return
    stdout.print(run_report(summary))
    if out is not None:
        stdout.print(f"results written to {out}/", highlight=False)


@app.command("compare")
@clean_errors
def compare_command(
    scenario: ScenarioArg,
    policies: Annotated[
        str, typer.Option("--policies", help="Comma-separated, e.g. fixed,target-tracking.")
    ] = "fixed,target-tracking,scheduled,predictive,serverless",
    sets: SetOption = None,
    replications: ReplicationsOption = None,
    seed: SeedOption = None,
    workers: WorkersOption = 1,
    json_output: JsonOption = False,
) -> None:
    """Run each autoscaling policy on the same traffic and seeds; one row per policy."""
    from reports.compare_table import compare_table
    from sim.compare import compare_policies

    loaded = _load(scenario, sets, seed, replications)
    names = [p.strip() for p in policies.split(",") if p.strip()]
    if not names:
        raise CapsimError("--policies: name at least one policy")
    rows = compare_policies(loaded, names, workers=workers)
    if json_output:
        _print_json({"scenario": loaded.name, "seed": loaded.seed, "policies": rows})
        return
    stdout.print(compare_table(rows, loaded.name))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
