"""What the pipeline tells Prometheus, as node_exporter textfiles beside `tenant_resource_usage`.

One file per writer, each replaced whole (prometheus_client's `write_to_textfile` writes a
temporary file and renames it), so two assets never overwrite each other's metrics and the
collector never reads half a file:

- `tenant_quotas.prom` (by `tenant_quota_status`, month in progress): per tenant and limit the
  usage, the limit, whether it is blocked; the tenant's plan; the catalog's prices. Cost is
  computed from these in PromQL, so prices are never copied into a dashboard.
- `usage_ingest_<shard>.prom` (by `usage_events`, one per shard partition, every series labelled
  `shard`): when the shard's last drain succeeded and what it counted, and how many shards
  there are, so a shard that is stuck or never ran is seen beside the healthy ones.
- `billing_invoices.prom` (by `stripe_invoices`): invoices per status, and each one held by
  reconciliation.

Labels come from closed sets (tenant UUIDs from the registry, plan names from the catalog, the
four limit keys, fixed outcomes); nothing comes from request input.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from pipelines.lib.drain import DrainStats
from pipelines.lib.quota_math import QuotaStatus
from tenancy.billing.ledger import Invoice
from tenancy.plans import PlanCatalog

QUOTAS_FILE = "tenant_quotas.prom"
#: Written by releases before ingest metrics were per shard; removed so it cannot go stale.
UNSHARDED_INGEST_FILE = "usage_ingest.prom"
_INGEST_FILE = re.compile(r"usage_ingest_(\d+)\.prom")
BILLING_FILE = "billing_invoices.prom"
#: Invoice states in which a hold stops the invoice (after finalization a hold is history).
OPEN_STATES = ("draft", "pushed")


def quotas(
    statuses: Iterable[QuotaStatus], plans: dict[uuid.UUID, str], catalog: PlanCatalog
) -> CollectorRegistry:
    """Usage against limits per tenant, each tenant's plan, and the catalog's prices."""
    registry = CollectorRegistry()
    used = Gauge(
        "tenant_resource_used",
        "Usage this month (API calls, GB stored, users, agents).",
        ["tenant", "resource"],
        registry=registry,
    )
    limit = Gauge(
        "tenant_resource_limit",
        "The tenant's limit with overrides (absent when unlimited).",
        ["tenant", "resource"],
        registry=registry,
    )
    blocked = Gauge(
        "tenant_quota_blocked",
        "1 while the quota gate blocks the tenant on this limit (until the next month).",
        ["tenant", "resource"],
        registry=registry,
    )
    plan_of = Gauge(
        "tenant_plan", "Always 1; the tenant's plan.", ["tenant", "plan"], registry=registry
    )
    base = Gauge(
        "plan_base_monthly_cents",
        "The plan's monthly base price, in minor units.",
        ["plan", "currency"],
        registry=registry,
    )
    block_size = Gauge(
        "plan_overage_block_size",
        "Units in one overage block above the limit.",
        ["plan", "resource"],
        registry=registry,
    )
    block_price = Gauge(
        "plan_overage_block_cents",
        "Price of one started overage block, in minor units.",
        ["plan", "resource", "currency"],
        registry=registry,
    )
    for status in statuses:
        tenant = str(status.tenant_id)
        used.labels(tenant, status.limit_key).set(status.used)
        if status.limit is not None:
            limit.labels(tenant, status.limit_key).set(status.limit)
        blocked.labels(tenant, status.limit_key).set(1 if status.blocked else 0)
    for tenant_id, plan_name in plans.items():
        plan_of.labels(str(tenant_id), plan_name).set(1)
    for plan in catalog:
        currency = plan.pricing.currency
        base.labels(plan.name, currency).set(plan.pricing.base_monthly_cents)
        for resource, price in plan.pricing.overage.items():
            block_size.labels(plan.name, resource).set(price.per)
            block_price.labels(plan.name, resource, currency).set(price.cents)
    return registry


def ingest_file(shard: int) -> str:
    """The textfile of one shard's ingest metrics."""
    return f"usage_ingest_{shard}.prom"


def ingest(stats: DrainStats, finished: datetime, shard: int, shards: int) -> CollectorRegistry:
    """One shard's last successful drain: when it finished and what its entries became."""
    registry = CollectorRegistry()
    label = str(shard)
    Gauge(
        "usage_ingest_last_success_timestamp_seconds",
        "When `usage_events` last drained its shard of the stream successfully (Unix time).",
        ["shard"],
        registry=registry,
    ).labels(label).set(finished.timestamp())
    Gauge(
        "usage_ingest_shards",
        "How many usage shards the writer was configured with (TENANCY_USAGE_SHARDS).",
        ["shard"],
        registry=registry,
    ).labels(label).set(shards)
    entries = Gauge(
        "usage_ingest_last_run_entries",
        "Entries of the shard's last successful drain, by what became of them.",
        ["shard", "outcome"],
        registry=registry,
    )
    entries.labels(label, "read").set(stats.read)
    entries.labels(label, "inserted").set(stats.inserted)
    entries.labels(label, "duplicate").set(stats.duplicates)
    entries.labels(label, "quarantined").set(stats.quarantined)
    return registry


def write_ingest(directory: Path, shard: int, shards: int, registry: CollectorRegistry) -> Path:
    """Replace the shard's textfile, and remove those no current shard writes (the unsharded
    file of earlier releases, shards above a reduced shard count): left alone they would keep
    reporting an old success."""
    path = directory / ingest_file(shard)
    write(path, registry)
    leftovers = [directory / UNSHARDED_INGEST_FILE]
    for other in directory.glob("usage_ingest_*.prom"):
        match = _INGEST_FILE.fullmatch(other.name)
        if match is not None and int(match.group(1)) >= shards:
            leftovers.append(other)
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    return path


def billing(invoices: Iterable[Invoice]) -> CollectorRegistry:
    """Ledger invoices per status, and those held by reconciliation (one series each)."""
    registry = CollectorRegistry()
    per_status = Gauge(
        "billing_invoices", "Invoices in the ledger, by status.", ["status"], registry=registry
    )
    held = Gauge(
        "billing_invoice_held",
        "1 for an invoice held because Stripe's copy does not match the ledger.",
        ["tenant", "period"],
        registry=registry,
    )
    counts: Counter[str] = Counter()
    for invoice in invoices:
        counts[invoice.status] += 1
        if invoice.hold_reason and invoice.status in OPEN_STATES:
            held.labels(str(invoice.tenant_id), invoice.period_start.strftime("%Y-%m")).set(1)
    for status, count in sorted(counts.items()):
        per_status.labels(status).set(count)
    return registry


def write(path: Path, registry: CollectorRegistry) -> None:
    """Replace `path` atomically (the temporary name does not end in `.prom`, so the collector
    ignores it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
