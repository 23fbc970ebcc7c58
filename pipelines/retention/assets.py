"""The daily retention sweep."""

import dagster as dg

from pipelines.partitions import WAREHOUSE_POOL, daily_partitions
from pipelines.redis_client import redis_client
from pipelines.resources import RedisResource, RegistryResource, UsageWarehouse
from pipelines.retention import checks
from pipelines.retention.resources import RetentionTargets
from tenancy.audit_anchor_config import anchoring
from tenancy.purge import PurgeTargets, data_plane_admin_from_env, kms_from_env, purge_due
from tenancy.retention import Sweeper


@dg.asset(group_name="retention", pool=WAREHOUSE_POOL, partitions_def=daily_partitions)
def tenant_purges(
    context: dg.AssetExecutionContext,
    registry: RegistryResource,
    warehouse_db: UsageWarehouse,
    redis: RedisResource,
    retention: RetentionTargets,
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """Deleted tenants whose 30 days were over by the end of the day, purged: rows, KMS key
    disabled and scheduled for deletion, objects, dedicated bucket, Postgres schema, Redis
    keys, warehouse rows. A tenant on legal hold gets an audited `blocked_by_hold` instead;
    unfinished purges are resumed."""
    now = context.partition_time_window.end
    client = redis_client(redis)
    try:
        with registry.database() as db:
            targets = PurgeTargets(
                store=retention.store(),
                redis=client,
                warehouse=warehouse_db.location(),
                kms=kms_from_env(),
                data_plane_admin_url=data_plane_admin_from_env(),
            )
            outcomes = purge_due(db, targets, now)
    finally:
        client.close()
    by_outcome: dict[str, list[str]] = {}
    for o in outcomes:
        by_outcome.setdefault(o.outcome, []).append(o.slug)
    return dg.MaterializeResult(metadata={k: sorted(v) for k, v in by_outcome.items()})


@dg.asset(
    group_name="retention",
    pool=WAREHOUSE_POOL,
    partitions_def=daily_partitions,
    check_specs=checks.CHECKS,
    deps=[tenant_purges],
)
def retention_sweep(
    context: dg.AssetExecutionContext,
    registry: RegistryResource,
    warehouse_db: UsageWarehouse,
    retention: RetentionTargets,
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """Per tenant and category, what the tenant's status says has expired as of the end of the
    day, deleted: audit entries behind a checkpoint, documents and their objects, storage
    prefixes and warehouse usage rows. Tenants on legal hold are skipped and listed. A rerun
    of a day deletes what is left and records it under the same run."""
    now = context.partition_time_window.end
    run_id = f"sweep-{context.partition_key}"
    policy = retention.load_policy()
    with registry.database() as db:
        sweeper = Sweeper(db, policy, retention.store(), warehouse_db.location(), anchoring())
        rows = sweeper.sweep(now, run_id)
        results = checks.check_results(db, policy, run_id, now)
    deleted: dict[str, int] = {}
    for r in rows:
        if r.outcome == "deleted":
            deleted[r.category] = deleted.get(r.category, 0) + r.count
    held = sorted({r.slug for r in rows if r.outcome == "blocked_by_hold"})
    context.log.info(f"{run_id}: deleted {deleted}; on legal hold: {held or 'none'}")
    return dg.MaterializeResult(
        metadata={
            "run_id": run_id,
            "cutoff_time": now.isoformat(),
            "deleted": deleted,
            "tenants_on_hold": held,
            "tenants": len({r.tenant_id for r in rows}),
        },
        check_results=results,
    )
