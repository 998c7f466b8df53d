"""The non-GPU stack's sizing and monthly bill, from a scenario's `[platform]` section.

Pods from concurrent users or requests (seed 004's rule: base = load / capacity, the
minimum base x (1 + buffer) rounded up, the autoscaling maximum a multiple of it), nodes
from the pods' CPU and memory, database units or shards, cache and search clusters, CDN
and API egress, object storage by tier, logging, DDoS protection and Kubernetes control
planes. Deterministic: a run adds it to each replication's bill as one line item.
"""

from __future__ import annotations

import math
from typing import Any

from sim.scenario.platform_prices import (
    HOURS_PER_MONTH,
    catalog_entry,
    database_price_keys,
    price_per,
    price_per_month,
)
from sim.scenario.schema import Platform, PodTier
from sim.scenario.units import SECONDS_PER_DAY, SECONDS_PER_MONTH

DAYS_PER_MONTH = 30.0
GB_PER_TB = 1000.0  # decimal, as the seeds use


def ceil_count(x: float) -> int:
    """Whole items for `x`, rounded up, without float dust (5000 / 100 x 1.1 is 55, not 56):
    a value within a relative 1e-12 of a whole number is that number."""
    nearest = round(x)
    if abs(x - nearest) <= 1e-12 * max(1.0, abs(x)):
        return int(nearest)
    return math.ceil(x)


def peak_requests_per_s(platform: Platform) -> float:
    """Requests per second at the peak: concurrent users x requests per user per minute / 60."""
    return platform.concurrent_users * platform.requests_per_user_per_minute / 60.0


def requests_per_day(platform: Platform) -> float:
    """The day's platform requests: as given, else the mean rate (peak x mean_over_peak) a day."""
    if platform.requests_per_day is not None:
        return platform.requests_per_day
    return peak_requests_per_s(platform) * platform.mean_over_peak * SECONDS_PER_DAY


def total_users(platform: Platform) -> float:
    return platform.total_users if platform.total_users is not None else platform.concurrent_users


def monthly_active_users(platform: Platform) -> float:
    if platform.monthly_active_users is not None:
        return platform.monthly_active_users
    return total_users(platform)


def pod_counts(tier: PodTier, platform: Platform) -> dict[str, Any]:
    """Base, minimum (buffered) and maximum (autoscaling) pods of one tier."""
    if tier.users_per_pod is not None:
        base = platform.concurrent_users * tier.traffic_share / tier.users_per_pod
    else:
        assert tier.requests_per_s_per_pod is not None
        base = peak_requests_per_s(platform) * tier.traffic_share / tier.requests_per_s_per_pod
    low = max(tier.min_pods, ceil_count(base * (1.0 + tier.buffer)))
    high = max(low, ceil_count(low * tier.max_over_min))
    return {
        "base_pods_exact_count": base,
        "min_pods_count": low,
        "max_pods_count": high,
        "mean_pods_count": low * platform.mean_over_peak,
        "cpu_cores_per_pod": tier.cpu_cores,
        "memory_gb_per_pod": tier.memory_gb,
    }


def _tier(tier: PodTier, platform: Platform, name: str) -> dict[str, Any]:
    out = pod_counts(tier, platform)
    if tier.server_price is not None:
        usd_h, source = price_per(tier.server_price, "hour", f"platform.{name}.server_price")
        out["server_usd_per_hour"] = usd_h
        out["server_usd_per_month"] = usd_h * HOURS_PER_MONTH
        out["server_price_source"] = source
        out["peak_sized_usd_per_month"] = out["min_pods_count"] * usd_h * HOURS_PER_MONTH
        out["usd_per_month"] = out["mean_pods_count"] * usd_h * HOURS_PER_MONTH
        out["at_max_usd_per_month"] = out["max_pods_count"] * usd_h * HOURS_PER_MONTH
    else:
        out["priced_as"] = "pods on platform.nodes"
    return out


def _nodes(platform: Platform, tiers: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """Nodes for the pods that are not servers of their own: max(CPU, memory) x (1 + buffer)."""
    packed = {
        name: counts
        for name, counts in tiers.items()
        if getattr(platform, name).server_price is None
    }
    if not packed:
        return None
    nodes = platform.nodes
    entry = catalog_entry(nodes.instance, "platform.nodes.instance")
    assert entry.vcpus is not None and entry.memory_gb is not None
    usd_h = nodes.usd_per_hour if nodes.usd_per_hour is not None else entry.usd

    def needed(which: str) -> tuple[float, float, int]:
        cpu = sum(c[f"{which}_pods_count"] * c["cpu_cores_per_pod"] for c in packed.values())
        memory = sum(c[f"{which}_pods_count"] * c["memory_gb_per_pod"] for c in packed.values())
        exact = max(cpu / entry.vcpus, memory / entry.memory_gb)
        return cpu, memory, ceil_count(exact * (1.0 + nodes.buffer))

    cpu_min, memory_min, nodes_min = needed("min")
    cpu_max, memory_max, nodes_max = needed("max")
    return {
        "instance": nodes.instance,
        "vcpus_per_node_count": entry.vcpus,
        "memory_gb_per_node": entry.memory_gb,
        "buffer_fraction": nodes.buffer,
        "cpu_cores_at_min_pods": cpu_min,
        "memory_gb_at_min_pods": memory_min,
        "cpu_cores_at_max_pods": cpu_max,
        "memory_gb_at_max_pods": memory_max,
        "min_nodes_count": nodes_min,
        "max_nodes_count": nodes_max,
        "node_usd_per_hour": usd_h,
        "node_price_source": "scenario"
        if nodes.usd_per_hour is not None
        else f"catalog {entry.key} ({entry.date})",
        "usd_per_month": nodes_min * platform.mean_over_peak * usd_h * HOURS_PER_MONTH,
        "at_max_usd_per_month": nodes_max * usd_h * HOURS_PER_MONTH,
    }


def _database(platform: Platform) -> dict[str, Any]:
    database = platform.database
    assert database is not None
    if database.kind == "sql":
        shards = ceil_count(total_users(platform) / database.users_per_shard)
        replicas = shards * database.replicas_per_shard
        primary, primary_source = price_per_month(
            database.primary_price, "platform.database.primary_price"
        )
        replica, _ = price_per_month(database.replica_price, "platform.database.replica_price")
        storage, _ = price_per(
            database.storage_price, "gb-month", "platform.database.storage_price"
        )
        lines = {
            "primaries_usd_per_month": shards * primary,
            "replicas_usd_per_month": replicas * replica,
            "storage_usd_per_month": database.storage_tb * GB_PER_TB * storage,
        }
        return {
            "kind": "sql",
            "shards_count": shards,
            "replicas_count": replicas,
            "primary_usd_per_month": primary,
            "replica_usd_per_month": replica,
            "primary_price_source": primary_source,
            "storage_tb": database.storage_tb,
            "storage_usd_per_gb_month": storage,
            **lines,
            "usd_per_month": sum(lines.values()),
        }
    reads_per_s = platform.concurrent_users * database.reads_per_user_per_s
    writes_per_s = platform.concurrent_users * database.writes_per_user_per_s
    read_units = ceil_count(database.read_item_kb / 4.0)
    per_read = read_units * (0.5 if database.consistency == "eventual" else 1.0)
    write_units = ceil_count(database.write_item_kb)
    rcu = reads_per_s * per_read
    wcu = writes_per_s * write_units
    read_key, write_key, unit = database_price_keys(database.billing)
    read_usd, read_source = price_per(
        database.read_price or read_key, unit, "platform.database.read_price"
    )
    write_usd, _ = price_per(
        database.write_price or write_key, unit, "platform.database.write_price"
    )
    if database.billing == "provisioned":  # provisioned at the peak, all month
        reads_usd = rcu * read_usd * HOURS_PER_MONTH
        writes_usd = wcu * write_usd * HOURS_PER_MONTH
    else:  # request units used: the mean load over the month
        seconds = SECONDS_PER_MONTH * platform.mean_over_peak
        reads_usd = rcu * seconds / 1e6 * read_usd
        writes_usd = wcu * seconds / 1e6 * write_usd
    return {
        "kind": "dynamodb",
        "billing": database.billing,
        "reads_per_s_at_peak": reads_per_s,
        "writes_per_s_at_peak": writes_per_s,
        "read_capacity_units_count": rcu,
        "write_capacity_units_count": wcu,
        "read_usd_per_unit": read_usd,
        "write_usd_per_unit": write_usd,
        "read_price_source": read_source,
        "reads_usd_per_month": reads_usd,
        "writes_usd_per_month": writes_usd,
        "usd_per_month": reads_usd + writes_usd,
    }


def _clusters(platform: Platform, name: str) -> dict[str, Any]:
    clusters = getattr(platform, name)
    if clusters.clusters is not None:
        count = clusters.clusters
    else:
        count = ceil_count(total_users(platform) / clusters.users_per_cluster)
    nodes = count * clusters.nodes_per_cluster
    node_usd, source = price_per_month(clusters.node_price, f"platform.{name}.node_price")
    storage_usd, _ = price_per(clusters.storage_price, "gb-month", f"platform.{name}.storage_price")
    storage_tb = count * clusters.storage_tb_per_cluster
    lines = {
        "nodes_usd_per_month": nodes * node_usd,
        "storage_usd_per_month": storage_tb * GB_PER_TB * storage_usd,
    }
    return {
        "clusters_count": count,
        "nodes_count": nodes,
        "node_usd_per_month": node_usd,
        "node_price_source": source,
        "cluster_usd_per_month": clusters.nodes_per_cluster * node_usd,
        "storage_tb": storage_tb,
        **lines,
        "usd_per_month": sum(lines.values()),
    }


def _per_gb(gb: float, value: str | float, where: str) -> dict[str, Any]:
    usd, source = price_per(value, "gb", where)
    return {
        "gb_per_month": gb,
        "usd_per_gb": usd,
        "price_source": source,
        "usd_per_month": gb * usd,
    }


def _flat(platform: Platform, name: str) -> dict[str, Any]:
    line = getattr(platform, name)
    usd, source = price_per_month(line.price, f"platform.{name}.price")
    return {
        "items_count": line.count,
        "item_usd_per_month": usd,
        "price_source": source,
        "usd_per_month": line.count * usd,
    }


def platform_bill(platform: Platform) -> dict[str, Any]:
    """Every line's sizing and monthly cost, the total, and the cost per user."""
    out: dict[str, Any] = {
        "total_users_count": total_users(platform),
        "monthly_active_users_count": monthly_active_users(platform),
        "concurrent_users_count": platform.concurrent_users,
        "requests_per_user_per_minute": platform.requests_per_user_per_minute,
        "peak_requests_per_s": peak_requests_per_s(platform),
        "requests_per_day": requests_per_day(platform),
        "mean_over_peak_fraction": platform.mean_over_peak,
    }
    lines: dict[str, dict[str, Any]] = {}
    tiers = {
        name: _tier(getattr(platform, name), platform, name)
        for name in ("backend", "frontend")
        if getattr(platform, name) is not None
    }
    lines.update(tiers)
    nodes = _nodes(platform, tiers) if tiers else None
    if nodes is not None:
        lines["nodes"] = nodes
    if platform.database is not None:
        lines["database"] = _database(platform)
    for name in ("cache", "search"):
        if getattr(platform, name) is not None:
            lines[name] = _clusters(platform, name)
    mau = monthly_active_users(platform)
    if platform.cdn is not None:
        gb = mau * platform.cdn.gb_per_user_per_month
        lines["cdn"] = _per_gb(gb, platform.cdn.price, "platform.cdn.price")
    if platform.api_egress is not None:
        gb = requests_per_day(platform) * DAYS_PER_MONTH * platform.api_egress.response_kb / 1e6
        lines["api_egress"] = _per_gb(gb, platform.api_egress.price, "platform.api_egress.price")
    if platform.object_storage:
        tiers_out = []
        new_tb = platform.object_storage_new_tb_per_month
        for i, tier in enumerate(platform.object_storage):
            usd, source = price_per(tier.price, "gb-month", f"platform.object_storage[{i}].price")
            # Little's law: a lifecycle tier holds inflow x the time data stays in it
            stored_tb = tier.tb + new_tb * tier.days / DAYS_PER_MONTH
            tiers_out.append(
                {
                    "name": tier.name,
                    "lifecycle_days": tier.days,
                    "stored_tb": stored_tb,
                    "usd_per_gb_month": usd,
                    "price_source": source,
                    "usd_per_month": stored_tb * GB_PER_TB * usd,
                }
            )
        lines["object_storage"] = {
            "stored_tb": sum(t["stored_tb"] for t in tiers_out),
            "usd_per_month": sum(t["usd_per_month"] for t in tiers_out),
            "tiers": tiers_out,
        }
    if platform.logging is not None:
        lines["logging"] = _per_gb(
            platform.logging.gb_per_month, platform.logging.price, "platform.logging.price"
        )
    for name in ("ddos", "kubernetes"):
        if getattr(platform, name) is not None:
            lines[name] = _flat(platform, name)
    if platform.llm_api is not None:
        api = platform.llm_api
        requests = mau * api.requests_per_user_per_month * api.share
        lines["llm_api"] = {
            "requests_per_month": requests,
            "usd_per_request": api.usd_per_request,
            "usd_per_month": requests * api.usd_per_request,
        }
    out.update(lines)
    priced = [line for line in lines.values() if "usd_per_month" in line]  # pods on nodes: no
    total = sum(line["usd_per_month"] for line in priced)
    at_max = sum(line.get("at_max_usd_per_month", line["usd_per_month"]) for line in priced)
    out["total_usd_per_month"] = total
    out["total_at_max_pods_usd_per_month"] = at_max
    out["total_usd_per_year"] = total * 12.0
    out["usd_per_user_per_month"] = total / total_users(platform)
    out["usd_per_monthly_active_user_per_month"] = total / mau
    out["at_max_pods_usd_per_user_per_month"] = at_max / total_users(platform)
    return out


def platform_usd_per_month(platform: Platform) -> float:
    """The platform's monthly bill (mean fleet), the line item a run adds to each replication."""
    return platform_bill(platform)["total_usd_per_month"]


def scaled_platform(platform: Platform, users: float) -> Platform:
    """The platform at `users` total users: user-driven loads scale, counts and minimums stay.

    Concurrent and monthly active users, the day's requests, logs, object storage and
    database storage grow in proportion; fixed lines (DDoS, control planes, a fixed number
    of clusters) and every minimum pod count do not, so the bill is not linear in users.
    """
    ratio = users / total_users(platform)
    update: dict[str, Any] = {
        "total_users": users,
        "concurrent_users": platform.concurrent_users * ratio,
    }
    if platform.monthly_active_users is not None:
        update["monthly_active_users"] = platform.monthly_active_users * ratio
    if platform.requests_per_day is not None:
        update["requests_per_day"] = platform.requests_per_day * ratio
    if platform.logging is not None:
        update["logging"] = platform.logging.model_copy(
            update={"gb_per_month": platform.logging.gb_per_month * ratio}
        )
    if platform.object_storage_new_tb_per_month:
        update["object_storage_new_tb_per_month"] = platform.object_storage_new_tb_per_month * ratio
    if platform.object_storage:
        update["object_storage"] = [
            t.model_copy(update={"tb": t.tb * ratio}) for t in platform.object_storage
        ]
    if platform.database is not None:
        update["database"] = platform.database.model_copy(
            update={"storage_tb": platform.database.storage_tb * ratio}
        )
    return platform.model_copy(update=update)
