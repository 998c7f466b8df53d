"""The terminal output of `capsim calibrate`: the fitted `[service]` block and every residual."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from sim.montecarlo.calibration import Calibration
from sim.scenario.units import format_duration

METRIC_LABELS = {"ttft_s": "TTFT mean", "tpot_s": "TPOT mean", "throughput_per_s": "req/s"}


def _value(metric: str, value: float) -> str:
    return f"{value:,.3f}" if metric == "throughput_per_s" else format_duration(value)


def residual_table(result: Calibration) -> Table:
    """Per measured figure: measured, predicted before and after the fit, and the errors."""
    table = Table(title="Measured points against the step model", title_justify="left")
    for heading in ("point", "clients", "metric", "measured", "before", "error", "fitted", "error"):
        table.add_column(heading, justify="left" if heading in ("point", "metric") else "right")
    for before, after in zip(result.start_residuals, result.residuals, strict=True):
        table.add_row(
            after.source,
            f"{after.concurrency:,}",
            METRIC_LABELS[after.metric],
            _value(after.metric, after.measured),
            _value(after.metric, before.predicted),
            f"{100 * before.relative_error:+.1f}%",
            _value(after.metric, after.predicted),
            f"{100 * after.relative_error:+.1f}%",
        )
    caption = (
        f"rms relative error {100 * result.start_rms_relative_error:.1f}% before, "
        f"{100 * result.rms_relative_error:.1f}% after the fit"
    )
    if result.undetermined:
        caption += (
            f"; these points do not determine {', '.join(result.undetermined)} separately "
            "(measure other prompt lengths and batches)"
        )
    table.caption = caption
    return table


def calibration_document(result: Calibration) -> dict[str, Any]:
    """What `capsim calibrate --json` prints."""
    return {
        "fitted": result.fitted,
        "start": result.start,
        "rms_relative_error": result.rms_relative_error,
        "start_rms_relative_error": result.start_rms_relative_error,
        "undetermined": result.undetermined,
        "residuals": [
            {
                "source": r.source,
                "concurrency": r.concurrency,
                "metric": r.metric,
                "measured": r.measured,
                "predicted": r.predicted,
                "start_predicted": before.predicted,
                "relative_error": r.relative_error,
            }
            for r, before in zip(result.residuals, result.start_residuals, strict=True)
        ],
    }
