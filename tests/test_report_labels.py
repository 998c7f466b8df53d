"""What a new user reads: durations, row and column labels, help text, bins, plot axes."""

from __future__ import annotations

import pytest

from sim.units import format_duration


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.0, "0 s"), (2e-7, "0.2 us"), (5e-6, "5 us"), (0.0254, "25.4 ms"), (2.81, "2.81 s"),
     (600.0, "10.0 min"), (86400.0, "24.0 h")],
)  # fmt: skip
def test_format_duration_never_prints_a_zero_in_microseconds(seconds, shown):
    assert format_duration(seconds) == shown
