"""The `capsim` command line: a few verbs over one scenario schema and `--set key.path=value`."""

from __future__ import annotations

import contextlib
import functools
import math
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from distributions.errors import WorkloadError
from sim.errors import CapsimError


class _PlainHelp:
    """Help that names values as the README does: a flag shows no "<bool>" (it takes none)."""

    def get_params(self, ctx):
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class CapsimGroup(_PlainHelp, TyperGroup):
    """The `capsim` group, with plain help."""


class CapsimCommand(_PlainHelp, TyperCommand):
    """A verb whose usage line reads `capsim botec [OPTIONS] SCENARIO`, not `{scenario}`."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = param.metavar or param.name.upper()
                pieces.append(name if param.required else f"[{name}]")
        return pieces


app = typer.Typer(
    cls=CapsimGroup,
    add_completion=False,
    no_args_is_help=True,
    help="Monte Carlo capacity and cost simulator for LLM inference deployments.",
)
# Piped output keeps whole tables: rich would otherwise cut them at 80 columns.
stdout = Console(width=None if sys.stdout.isatty() else 160)
stderr = Console(stderr=True)

ScenarioArg = Annotated[
    str,
    typer.Argument(metavar="SCENARIO", help="A scenario file, or a bundled scenario's name."),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set", metavar="KEY=VALUE", help="Override a key: --set fleet.replicas=8 (repeatable)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document, nothing else.")]
SeedOption = Annotated[
    int | None, typer.Option("--seed", metavar="S", help="Master seed (default: the file's).")
]
ReplicationsOption = Annotated[
    int | None, typer.Option("-n", "--replications", metavar="N", help="Monte Carlo replications.")
]
EngineOption = Annotated[
    str,
    typer.Option(
        "--engine",
        help="exact (per request), fast (fleet scale, seconds a day), auto (exact while "
        "quick), or simpy (the exact engine's SimPy oracle, slower, the same results).",
    ),
]
WorkersOption = Annotated[
    int,
    typer.Option(
        "--workers", min=1, metavar="W", help="Local processes (results do not depend on it)."
    ),
]
ExecutorOption = Annotated[
    str,
    typer.Option("--executor", help="local (this machine's processes) or dask (a Dask cluster)."),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="tcp://HOST:PORT of a running Dask scheduler; without it --executor dask "
        "starts a LocalCluster of --workers processes.",
    ),
]


@contextlib.contextmanager
def _executor(kind: str, workers: int, scheduler: str | None):
    """The executor the options ask for, closed afterwards."""
    from sim.montecarlo.executors import open_executor

    executor = open_executor(kind, workers, scheduler)
    try:
        yield executor
    finally:
        executor.close()


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
    from sim.scenario.file import check_option, load_scenario

    # Checked like the keys they replace, before the file is read or anything runs.
    if seed is not None:
        check_option("--seed", "seed", seed)
    if n is not None:
        check_option("--replications", "replications", n)
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


@app.command("scenarios", cls=CapsimCommand)
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


@app.command("validate", cls=CapsimCommand)
@clean_errors
def validate_command(scenario: ScenarioArg, sets: SetOption = None) -> None:
    """Check a scenario file against the schema and the catalog."""
    loaded = _load(scenario, sets)
    from sim.engine.service_time import build_service_model

    build_service_model(loaded)
    stdout.print(f"{scenario}: valid scenario {loaded.name!r}", highlight=False)


@app.command("catalog", cls=CapsimCommand)
@clean_errors
def catalog_command(json_output: JsonOption = False) -> None:
    """GPUs and prices, each with its source and date."""
    from dataclasses import asdict

    from reports.catalog_table import catalog_tables, platform_price_table
    from sim.scenario.catalog import load_catalog
    from sim.scenario.platform_prices import platform_prices

    catalog = load_catalog()
    platform = platform_prices()
    if json_output:
        _print_json(
            {
                "gpus": [asdict(g) for g in catalog.gpus.values()],
                "prices": [asdict(p) for p in catalog.prices],
                "spot": [asdict(s) for s in catalog.spot.values()],
                "platform_prices": [asdict(p) for p in platform.values()],
            }
        )
        return
    for table in [*catalog_tables(catalog), platform_price_table(platform)]:
        stdout.print(table)


@app.command("botec", cls=CapsimCommand)
@clean_errors
def botec_command(
    scenario: ScenarioArg,
    sets: SetOption = None,
    json_output: JsonOption = False,
    full: Annotated[
        bool, typer.Option("--full", help="Every section's table, not the headline.")
    ] = False,
) -> None:
    """The deterministic back-of-the-envelope baseline, with the seeds' figures beside it."""
    from reports.botec_headline import botec_headline_report
    from reports.botec_table import botec_tables
    from sim.baseline.botec import botec
    from sim.baseline.headline import botec_headline

    loaded = _load(scenario, sets)
    result = botec(loaded)
    if json_output:
        _print_json(result)
        return
    if full:
        for table in botec_tables(result):
            stdout.print(table)
        return
    headline = botec_headline(loaded, result)
    stdout.print(botec_headline_report(result, headline, loaded.slo.latency_p99))


@app.command("traffic", cls=CapsimCommand)
@clean_errors
def traffic_command(
    scenario: ScenarioArg,
    sets: SetOption = None,
    bins: Annotated[
        str | None,
        typer.Option(
            "--bins",
            metavar="WIDTH",
            help="Bin width, e.g. 1h, 15m, 30s (default: a round width, 24-60 bins).",
        ),
    ] = None,
    seed: SeedOption = None,
    json_output: JsonOption = False,
    csv_output: Annotated[bool, typer.Option("--csv", help="Print bins as CSV.")] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", metavar="FILE.png", help="Draw the rate to a PNG.")
    ] = None,
) -> None:
    """Preview one replication's arrivals per bin and its request sizes."""
    from distributions.traffic import traffic_summary
    from reports.traffic_figure import plot_traffic
    from reports.traffic_table import traffic_table
    from sim.scenario.units import parse_duration_s, round_bin_s

    if bins is not None:
        try:
            bin_s = parse_duration_s(bins)
        except ValueError as exc:
            raise CapsimError(f"--bins: {exc}") from None
        if not 0 < bin_s < float("inf"):
            raise CapsimError(f"--bins {bins}: a bin must be a finite duration longer than zero")
    if plot is not None:
        from reports.output_paths import check_output_file

        check_output_file(plot, "--plot")
    loaded = _load(scenario, sets, seed)
    if loaded.traffic.closed_loop:
        raise CapsimError(
            f"{scenario}: traffic.arrival = 'closed': {loaded.traffic.concurrency} clients "
            "send as their replies come back, so the arrivals exist only in a simulation of "
            "the fleet; `capsim run` reports them (throughput, requests) and `capsim botec` "
            "bounds the throughput by concurrency / (time per request + think time)"
        )
    if bins is None:
        bin_s = round_bin_s(loaded.horizon)
    from distributions.traffic import MAX_TRAFFIC_BINS, bin_count

    if bin_count(bin_s, loaded.horizon) > MAX_TRAFFIC_BINS:
        raise CapsimError(
            f"--bins: {bins} bins over a {loaded.horizon:g} s horizon are "
            f"{bin_count(bin_s, loaded.horizon):,}, more than the {MAX_TRAFFIC_BINS:,} allowed; "
            f"use --bins {_narrowest_bin(loaded.horizon)} or wider"
        )
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
            rate = summary["rate_per_s"][i]
            target = summary["target_rate_per_s"][i]
            sys.stdout.write(f"{i * bin_s:g},{count},{rate:.6g},{target:.6g}\n")
    else:
        stdout.print(traffic_table(summary))
        if plot is not None:
            stdout.print(f"rate plot written to {plot}", highlight=False)


def _narrowest_bin(horizon_s: float) -> str:
    """The narrowest bin width, in a unit a user can type, that keeps within the bin limit."""
    from distributions.traffic import MAX_TRAFFIC_BINS, bin_count
    from sim.scenario.units import SECONDS_PER_UNIT

    narrowest_s = horizon_s / MAX_TRAFFIC_BINS
    unit = next(u for u in ("h", "m", "s", "ms", "us") if narrowest_s >= SECONDS_PER_UNIT[u])
    tenths = math.ceil(narrowest_s / SECONDS_PER_UNIT[unit] * 10 - 1e-6)
    while bin_count(tenths / 10 * SECONDS_PER_UNIT[unit], horizon_s) > MAX_TRAFFIC_BINS:
        tenths += 1
    return f"{tenths / 10:g}{unit}"


@app.command("run", cls=CapsimCommand)
@clean_errors
def run_command(
    scenario: ScenarioArg,
    sets: SetOption = None,
    replications: ReplicationsOption = None,
    seed: SeedOption = None,
    workers: WorkersOption = 1,
    out: Annotated[
        Path | None, typer.Option("--out", metavar="DIR", help="Write results to this folder.")
    ] = None,
    json_output: JsonOption = False,
    executor: ExecutorOption = "local",
    scheduler: SchedulerOption = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Run even if it will take over an hour.")
    ] = False,
    engine: EngineOption = "auto",
) -> None:
    """Simulate N replications; print latency, requests, cost and risk next to the BOTEC."""
    from reports.run_table import run_report
    from sim.montecarlo.run_plan import check_plan, plan_run, run_and_aggregate

    if out is not None:
        from reports.output_paths import check_output_folder

        check_output_folder(out, "--out")
    loaded = _load(scenario, sets, seed, replications)
    chosen, runner = _engine_runner(loaded, engine, workers)
    if runner is None:
        plan = plan_run(loaded, workers)
        check_plan(plan, yes)  # a refusal is one line, so it comes before the plan is shown
        if not json_output:
            stderr.print(plan.describe(), highlight=False)
    elif not json_output and chosen == "fast":
        from sim.fleetscale.run import describe_fast

        stderr.print(describe_fast(loaded), highlight=False)
    with _executor(executor, workers, scheduler) as pool:
        # The local executor keeps run_replications' own path; dask hands it the cluster.
        cluster = pool if executor == "dask" else None
        summary, results = run_and_aggregate(
            loaded, workers, not json_output, executor=cluster, runner=_on(runner, cluster)
        )
    summary["engine"] = chosen
    if out is not None:
        from reports.run_files import write_run
        from sim.montecarlo.run_info import run_info
        from sim.scenario.plugins import AUTOSCALING

        write_run(
            out,
            summary,
            results,
            run_info(loaded, executor, workers),
            serverless=AUTOSCALING[loaded.autoscaling.policy].containers,
        )
    if json_output:
        _print_json(summary)
        return
    stdout.print(run_report(summary))
    stdout.print(f"engine: {chosen}", highlight=False)
    if out is not None:
        stdout.print(f"results written to {out}/", highlight=False)


@app.command("compare", cls=CapsimCommand)
@clean_errors
def compare_command(
    scenario: ScenarioArg,
    policies: Annotated[
        str | None,
        typer.Option(
            "--policies",
            metavar="P1,P2",
            help="Comma-separated, e.g. fixed,target-tracking (default: those of fixed, "
            "target-tracking, scheduled, predictive, serverless the scenario can run).",
        ),
    ] = None,
    sets: SetOption = None,
    replications: ReplicationsOption = None,
    seed: SeedOption = None,
    workers: WorkersOption = 1,
    json_output: JsonOption = False,
    executor: ExecutorOption = "local",
    scheduler: SchedulerOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write each policy's results to this folder.")
    ] = None,
    engine: EngineOption = "auto",
) -> None:
    """Run each autoscaling policy on the same traffic and seeds; one row per policy."""
    from reports.compare_table import compare_table
    from sim.montecarlo.compare import policy_row, runnable_variants
    from sim.montecarlo.policy_runs import run_policies

    loaded = _load(scenario, sets, seed, replications)
    names = None
    if policies is not None:
        names = [p.strip() for p in policies.split(",") if p.strip()]
        if not names:
            raise CapsimError("--policies: name at least one policy")
    variants, skipped = runnable_variants(loaded, names)  # every named policy must run
    chosen, runner = _engine_runner(loaded, engine, workers)
    with _executor(executor, workers, scheduler) as pool:
        cluster = pool if executor == "dask" else None
        runs = run_policies(
            variants, workers=workers, executor=cluster, runner=_on(runner, cluster)
        )
    rows = [policy_row(run.policy, run.summary) for run in runs]
    if out is not None:
        from reports.compare_files import write_compare

        write_compare(out, runs, rows, executor, workers)
    if json_output:
        document = {"scenario": loaded.name, "seed": loaded.seed, "engine": chosen}
        _print_json({**document, "policies": rows, "skipped": skipped})
        return
    for policy, reason in skipped.items():
        stderr.print(f"skipped {policy}: {escape(reason)}", highlight=False, soft_wrap=True)
    stdout.print(compare_table(rows, loaded.name, loaded.horizon))
    stdout.print(f"engine: {chosen}", highlight=False)
    if out is not None:
        stdout.print(f"results written to {out}/", highlight=False)


def _on(runner, cluster):
    """The fast engine's runner with its blocks of replications on the Dask cluster, if any."""
    if runner is None or cluster is None:
        return runner
    from functools import partial

    return partial(runner, executor=cluster)


def _grid_engine(scenarios, engine: str, workers: int):
    """The one engine of a sweep's points or a size's settings, and its block runner."""
    from sim.fleetscale.run import choose_grid_engine, run_fast_block
    from sim.montecarlo.executors import run_block

    chosen = choose_grid_engine(scenarios, engine, workers)
    return chosen, run_fast_block if chosen == "fast" else run_block


@app.command("new", cls=CapsimCommand)
@clean_errors
def new_command(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="The scenario file to write.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
) -> None:
    """Ask a few questions, write a scenario file for the answers, and print its BOTEC."""
    from reports.botec_headline import botec_headline_report
    from sim.baseline.botec import botec
    from sim.baseline.headline import botec_headline
    from sim.montecarlo.json_output import write_atomically
    from sim.scenario.catalog import load_catalog
    from sim.scenario.new_scenario import Answers, parse_text, replicas_at_peak, scenario_text

    if path.exists() and not force:
        raise CapsimError(f"{path}: exists; pass --force to overwrite it")
    if path.exists() and path.is_dir():
        raise CapsimError(f"{path}: is a folder; give a file name such as {path}/scenario.toml")
    d = Answers(name=path.stem or Answers.name)
    gpus = list(load_catalog().gpus)
    answers = Answers(
        name=d.name,
        daily_active_users=_ask("Daily active users", d.daily_active_users),
        requests_per_user_per_day=_ask("Requests per user per day", d.requests_per_user_per_day),
        prompt_tokens=_ask("Prompt tokens per request (mean)", d.prompt_tokens),
        output_tokens=_ask("Output tokens per reply (mean)", d.output_tokens),
        model_billions=_ask("Model size, billions of parameters", d.model_billions),
        gpu=_ask_choice(f"GPU ({', '.join(gpus)})", d.gpu, gpus),
        latency_p99_s=_ask("Latency target, p99 end to end (s)", d.latency_p99_s),
        budget_usd_per_month=_ask("Budget, USD per month", d.budget_usd_per_month),
    )
    first = parse_text(scenario_text(answers, 1), str(path))
    replicas = replicas_at_peak(botec(first))
    text = scenario_text(answers, replicas)
    loaded = parse_text(text, str(path))  # what is written validates as the file it becomes
    write_atomically(path, text)
    result = botec(loaded)
    stdout.print(f"wrote {path} ({replicas} replicas, the BOTEC's at the peak)", highlight=False)
    stdout.print(
        botec_headline_report(result, botec_headline(loaded, result), loaded.slo.latency_p99)
    )
    stdout.print(
        f"next: capsim run {path}   (or capsim size {path}, capsim levers {path})", highlight=False
    )


def _ask(text: str, default: float) -> float:
    """A positive finite number, asked again until it is one."""
    while True:
        value = typer.prompt(text, default=default, type=float)
        if math.isfinite(value) and value > 0:
            return value
        stderr.print("  a number greater than 0, please", highlight=False)


def _ask_choice(text: str, default: str, allowed: list[str]) -> str:
    """One of `allowed`, asked again until it is one."""
    while True:
        value = typer.prompt(text, default=default).strip()
        if value in allowed:
            return value
        stderr.print(f"  one of: {', '.join(allowed)}", highlight=False)


LEVERS_REPLICATIONS = 2  # `levers` without -n: a p50 (p95 and p99 of two are their max)


@app.command("levers", cls=CapsimCommand)
@clean_errors
def levers_command(
    scenario: ScenarioArg,
    sets: SetOption = None,
    replications: ReplicationsOption = None,
    seed: SeedOption = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, metavar="W", help="Local processes (default: cores)."),
    ] = None,
    json_output: JsonOption = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write each lever's results to this folder (capsim report)."),
    ] = None,
    engine: EngineOption = "auto",
) -> None:
    """Each of seed 002's cost levers alone and all together against the baseline, same seeds."""
    from reports.levers_table import lever_notes, levers_table
    from sim.montecarlo.levers import run_levers
    from sim.montecarlo.replications import default_workers

    loaded = _load(scenario, sets, seed, replications or LEVERS_REPLICATIONS)
    workers = workers or default_workers()
    chosen, runner = _engine_runner(loaded, engine, workers)
    with _executor("local", workers, None) as pool:  # one pool of processes for every lever
        found = run_levers(loaded, workers=workers, executor=pool, runner=runner)
    if out is not None:
        from reports.compare_files import write_compare

        extra = {"kind_detail": "levers", "levers": found.rows, "skipped": found.skipped}
        write_compare(out, found.runs, found.rows, "local", workers, extra)
    if json_output:
        document = {"scenario": loaded.name, "seed": loaded.seed, "engine": chosen}
        _print_json({**document, "levers": found.rows, "skipped": found.skipped})
        return
    stdout.print(levers_table(found.rows, loaded.name, loaded.horizon))
    for line in lever_notes(found.rows):
        stdout.print(escape(line), highlight=False, soft_wrap=True)
    for name, reason in found.skipped.items():
        stdout.print(f"not run: {name}: {escape(reason)}", highlight=False, soft_wrap=True)
    for name, note in found.notes.items():
        stdout.print(f"{name}: {escape(note)}", highlight=False, soft_wrap=True)
    stdout.print(f"engine: {chosen}", highlight=False)
    if out is not None:
        stdout.print(f"results written to {out}/", highlight=False)


def _engine_runner(scenario, engine: str, workers: int):
    """The engine that runs (exact, fast or simpy) and, but for exact, its replication runner."""
    from sim.montecarlo.engine_choice import choose_engine

    chosen = choose_engine(scenario, engine, workers)
    if chosen == "exact":
        return chosen, None
    if chosen == "simpy":
        from sim.montecarlo.simpy_runs import run_on_simpy

        return chosen, functools.partial(run_on_simpy, workers=workers)
    from sim.fleetscale.run import check_fast, run_fast

    check_fast(scenario)
    return chosen, run_fast


@app.command("sweep")
@clean_errors
def sweep_command(
    scenario: ScenarioArg,
    vary: Annotated[
        list[str],
        typer.Option(
            "--vary",
            help="key.path=a,b,c or key.path=start:stop:step (stop included); repeatable, "
            "every combination runs.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Results folder; rerun to resume.")],
    sets: SetOption = None,
    replications: ReplicationsOption = None,
    seed: SeedOption = None,
    workers: WorkersOption = 1,
    executor: ExecutorOption = "local",
    scheduler: SchedulerOption = None,
    json_output: JsonOption = False,
    engine: EngineOption = "auto",
) -> None:
    """Run every point of a grid on the same seeds; resumable; one row per point."""
    from reports.sweep_table import sweep_table
    from sim.montecarlo.sweep import (
        IDENTITY_KEYS,
        pending_tasks,
        plan_sweep,
        point_summaries,
        run_sweep,
        set_engine,
    )
    from sim.montecarlo.task_store import TaskStore

    plan = plan_sweep(scenario, sets or [], vary, seed, replications)
    chosen_engine, block_runner = _grid_engine(list(plan.scenarios.values()), engine, workers)
    set_engine(plan, chosen_engine)
    points = {p.index: p for p in plan.points}
    for index, message in plan.invalid.items():
        stderr.print(
            f"[yellow]skipped point[/] {escape(points[index].name)}: {escape(message)}",
            highlight=False,
            soft_wrap=True,
        )
    store = TaskStore(out)
    store.open(plan.manifest, IDENTITY_KEYS)
    pending = pending_tasks(plan, store)
    if not json_output:
        stderr.print(
            f"{len(plan.scenarios)} points x {plan.manifest['replications']} replications: "
            f"{len(pending)} of {len(plan.tasks)} tasks to run",
            highlight=False,
        )
    with _executor(executor, workers, scheduler) as pool:
        if not json_output and sys.stderr.isatty() and pending:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            columns = (
                TextColumn("sweep"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} tasks"),
                TimeRemainingColumn(),
            )
            with Progress(*columns, console=stderr, transient=True) as progress:
                bar = progress.add_task("sweep", total=len(pending))
                run_sweep(
                    plan,
                    store,
                    pool,
                    on_task=lambda _: progress.advance(bar),
                    block_runner=block_runner,
                )
        else:
            run_sweep(plan, store, pool, block_runner=block_runner)
    summaries = point_summaries(plan.manifest, store.read_rows())
    if json_output:
        manifest = {k: v for k, v in plan.manifest.items() if k not in ("points", "scenario")}
        _print_json(
            {**manifest, "scenario": plan.manifest["scenario"]["name"], "points": summaries}
        )
        return
    stdout.print(sweep_table(plan.manifest, summaries))
    stdout.print(f"engine: {chosen_engine}", highlight=False)
    stdout.print(f"results written to {out}/", highlight=False)


@app.command("size", cls=CapsimCommand)
@clean_errors
def size_command(
    scenario: ScenarioArg,
    gpus: Annotated[
        str, typer.Option("--gpus", help="GPU types to try, comma-separated.")
    ] = "T4,L4,A10G,A100-80GB,H100-SXM",
    markets: Annotated[
        str, typer.Option("--markets", help="on-demand and/or spot, comma-separated.")
    ] = "on-demand",
    policies: Annotated[
        str,
        typer.Option(
            "--policies",
            help="fixed (the replica count) and/or target-tracking (target and minimum).",
        ),
    ] = "fixed",
    confidence: Annotated[
        float,
        typer.Option(
            "--confidence", min=0.5, max=0.999, help="Share of days that must meet the SLO."
        ),
    ] = 0.95,
    replications: Annotated[
        int,
        typer.Option(
            "-n", "--replications", min=1, metavar="N", help="Most replications per setting."
        ),
    ] = 80,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write every evaluated setting as a sweep folder."),
    ] = None,
    sets: SetOption = None,
    seed: SeedOption = None,
    workers: WorkersOption = 1,
    executor: ExecutorOption = "local",
    scheduler: SchedulerOption = None,
    json_output: JsonOption = False,
    engine: EngineOption = "auto",
) -> None:
    """The cheapest fleet of each GPU type that meets the SLO on enough simulated days."""
    from reports.size_table import size_table
    from sim.montecarlo.size_summary import size_document
    from sim.montecarlo.sizing import (
        MARKETS,
        SettingRunner,
        candidate_scenario,
        candidates,
        parse_list,
        size_all,
    )

    base = _load(scenario, sets, seed)
    chosen = candidates(
        base,
        parse_list("--gpus", gpus),
        parse_list("--markets", markets, MARKETS),
        parse_list("--policies", policies),
    )
    # One engine for every setting; the fast one must honour each candidate's scenario.
    settings = [base, *(candidate_scenario(base, c, 1) for c in chosen)]
    chosen_engine, block_runner = _grid_engine(settings, engine, workers)
    store = None
    if out is not None:
        from sim.montecarlo.size_store import check_folder

        store = check_folder(out)

    def report(sized) -> None:
        if not json_output:
            found = f"{sized.chosen.replicas} replicas" if sized.chosen else sized.note
            stderr.print(
                f"{sized.candidate.name}: {found} "
                f"({len(sized.evaluations)} settings, "
                f"{sum(e.replications for e in sized.evaluations)} replications)",
                highlight=False,
            )

    with _executor(executor, workers, scheduler) as pool:
        runner = SettingRunner(base, pool, confidence, replications, block_runner)
        sized = size_all(runner, chosen, report)
    document = size_document(base, sized, confidence, replications, chosen_engine)
    if not json_output:
        for warning in document["warnings"]:
            stderr.print(f"[yellow]note:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    if store is not None:
        from sim.montecarlo.size_store import write_size_folder

        write_size_folder(store, scenario, sets or [], base, sized, chosen_engine)
    if json_output:
        _print_json(document)
        return
    stdout.print(size_table(document))
    stdout.print(f"engine: {chosen_engine}", highlight=False)
    if out is not None:
        stdout.print(f"evaluated settings written to {out}/ (capsim report {out})", highlight=False)


@app.command("report")
@clean_errors
def report_command(
    folder: Annotated[
        Path, typer.Argument(help="A folder written by run --out, compare --out or sweep --out.")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="The HTML file (default: DIR/report.html).")
    ] = None,
) -> None:
    """One self-contained HTML report of a results folder, with every table also as CSV."""
    from reports.html_report import write_report

    html, csvs = write_report(folder, out)
    stdout.print(f"report written to {html} ({len(csvs)} CSV tables beside it)", highlight=False)


@app.command("calibrate", cls=CapsimCommand)
@clean_errors
def calibrate_command(
    measurements: Annotated[
        list[Path],
        typer.Argument(
            metavar="MEASUREMENTS...",
            help="Measured results: vLLM bench JSON, genai-perf CSV or CSV.",
        ),
    ],
    scenario: Annotated[
        str, typer.Option("--scenario", metavar="S", help="The scenario whose [service] to fit.")
    ],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="vllm-bench, genai-perf or csv (default: from the file's name and first line).",
        ),
    ] = None,
    write: Annotated[
        bool, typer.Option("--write", help="Write the fitted values into the scenario file.")
    ] = False,
    sets: SetOption = None,
    json_output: JsonOption = False,
) -> None:
    """Fit the step model (service.mfu, mbu, step_overhead, ...) to measured results."""
    from reports.calibration_table import calibration_document, residual_table
    from sim.montecarlo.calibration import calibrate
    from sim.scenario.file import resolve_scenario_path
    from sim.scenario.measurements import read_measurements
    from sim.scenario.service_writer import service_block, write_service_values

    path = resolve_scenario_path(scenario)
    if write and not Path(scenario).is_file():
        raise CapsimError(
            f"--write: {scenario} is a bundled scenario; copy it to a file and calibrate that"
        )
    loaded = _load(scenario, sets)
    points = [p for file in measurements for p in read_measurements(file, fmt)]
    result = calibrate(loaded, points)
    fitted = {name: float(f"{value:.6g}") for name, value in result.fitted.items()}
    if write:
        write_service_values(path, fitted)
    if json_output:
        _print_json({**calibration_document(result), "written": str(path) if write else None})
        return
    stdout.print(service_block(fitted), highlight=False, markup=False)
    stdout.print(residual_table(result))
    if write:
        stdout.print(f"[service] values written to {path}", highlight=False)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
