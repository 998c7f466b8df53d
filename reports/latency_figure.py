"""p99 end-to-end latency by hour of arrival, one line per replication, against the SLO."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from reports.figure_file import save_png


def plot_latency_over_time(
    series_by_replication: list[dict[str, list[float]]],
    slo_p99_s: float | None,
    title: str,
    path: Path,
) -> None:
    """Where in the day the tail grows: the morning ramp shows here, not in a daily p99."""
    figure = Figure(figsize=(9, 4))
    axis = figure.subplots()
    for series in series_by_replication:
        hours = [t / 3600.0 for t in series["time_s"]]
        axis.step(hours, series["e2e_p99_s"], where="post", color="tab:blue", alpha=0.35)
    if slo_p99_s is not None:
        axis.axhline(slo_p99_s, color="tab:red", linestyle="--", label=f"SLO p99 {slo_p99_s:g} s")
        axis.legend(loc="upper left", fontsize=8)
    axis.set_xlabel("hour of arrival")
    axis.set_ylabel("p99 end to end (s)")
    axis.set_ylim(bottom=0)
    axis.set_title(title)
    figure.tight_layout()
    save_png(figure, path)
