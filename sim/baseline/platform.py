"""The BOTEC's `platform` section: the non-GPU stack's bill, cost per user, and growth.

`sim.money.platform` sizes and prices each line; here they sit beside the GPU fleet's
monthly cost, and a projection re-sizes the whole stack at each period's users, so
minimum pod counts, fixed cluster counts and flat lines show that the bill is not
linear in users (seed 003 scales its total by users alone).
"""

from __future__ import annotations

from typing import Any

from sim.money.platform import ceil_count, platform_bill, scaled_platform, total_users
from sim.scenario.schema import Scenario


def platform_section(scenario: Scenario, gpu_fleet_usd_per_month: float | None) -> dict[str, Any]:
    """The platform's lines and total, with the GPU fleet when it is priced, and a projection."""
    platform = scenario.platform
    assert platform is not None
    out = platform_bill(platform)
    users = total_users(platform)
    if gpu_fleet_usd_per_month is not None:
        with_gpu = out["total_usd_per_month"] + gpu_fleet_usd_per_month
        out["gpu_fleet_usd_per_month"] = gpu_fleet_usd_per_month
        out["with_gpu_fleet_usd_per_month"] = with_gpu
        out["with_gpu_fleet_usd_per_year"] = with_gpu * 12.0
        out["with_gpu_fleet_usd_per_user_per_month"] = with_gpu / users
    if platform.growth_total_users:
        out["growth"] = _growth(scenario, out, gpu_fleet_usd_per_month)
    return out


def _growth(
    scenario: Scenario, base: dict[str, Any], gpu_fleet_usd_per_month: float | None
) -> dict[str, Any]:
    """Each period's stack re-sized at its users, beside the bill scaled linearly from now."""
    platform = scenario.platform
    assert platform is not None
    users_now = total_users(platform)
    replicas_now = scenario.fleet.replicas
    rows = []
    for i, users in enumerate(platform.growth_total_users):
        ratio = users / users_now
        bill = platform_bill(scaled_platform(platform, users))
        row: dict[str, Any] = {
            f"{platform.growth_period}_number": i + 1,
            "total_users_count": users,
            "platform_usd_per_month": bill["total_usd_per_month"],
            "platform_linear_usd_per_month": base["total_usd_per_month"] * ratio,
        }
        total = bill["total_usd_per_month"]
        if gpu_fleet_usd_per_month is not None and replicas_now > 0:
            replicas = max(1, ceil_count(replicas_now * ratio))
            gpu = gpu_fleet_usd_per_month / replicas_now * replicas
            row["gpu_replicas_count"] = replicas
            row["gpu_fleet_usd_per_month"] = gpu
            total += gpu
        row["total_usd_per_month"] = total
        row["usd_per_user_per_month"] = total / users
        rows.append(row)
    return {"period": platform.growth_period, "rows": rows}
