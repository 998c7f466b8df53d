"""The `capsim` command line: a few verbs over one scenario schema and `--set key.path=value`."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from distributions.errors import WorkloadError
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
EngineOption = Annotated[
    str,
    typer.Option(
        "--engine",
        help="exact (per request), fast (fleet scale, seconds a day), or auto (exact while quick).",
    ),
]
WorkersOption = Annotated[
    int, typer.Option("--workers", min=1, help="Local processes (results do not depend on it).")
]


def clean_errors(command):
    """Show bad input (a CapsimError or a WorkloadError) as one line on stderr and exit 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (CapsimError, WorkloadError) as exc:
            message = escape(str(exc))  # square brackets in a message are text, not markup
            stderr.print(f"[bold red]capsim:[/] {message}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def _load(scenario: str, sets: list[str] | None, seed: int | None = None, n: int | None = None):
    from sim.scenario.file import load_scenario

    loaded = load_scenario(scenario, sets or [])
    update = {}
    if seed is not None:
        update["seed"] = seed
    if n is not None:
        update["replications"] = n
    return loaded.model_copy(update=update) if update else loaded


def _print_json(document) -> None:
    from sim.montecarlo.json_output import dumps

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
    from sim.engine.service_time import build_service_model

    build_service_model(loaded)
    stdout.print(f"{scenario}: valid scenario {loaded.name!r}", highlight=False)


@app.command("catalog")
@clean_errors
def catalog_command(json_output: JsonOption = False) -> None:
    """GPUs and prices, each with its source and date."""
    from dataclasses import asdict

    from reports.catalog_table import catalog_tables
    from sim.scenario.catalog import load_catalog

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
    from sim.baseline.botec import botec

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
    from distributions.traffic import traffic_summary
    from reports.traffic_figure import plot_traffic
    from reports.traffic_table import traffic_table
    from sim.scenario.units import parse_duration_s

    try:
        bin_s = parse_duration_s(bins)
    except ValueError as exc:
        raise CapsimError(f"--bins: {exc}") from None
    if bin_s <= 0:
        raise CapsimError("--bins: a bin must be longer than zero")
    loaded = _load(scenario, sets, seed)
    from sim.montecarlo.replication import replication_streams

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
    engine: EngineOption = "auto",
) -> None:
    """Simulate N replications; print latency, requests, cost and risk next to the BOTEC."""
    from reports.run_table import run_report
    from sim.montecarlo.run_plan import check_plan, plan_run, run_and_aggregate

    loaded = _load(scenario, sets, seed, replications)
    chosen, runner = _engine_runner(loaded, engine, workers)
    if runner is None:
        plan = plan_run(loaded, workers)
        if not json_output:
            stderr.print(plan.describe(), highlight=False)
        check_plan(plan, yes)
    elif not json_output:
        from sim.fleetscale.run import describe_fast

        stderr.print(describe_fast(loaded), highlight=False)
    summary, results = run_and_aggregate(
        loaded, workers, show_progress=not json_output, runner=runner
    )
    summary["engine"] = chosen
    if out is not None:
        from reports.run_files import write_run

        write_run(out, summary, results)
    if json_output:
        _print_json(summary)
        return
    stdout.print(run_report(summary))
    stdout.print(f"engine: {chosen}", highlight=False)
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
    engine: EngineOption = "auto",
) -> None:
    """Run each autoscaling policy on the same traffic and seeds; one row per policy."""
    from reports.compare_table import compare_table
    from sim.montecarlo.compare import compare_policies

    loaded = _load(scenario, sets, seed, replications)
    names = [p.strip() for p in policies.split(",") if p.strip()]
    if not names:
        raise CapsimError("--policies: name at least one policy")
    chosen, runner = _engine_runner(loaded, engine, workers)
    rows = compare_policies(loaded, names, workers=workers, runner=runner)
    if json_output:
        document = {"scenario": loaded.name, "seed": loaded.seed, "engine": chosen}
        _print_json({**document, "policies": rows})
        return
    stdout.print(compare_table(rows, loaded.name))
    stdout.print(f"engine: {chosen}", highlight=False)


def _engine_runner(scenario, engine: str, workers: int):
    """The engine that runs (exact or fast) and, for the fast one, its replication runner."""
    from sim.montecarlo.engine_choice import choose_engine

    chosen = choose_engine(scenario, engine, workers)
    if chosen == "exact":
        return chosen, None
    from sim.fleetscale.run import check_fast, run_fast

    check_fast(scenario)
    return chosen, run_fast


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
