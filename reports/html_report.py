"""`capsim report DIR`: one self-contained HTML file for a run, a compare or a sweep folder.

The page is rendered from a Jinja2 template with every figure embedded as a
data: URI, so it opens offline; every table is also written as CSV beside it.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from reports import report_figures as figures
from reports.report_tables import (
    ReportTable,
    botec_table,
    compare_rows_table,
    cost_table,
    pooled_latency_table,
    replication_latency_table,
    risk_table,
    seconds,
    share,
    sweep_points_table,
    usd,
)
from sim.baseline.botec import botec
from sim.baseline.headline import botec_headline
from sim.errors import CapsimError
from sim.montecarlo.json_output import write_atomically
from sim.montecarlo.run_info import capsim_version
from sim.montecarlo.sweep import point_summaries
from sim.montecarlo.task_store import MANIFEST, TaskStore
from sim.scenario.file import load_scenario, validate_scenario

TEMPLATES = Path(__file__).with_name("templates")
MEET_SHARE = 0.95  # a point meets the SLO when at least this share of its days do


@dataclass
class Section:
    title: str
    text: str = ""
    tables: list[ReportTable] = field(default_factory=list)
    figures: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class Report:
    title: str
    kind: str
    headline: str
    about: list[tuple[str, str]]
    scenario_json: str
    sections: list[Section]


def folder_kind(folder: Path) -> str:
    """run, compare or sweep, from the manifest the folder holds."""
    if (folder / MANIFEST).exists():
        return "sweep"
    if (folder / "compare.json").exists():
        return "compare"
    if (folder / "summary.json").exists():
        return "run"
    raise CapsimError(
        f"{folder}: holds no summary.json, compare.json or {MANIFEST}; give a folder written "
        "by `capsim run --out`, `compare --out` or `sweep --out`"
    )


def build_report(folder: Path) -> Report:
    folder = Path(folder)
    if not folder.is_dir():
        raise CapsimError(f"{folder}: no such folder")
    kind = folder_kind(folder)
    return {"run": _run_report, "compare": _compare_report, "sweep": _sweep_report}[kind](folder)


def write_report(folder: Path, out: Path | None = None) -> tuple[Path, list[Path]]:
    """Write the HTML (default DIR/report.html) and one CSV per table beside it."""
    report = build_report(folder)
    out = Path(out) if out is not None else Path(folder) / "report.html"
    csvs = []
    used: set[str] = set()
    for section in report.sections:
        for table in section.tables:
            name = table.name
            while name in used:
                name += "_"
            used.add(name)
            table.name = name
            path = out.with_name(f"{out.stem}_{name}.csv")
            write_atomically(path, table.frame.to_csv(index=False))
            csvs.append(path)
    write_atomically(out, render(report, out.stem))
    return out, csvs


def render(report: Report, stem: str) -> str:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"])
    )
    template = environment.get_template("report.html.j2")
    sections = [
        {
            "title": s.title,
            "text": s.text,
            "tables": [
                {
                    "title": t.title,
                    "note": t.note,
                    "columns": list(t.frame.columns),
                    "rows": t.frame.astype(str).values.tolist(),
                    "csv": f"{stem}_{t.name}.csv",
                }
                for t in s.tables
            ],
            "figures": [
                {"title": title, "uri": "data:image/png;base64," + base64.b64encode(data).decode()}
                for title, data in s.figures
            ],
        }
        for s in report.sections
    ]
    return template.render(
        title=report.title,
        kind=report.kind,
        headline=report.headline,
        about=report.about,
        scenario_json=report.scenario_json,
        sections=sections,
        version=capsim_version(),
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CapsimError(f"{path}: cannot read it ({exc})") from None


def _run_sections(
    folder: Path, summary: dict[str, Any], prefix: str = "", name_prefix: str = ""
) -> list[Section]:
    """The tables and figures of one run folder (also each policy of a compare)."""
    rows = pd.read_parquet(folder / "replications.parquet")
    risk = summary["risk"]
    slo_s = risk.get("slo_e2e_p99_s")
    budget = risk.get("budget_monthly_usd")
    request_time_s = summary.get("botec_headline", {}).get("request_time_s")
    latency_figures = []
    if (folder / "latency_histogram.parquet").exists():
        histogram = pd.read_parquet(folder / "latency_histogram.parquet")
        latency_figures.append(("Latency CDF", figures.latency_cdf(histogram, slo_s)))
    latency = pd.read_parquet(folder / "latency_by_hour.parquet")
    latency_figures.append(("p99 by hour", figures.p99_by_hour(latency, slo_s)))
    fleet = pd.read_parquet(folder / "fleet.parquet")
    sections = [
        Section(
            f"{prefix}BOTEC and simulation",
            tables=[botec_table(summary)],
        ),
        Section(
            f"{prefix}Latency",
            tables=[pooled_latency_table(summary), replication_latency_table(summary)],
            figures=latency_figures,
        ),
        Section(
            f"{prefix}Cost and risk",
            tables=[cost_table(summary, rows), risk_table(summary)],
            figures=[
                (
                    "Cost over replications",
                    figures.cost_distribution(rows["cost_monthly_total_usd"], budget),
                )
            ],
        ),
        Section(
            f"{prefix}Fleet over the day",
            text="Measured utilisation over the horizon: p50 "
            f"{share(summary['utilization']['p50'])}.",
            figures=[("Fleet over the day", figures.fleet_over_day(fleet, request_time_s))],
        ),
    ]
    for section in sections:
        for table in section.tables:
            table.name = f"{name_prefix}{table.name}"
    return sections


def _run_headline(summary: dict[str, Any]) -> str:
    headline = summary.get("botec_headline", {})
    risk = summary["risk"]
    replicas = summary["replicas"]["mean"]["p50"]
    monthly = summary["cost_usd"]["monthly"]["p50"]
    text = (
        f"The BOTEC says {headline.get('replicas_at_peak', '-')} replicas at peak and "
        f"{usd(headline.get('monthly_usd'))} a month; the simulation ran "
        f"{replicas:.2f} replicas on time-average for {usd(monthly)} a month (p50 over "
        f"{summary['replications']} replications)"
    )
    if risk.get("p_slo_violation") is not None:
        low, high = risk["p_slo_violation_ci95"]
        text += (
            f" and met p99 <= {seconds(risk['slo_e2e_p99_s'])} on "
            f"{share(1 - risk['p_slo_violation'])} of days "
            f"(95% interval {share(1 - high)} - {share(1 - low)})"
        )
    return text + "."


def _about(info: dict[str, Any], summary: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("scenario", summary["scenario"]),
        ("seed", str(summary["seed"])),
        ("replications", str(summary["replications"])),
        ("horizon", seconds(summary["horizon_s"])),
        ("engine", info.get("engine", "not recorded")),
        (
            "executor",
            f"{info.get('executor', 'not recorded')} ({info.get('workers', '?')} workers)",
        ),
        ("capsim version", info.get("capsim_version", "not recorded")),
    ]


def _run_report(folder: Path) -> Report:
    summary = _read_json(folder / "summary.json")
    info = _read_json(folder / "run.json") if (folder / "run.json").exists() else {}
    return Report(
        title=f"{summary['scenario']}: capsim run",
        kind="run",
        headline=_run_headline(summary),
        about=_about(info, summary),
        scenario_json=json.dumps(info.get("scenario", {}), indent=2),
        sections=_run_sections(folder, summary),
    )


def _compare_report(folder: Path) -> Report:
    document = _read_json(folder / "compare.json")
    rows = document["policies"]
    sections = [
        Section(
            "Policies",
            tables=[compare_rows_table(rows)],
            figures=[("One bar group per policy", figures.policy_bars(rows))],
        )
    ]
    info: dict[str, Any] = {}
    for policy, sub in document["folders"].items():
        summary = _read_json(folder / sub / "summary.json")
        if (folder / sub / "run.json").exists():
            info = info or _read_json(folder / sub / "run.json")
        sections += _run_sections(folder / sub, summary, f"{policy}: ", f"{policy}_")
    first = _read_json(folder / next(iter(document["folders"].values())) / "summary.json")
    cheapest = min(
        (r for r in rows if (r["slo_days_met_share"] or 0) >= MEET_SHARE),
        key=lambda r: r["cost_monthly_usd_p50"],
        default=None,
    )
    headline = f"{len(rows)} policies on the same traffic and seeds. " + (
        f"The cheapest that meets the SLO on at least {MEET_SHARE:.0%} of days: "
        f"{cheapest['policy']} at {usd(cheapest['cost_monthly_usd_p50'])} a month (p50)."
        if cheapest
        else f"No policy meets the SLO on {MEET_SHARE:.0%} of days."
    )
    about = _about(info, first)
    about[4] = ("engine", "per policy (see each policy's run.json)")
    return Report(
        title=f"{document['scenario']}: capsim compare",
        kind="compare",
        headline=headline,
        about=about,
        scenario_json=json.dumps(info.get("scenario", {}), indent=2),
        sections=sections,
    )


def _base_scenario(manifest: dict[str, Any]):
    scenario = manifest["scenario"]
    try:
        return validate_scenario(scenario["content"], source=str(MANIFEST))
    except CapsimError:
        return load_scenario(scenario["ref"], scenario["sets"]).model_copy(
            update={"seed": manifest["seed"], "replications": manifest["replications"]}
        )


def _sweep_report(folder: Path) -> Report:
    store = TaskStore(folder)
    manifest = _read_json(store.manifest_path)
    points = point_summaries(manifest, store.read_rows())
    keys = [entry["key"] for entry in manifest["grid"]]
    values = [entry["values"] for entry in manifest["grid"]]
    base = _base_scenario(manifest)
    slo_s = base.slo.latency_p99
    meeting = [
        p
        for p in points
        if p["replications"]
        and p["p_slo_violation"] is not None
        and 1 - p["p_slo_violation"] >= MEET_SHARE
    ]
    # Mark the cheapest meeting point for each value of a named key (a GPU, a router...).
    named = [k for k, v in zip(keys, values, strict=True) if not all(_numeric(x) for x in v)]
    best = _cheapest_per_group(meeting, named[0] if named and len(keys) > 1 else None)
    sweep_figures = []
    ran = [p for p in points if p["replications"]]
    if ran:
        sweep_figures.append(
            ("Cost against p99", figures.cost_against_p99(ran, slo_s, {p["point"] for p in best}))
        )
    if len(keys) >= 2 and slo_s is not None:
        sweep_figures.append(
            ("Chance of meeting the SLO", figures.slo_heat_map(points, keys[:2], values[:2]))
        )
    note = "" if len(keys) >= 2 else "A heat map needs two varied keys; this sweep varies one."
    headline_botec = botec_headline(base, botec(base))
    return Report(
        title=f"{manifest['scenario']['name']}: capsim sweep",
        kind="sweep",
        headline=_sweep_headline(headline_botec, best, slo_s, keys),
        about=[
            ("scenario", manifest["scenario"]["name"]),
            ("--set", " ".join(manifest["scenario"]["sets"]) or "none"),
            (
                "grid",
                "; ".join(
                    f"{k} = {', '.join(map(str, v))}" for k, v in zip(keys, values, strict=True)
                ),
            ),
            ("seed", str(manifest["seed"])),
            (
                "replications per point",
                f"{manifest['replications']} (the same seeds at every point)",
            ),
            ("engine", "per point: the compiled loop where it applies, else SimPy"),
            ("capsim version", manifest.get("capsim_version", "not recorded")),
        ],
        scenario_json=json.dumps(manifest["scenario"]["content"], indent=2),
        sections=[
            Section(
                "Points",
                text=note,
                tables=[sweep_points_table(keys, points)],
                figures=sweep_figures,
            )
        ],
    )


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cheapest_per_group(
    meeting: list[dict[str, Any]], group_key: str | None
) -> list[dict[str, Any]]:
    """The cheapest meeting point, per value of `group_key` (e.g. per GPU) if given."""
    groups: dict[Any, dict[str, Any]] = {}
    for point in meeting:
        group = point["settings"][group_key] if group_key else None
        cost = point["cost_monthly_usd"]["p50"]
        if group not in groups or cost < groups[group]["cost_monthly_usd"]["p50"]:
            groups[group] = point
    return sorted(groups.values(), key=lambda p: p["cost_monthly_usd"]["p50"])


def _sweep_headline(
    headline: dict[str, Any], best: list[dict[str, Any]], slo_s: float | None, keys: list[str]
) -> str:
    botec_replicas = headline.get("replicas_at_peak")
    monthly = usd(headline.get("monthly_usd"))
    text = f"The BOTEC says {botec_replicas} replicas at peak ({monthly} a month)"
    if slo_s is None:
        return text + "; the scenario sets no latency SLO, so no point is marked."
    goal = f"meeting p99 <= {seconds(slo_s)} on {MEET_SHARE:.0%} of days"
    if not best:
        return text + f"; no point of the grid is {goal}."
    top = best[0]
    if "fleet.replicas" in keys:
        replicas = top["settings"]["fleet.replicas"]
    else:
        replicas = top["replicas_mean"]["p50"]
    ratio = "" if not botec_replicas else f", {replicas / botec_replicas:.2f}x the BOTEC"
    replicas_text = (
        f"{replicas:g}"
        if isinstance(replicas, float) and not math.isnan(replicas)
        else str(replicas)
    )
    return (
        text + f"; {goal} takes {replicas_text} replicas{ratio} (cheapest point: {top['name']}, "
        f"{usd(top['cost_monthly_usd']['p50'])} a month p50)."
    )
