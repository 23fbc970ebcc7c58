"""Quota status per tenant and month, and its enforcement on the request path."""

import json
import uuid
from datetime import UTC, datetime

import dagster as dg
import pyarrow as pa

from pipelines.lib import pipeline_metrics, prometheus_textfile, writes
from pipelines.lib.periods import next_month, utc_midnight
from pipelines.lib.quota_math import QuotaState, QuotaStatus, evaluate
from pipelines.partitions import WAREHOUSE_POOL, monthly_partitions
from pipelines.quotas.resources import QuotaOutputs
from pipelines.redis_client import redis_client
from pipelines.resources import RedisResource, UsageWarehouse
from pipelines.usage.assets import monthly_tenant_usage
from tenancy.errors import TenancyError
from tenancy.plans import default_catalog
from tenancy.quota_gate import QuotaBlock, QuotaStateStore
from tenancy.tenant import TenantStatus

_LATEST_TENANTS = """
SELECT tenant_id, slug, status, plan, limit_overrides FROM registry_snapshots
WHERE day >= $start AND day < $end
QUALIFY row_number() OVER (PARTITION BY tenant_id ORDER BY day DESC) = 1
ORDER BY slug
"""


@dg.asset(
    group_name="quotas",
    pool=WAREHOUSE_POOL,
    partitions_def=monthly_partitions,
    deps=[monthly_tenant_usage],
    check_specs=[
        dg.AssetCheckSpec(
            "tenant_quota_status_every_tenant_evaluated",
            asset="tenant_quota_status",
            description="Every tenant of the month was evaluated; a tenant whose plan or "
            "overrides cannot be read is named here, and the others are still enforced.",
        )
    ],
)
def tenant_quota_status(
    context: dg.AssetExecutionContext,
    warehouse_db: UsageWarehouse,
    redis: RedisResource,
    outputs: QuotaOutputs,
) -> dg.MaterializeResult:
    """Each tenant's monthly usage against its plan limits with overrides: ok, warning (>= 90 %)
    or exceeded per metric. For the month in progress it is also enforced: the quota gate's
    state is replaced (hard-limit metrics blocked until the next month) and the
    tenant_resource_usage ratios are written for the TenantResourceExhaustion alert."""
    window = context.partition_time_window
    month, end = window.start.date(), window.end.date()
    catalog = default_catalog()
    statuses: list[tuple[str, str, str, QuotaStatus]] = []  # (slug, plan, status, quota status)
    plans: dict[uuid.UUID, str] = {}
    with warehouse_db.connection() as conn:
        tenants = conn.execute(_LATEST_TENANTS, {"start": month, "end": end}).fetchall()
        usage: dict[uuid.UUID, dict[str, float]] = {}
        for tenant_id, metric, value in conn.execute(
            "SELECT tenant_id, metric, value FROM monthly_tenant_usage WHERE month = ?", [month]
        ).fetchall():
            usage.setdefault(tenant_id, {})[metric] = float(value)
        failures: dict[str, str] = {}  # slug -> why it could not be evaluated
        for tenant_id, slug, status, plan, overrides in tenants:
            try:  # one bad row (an unknown plan, a malformed override) stops only itself
                quotas = evaluate(
                    tenant_id, catalog.get(plan), json.loads(overrides), usage.get(tenant_id, {})
                )
            except (TenancyError, ValueError) as exc:
                failures[slug] = str(exc)
                context.log.error(f"tenant {slug} ({tenant_id}) not evaluated: {exc}")
                continue
            statuses.extend((slug, plan, status, quota) for quota in quotas)
            plans[tenant_id] = plan
        now = datetime.now(UTC)
        table = pa.table(
            {
                "month": [month] * len(statuses),
                "tenant_id": [str(q.tenant_id) for _, _, _, q in statuses],
                "slug": [s for s, _, _, _ in statuses],
                "plan": [p for _, p, _, _ in statuses],
                "metric": [q.limit_key for _, _, _, q in statuses],
                "used": [q.used for _, _, _, q in statuses],
                "limit": [q.limit for _, _, _, q in statuses],
                "ratio": [q.ratio for _, _, _, q in statuses],
                "state": [q.state.value for _, _, _, q in statuses],
                "blocked": [q.blocked for _, _, _, q in statuses],
                "evaluated_at": pa.array(
                    [now.replace(tzinfo=None)] * len(statuses), pa.timestamp("us")
                ),
            }
        )

        def replace_month() -> None:
            conn.execute("DELETE FROM tenant_quota_status WHERE month = ?", [month])
            conn.register("statuses", table)
            conn.execute("INSERT INTO tenant_quota_status BY NAME SELECT * FROM statuses")
            conn.unregister("statuses")

        writes.write(conn, replace_month, [f"tenant_quota_status:{month}"])
    enforced = month <= now.date() < end
    if enforced:
        _enforce(statuses, redis, outputs, until=utc_midnight(next_month(month)), now=now)
        pipeline_metrics.write(
            outputs.beside(pipeline_metrics.QUOTAS_FILE),
            pipeline_metrics.quotas([q for _, _, _, q in statuses], plans, catalog),
        )
    counts = {state.value: sum(q.state is state for _, _, _, q in statuses) for state in QuotaState}
    return dg.MaterializeResult(
        metadata={
            **counts,
            "blocked": sum(q.blocked for _, _, _, q in statuses),
            "tenants": len(tenants),
            "enforced": enforced,
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="tenant_quota_status_every_tenant_evaluated",
                passed=not failures,
                metadata={"failed": "; ".join(f"{k}: {v}" for k, v in failures.items()) or "none"},
            )
        ],
    )


def _enforce(
    statuses: list[tuple[str, str, str, QuotaStatus]],
    redis: RedisResource,
    outputs: QuotaOutputs,
    until: datetime,
    now: datetime,
) -> None:
    store = QuotaStateStore(redis_client(redis))
    by_tenant: dict[uuid.UUID, dict[str, QuotaBlock]] = {}
    for _, _, status, quota in statuses:
        blocks = by_tenant.setdefault(quota.tenant_id, {})
        if status != TenantStatus.ACTIVE:  # a suspended or deleted tenant uses nothing
            blocks[quota.limit_key] = QuotaBlock(f"tenant is {status}", until)
        elif quota.blocked:
            blocks[quota.limit_key] = QuotaBlock(quota.reason, until)
    for tenant_id, blocks in by_tenant.items():
        store.replace(tenant_id, blocks, now)
    prometheus_textfile.write(
        outputs.textfile_path(),
        [(q.tenant_id, q.limit_key, q.ratio) for _, _, _, q in statuses if q.ratio is not None],
    )
