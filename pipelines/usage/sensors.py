"""Late and out-of-order events: re-roll the partitions they land in."""

from datetime import UTC, date, datetime

import dagster as dg
import duckdb

from pipelines.lib import warehouse
from pipelines.lib.periods import month_start
from pipelines.partitions import PARTITIONS_START, daily_partitions, monthly_partitions
from pipelines.quotas.schedules import quota_enforcement_job
from pipelines.resources import UsageWarehouse
from pipelines.usage.schedules import daily_rollup_job


def late_partitions(touched: list[date], today: date) -> tuple[list[str], list[str]]:
    """Daily partitions before today that got new events, and months before this one; only
    partitions that exist (a day before the first partition has none to re-run)."""
    first = date.fromisoformat(PARTITIONS_START)
    days = sorted({d for d in touched if first <= d < today})
    months = sorted({month_start(d) for d in days if month_start(d) < month_start(today)})
    return [d.isoformat() for d in days], [m.isoformat() for m in months]


@dg.sensor(
    jobs=[daily_rollup_job, quota_enforcement_job],
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-materializes the daily (and, for past months, monthly) partitions that "
    "events ingested since the last tick fall into. The cursor is the last ingest batch seen; "
    "it advances on every tick that could read the warehouse, so one bad tick never stalls it.",
)
def late_usage_sensor(
    context: dg.SensorEvaluationContext, warehouse_db: UsageWarehouse
) -> dg.SensorResult | dg.SkipReason:
    first_tick = context.cursor is None
    after = int(context.cursor or 0)
    try:
        with warehouse_db.model_copy(update={"lock_wait_seconds": 5.0}).connection() as conn:
            touched, newest = warehouse.days_touched(conn, after)
    except duckdb.IOException as exc:
        return dg.SkipReason(f"warehouse busy ({exc}); trying again next tick")
    if first_tick:  # the schedules have rolled up what came before; watch from here on
        return dg.SensorResult(
            cursor=str(newest), skip_reason=f"watching ingest batches after {newest}"
        )
    if newest == after:
        return dg.SkipReason(f"no ingest batch after {after}")
    days, months = late_partitions(touched, datetime.now(UTC).date())
    requests = [
        dg.RunRequest(run_key=f"late-{d}-{newest}", partition_key=d, job_name=daily_rollup_job.name)
        for d in days
        if daily_partitions.has_partition_key(d)
    ]
    requests += [
        dg.RunRequest(
            run_key=f"late-{m}-{newest}", partition_key=m, job_name=quota_enforcement_job.name
        )
        for m in months
        if monthly_partitions.has_partition_key(m)
    ]
    return dg.SensorResult(run_requests=requests, cursor=str(newest))
