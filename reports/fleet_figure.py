"""Replicas over the horizon against the arrival rate, one figure per replication."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from reports.figure_file import save_png


def fleet_figure(series: dict[str, list[float]], title: str, containers: bool = False) -> Figure:
    """Replicas (or serverless containers) up and serving, left axis; arrivals per second, right.

    The series are means over each bin, so a container up for 2 s of a 5-minute bin
    shows as 0.007 of one; the axis still counts whole replicas or containers.
    """
    unit = "containers" if containers else "replicas"
    hours = [t / 3600.0 for t in series["time_s"]]
    figure = Figure(figsize=(9, 4))
    replicas_axis = figure.subplots()
    replicas_axis.step(hours, series["replicas_up"], where="post", label=f"{unit} up (billed)")
    replicas_axis.step(
        hours, series["replicas_serving"], where="post", label=f"{unit} serving", linestyle="--"
    )
    replicas_axis.set_xlabel("time (h)")
    replicas_axis.set_ylabel(f"{unit} (mean per bin)")
    top = max([*series["replicas_up"], *series["replicas_serving"], 1.0])
    replicas_axis.set_ylim(bottom=0, top=top * 1.05)
    replicas_axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    rate_axis = replicas_axis.twinx()
    rate_axis.plot(
        hours, series["arrival_rate_per_s"], color="tab:gray", alpha=0.6, label="arrivals"
    )
    rate_axis.set_ylabel("arrivals per second")
    rate_axis.set_ylim(bottom=0)
    lines = replicas_axis.get_legend_handles_labels()
    more = rate_axis.get_legend_handles_labels()
    replicas_axis.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left", fontsize=8)
    replicas_axis.set_title(title)
    figure.tight_layout()
    return figure


def plot_fleet(
    series: dict[str, list[float]], title: str, path: Path, containers: bool = False
) -> None:
    """Draw `fleet_figure` to a PNG file."""
    save_png(fleet_figure(series, title, containers), path)
