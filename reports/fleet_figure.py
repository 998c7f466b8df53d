"""Replicas over the horizon against the arrival rate, one figure per replication."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from reports.figure_file import save_png


def plot_fleet(series: dict[str, list[float]], title: str, path: Path) -> None:
    """Replicas up and serving (left axis) and arrivals per second (right axis) over time."""
    hours = [t / 3600.0 for t in series["time_s"]]
    figure = Figure(figsize=(9, 4))
    replicas_axis = figure.subplots()
    replicas_axis.step(hours, series["replicas_up"], where="post", label="replicas up (billed)")
    replicas_axis.step(
        hours, series["replicas_serving"], where="post", label="replicas serving", linestyle="--"
    )
    replicas_axis.set_xlabel("time (h)")
    replicas_axis.set_ylabel("replicas")
    replicas_axis.set_ylim(bottom=0)
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
    save_png(figure, path)
