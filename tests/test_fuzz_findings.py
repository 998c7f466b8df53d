"""What the 10,000-mutant fuzz run still found after the bounds: each validated, then
crashed or ran with meaningless figures; now each is one line at validation."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from sim.cli import app


@pytest.mark.parametrize(
    ("scenario", "override", "fragment"),
    [
        ("smartpal", 'requests.output_tokens={dist="fixed", value=0}', "at least 0.01 tokens"),
        ("smartpal", 'requests.output_tokens={dist="fixed", value=5e-324}', "at least 0.01"),
        ("azure-conv", "fleet.replicas=1000000", "fleet.replicas: must be at least 0 and at most"),
        ("azure-conv", "model.parameters=5e-324", "model.parameters: must be at least 1e+06"),
        ("diurnal-chat", "model.bytes_per_param=7.2e-185", "model.bytes_per_param"),
        ("azure-conv", "service.mfu=8.8e-183", "service.mfu: must be at least 0.001"),
        ("diurnal-api", "pricing.serverless_usd_per_s=5e-324", "at least 1e-09"),
        ("redai-1k", "traffic.requests_per_day=5e-324", "the mean rate is"),
        ("redai-100k", 'service.latency={dist="fixed", value=5e-324}', "at least 1e-06 s"),
    ],
)
def test_a_degenerate_value_is_refused_at_validation(scenario, override, fragment) -> None:
    result = CliRunner().invoke(app, ["validate", scenario, "--set", override])
    assert result.exit_code == 2, result.stdout
    assert len(result.stderr.strip().splitlines()) == 1
    assert fragment in result.stderr
