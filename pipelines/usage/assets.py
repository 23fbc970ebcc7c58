"""Usage assets: raw events drained from Redis, then daily and monthly aggregates per tenant."""

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import duckdb
import pyarrow as pa
from pydantic import Field

from pipelines.lib import pipeline_metrics, warehouse, writes
from pipelines.lib.ingest import IngestWindow
from pipelines.lib.periods import days, utc_midnight
from pipelines.lib.shard_drain import ShardDrain
from pipelines.partitions import (
    PARTITIONS_START,
    WAREHOUSE_POOL,
    daily_partitions,
    monthly_partitions,
    usage_shard_partitions,
)
from pipelines.quotas.resources import QuotaOutputs
from pipelines.redis_client import redis_client
from pipelines.resources import RedisResource, RegistryResource, UsageWarehouse
from pipelines.usage import checks
from pipelines.usage.resources import StorageMeasurer
from tenancy.errors import TenancyError
from tenancy.metered import MeteredCounters, hard_api_quota
from tenancy.plans import default_catalog
from tenancy.registry import list_tenants, resource_counts
from tenancy.tenant import Tenant, TenantStatus
from tenancy.usage.shards import shard_of

CONSUMER = "dagster-usage-events"
READ_BATCH = 20_000
#: A run stops after this many entries, so a busy stream cannot keep it running forever; the
#: next hourly run carries on where it stopped.
MAX_PER_RUN = 2_000_000


class UsageIngestConfig(dg.Config):
    """How `usage_events` judges entries; the defaults suit production (launchpad-editable)."""

    max_lateness_days: int = Field(
        default=35,
        ge=1,
        description="Events older than this (by their own time) are quarantined as "
        "out_of_window; 35 days, as Stripe's meter events allow.",
    )
    max_future_seconds: int = Field(
        default=300,
        ge=0,
        description="Clock skew allowed for events stamped ahead of the ingesting machine.",
    )
    max_deliveries: int = Field(
        default=10,
        ge=2,
        description="An entry delivered this many times without being stored is quarantined "
        "with its last error (as delivery_limit).",
    )

    def window(self, now: datetime) -> IngestWindow:
        return IngestWindow.around(
            now,
            timedelta(days=self.max_lateness_days),
            timedelta(seconds=self.max_future_seconds),
            floor=datetime.fromisoformat(PARTITIONS_START).replace(tzinfo=UTC),
        )


@dg.asset(
    group_name="usage",
    pool=WAREHOUSE_POOL,
    partitions_def=usage_shard_partitions,
    check_specs=[checks.usage_events_quarantine_rate, checks.usage_events_no_stuck_entries],
)
def usage_events(
    context: dg.AssetExecutionContext,
    config: UsageIngestConfig,
    warehouse_db: UsageWarehouse,
    redis: RedisResource,
    registry: RegistryResource,
    outputs: QuotaOutputs,
) -> dg.MaterializeResult:
    """Every usage event recorded on the request path, counted once per (tenant, event id):
    drained from the partition's shard of the Redis stream by a consumer group and validated;
    malformed, out-of-window, unknown-tenant and conflicting entries are quarantined with their
    reason and raw bytes. Entries are acknowledged only after DuckDB commits; acknowledged
    entries are then trimmed. Streams a former shard count left are drained too. Shards
    commit side by side; a run still going with a former TENANCY_USAGE_SHARDS stops (its
    entries stay pending) once a run with the new count has started. A successful
    drain stamps `usage_ingest_last_success_timestamp_seconds{shard=...}` in the shard's own
    textfile (`usage_ingest_<shard>.prom`) for the alerts."""

    def registered() -> set[uuid.UUID]:
        """Tenants that may still have usage: every one but the purged (their tombstones stay
        in the registry, but late events for them are quarantined as unknown)."""
        with registry.database() as db:
            return {t.id for t in list_tenants(db) if t.status is not TenantStatus.PURGED}

    shards = len(usage_shard_partitions.get_partition_keys())
    shard = int(context.partition_key)
    client = redis_client(redis)
    with warehouse_db.connection() as conn:
        drain = ShardDrain(
            conn,
            client,
            shard,
            shards,
            CONSUMER,
            registered,
            config.window(datetime.now(UTC)),
            log=context.log.info,
            read_batch=READ_BATCH,
            max_entries=MAX_PER_RUN,
            max_deliveries=config.max_deliveries,
        )
        stats = drain.run()
        with registry.database() as db:
            tenants = [
                t
                for t in list_tenants(db)
                if t.status is TenantStatus.ACTIVE and shard_of(t.id, shards) == shard
            ]
        reconciled = _reconcile_metered(conn, tenants, MeteredCounters(client))
    pipeline_metrics.write_ingest(
        outputs.beside(pipeline_metrics.ingest_file(shard)).parent,
        shard,
        shards,
        pipeline_metrics.ingest(stats, datetime.now(UTC), shard, shards),
    )
    return dg.MaterializeResult(
        metadata={
            "shard": shard,
            "streams": drain.streams,
            "read": stats.read,
            "inserted": stats.inserted,
            "duplicates": stats.duplicates,
            "quarantined": stats.quarantined,
            "conflicting_duplicates": stats.conflicts,
            "delivery_limit_quarantined": stats.over_delivered,
            "trimmed": stats.trimmed,
            "metered_counters_reconciled": reconciled,
        },
        check_results=[
            checks.quarantine_rate(stats.read, stats.quarantined),
            checks.no_stuck_entries(stats.failed, stats.over_delivered),
        ],
    )


def _reconcile_metered(
    conn: duckdb.DuckDBPyConnection, tenants: list[Tenant], counters: MeteredCounters
) -> int:
    """Raise each hard monthly API quota's request-path counter to the warehouse's exact count
    for the month (the counter may be ahead: admitted calls not yet ingested)."""
    now = datetime.now(UTC)
    catalog = default_catalog()
    quotas = {}
    for t in tenants:
        try:  # a tenant whose plan or overrides cannot be read is reported by the quota asset
            quota = hard_api_quota(catalog.get(t.plan), t.limit_overrides, now)
        except TenancyError:
            continue
        if quota is not None:
            quotas[str(t.id)] = quota
    if not quotas:
        return 0
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    exact = warehouse.api_calls_between(conn, start, next(iter(quotas.values())).resets_at)
    for tenant_id, quota in quotas.items():
        counters.reconcile(tenant_id, quota, exact.get(tenant_id, 0), now)
    return len(quotas)


def _take_snapshots(
    conn: duckdb.DuckDBPyConnection, day: date, registry: RegistryResource, storage: StorageMeasurer
) -> None:
    """Record the registry and storage as of now for `day`, unless that day has them already
    (a rerun reuses them, so it gives the same rows)."""
    if not warehouse.has_snapshot(conn, "registry_snapshots", day):
        with registry.database() as db:
            tenants = list_tenants(db)
            counts = resource_counts(db)
        day_end = utc_midnight(day + timedelta(days=1))
        existing = [t for t in tenants if t.created_at < day_end]
        rows = pa.table(
            {
                "tenant_id": [str(t.id) for t in existing],
                "slug": [t.slug for t in existing],
                "status": [t.status.value for t in existing],
                "plan": [t.plan for t in existing],
                "limit_overrides": [
                    json.dumps(t.limit_overrides, sort_keys=True) for t in existing
                ],
                "users": [counts[t.id].users if t.id in counts else 0 for t in existing],
                "agents": [counts[t.id].agents if t.id in counts else 0 for t in existing],
            }
        )
        warehouse.replace_snapshot(conn, "registry_snapshots", day, rows)
    if not warehouse.has_snapshot(conn, "storage_snapshots", day):
        sizes = storage.measure()
        tenant_ids = [
            r[0]
            for r in conn.execute(
                "SELECT tenant_id FROM registry_snapshots WHERE day = ?", [day]
            ).fetchall()
        ]
        now = datetime.now(UTC).replace(tzinfo=None)
        rows = pa.table(
            {
                "tenant_id": [str(t) for t in tenant_ids],
                "bytes": [sizes.get(t, 0) for t in tenant_ids],
                "measured_at": pa.array([now] * len(tenant_ids), pa.timestamp("us")),
            }
        )
        warehouse.replace_snapshot(conn, "storage_snapshots", day, rows)


@dg.asset(
    group_name="usage",
    pool=WAREHOUSE_POOL,
    partitions_def=daily_partitions,
    deps=[dg.AssetDep(usage_events, partition_mapping=dg.AllPartitionMapping())],
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[
        checks.daily_tenant_usage_totals_reconcile,
        checks.daily_tenant_usage_no_negative_usage,
        checks.daily_tenant_usage_every_active_tenant,
    ],
)
def daily_tenant_usage(
    context: dg.AssetExecutionContext,
    warehouse_db: UsageWarehouse,
    registry: RegistryResource,
    storage: StorageMeasurer,
) -> dg.MaterializeResult:
    """Per tenant and UTC day: API calls (in all and per endpoint), agent executions, storage
    bytes added/removed, and the day's users, agents and stored bytes. A run replaces its days
    in one transaction, so a rerun gives the same rows; a backfill covers many days in one run."""
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    with warehouse_db.connection() as conn:

        def replace_days() -> tuple[int, list[dg.AssetCheckResult]]:
            for day in days(start, end):
                _take_snapshots(conn, day, registry, storage)
            return warehouse.rollup_days(conn, start, end), checks.daily_checks(conn, start, end)

        fences = [f"daily_tenant_usage:{day}" for day in days(start, end)]
        rows, results = writes.write(conn, replace_days, fences)
    return dg.MaterializeResult(
        metadata={"rows": rows, "days": (end - start).days}, check_results=results
    )


@dg.asset(
    group_name="usage",
    pool=WAREHOUSE_POOL,
    partitions_def=monthly_partitions,
    deps=[
        dg.AssetDep(usage_events, partition_mapping=dg.AllPartitionMapping()),
        daily_tenant_usage,
    ],
    check_specs=[checks.monthly_tenant_usage_totals_reconcile],
)
def monthly_tenant_usage(
    context: dg.AssetExecutionContext, warehouse_db: UsageWarehouse
) -> dg.MaterializeResult:
    """Per tenant and UTC calendar month [1st, next 1st): API calls and agent executions summed
    from the raw events, users, agents and stored bytes at their daily maximum."""
    window = context.partition_time_window
    month, end = window.start.date(), window.end.date()
    with warehouse_db.connection() as conn:

        def replace_month() -> tuple[int, list[dg.AssetCheckResult]]:
            return warehouse.rollup_month(conn, month, end), checks.monthly_checks(conn, month, end)

        rows, results = writes.write(conn, replace_month, [f"monthly_tenant_usage:{month}"])
    return dg.MaterializeResult(metadata={"rows": rows}, check_results=results)
