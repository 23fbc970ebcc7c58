"""Job and schedule of the retention domain (UTC)."""

import dagster as dg

from pipelines.retention.assets import retention_sweep, tenant_purges

retention_sweep_job = dg.define_asset_job(
    "retention_sweep_job",
    selection=[tenant_purges, retention_sweep],
    description="Purge tenants deleted 30 days ago, then delete what each tenant's status "
    "says has expired; record both per tenant.",
)


@dg.schedule(
    job=retention_sweep_job,
    cron_schedule="0 2 * * *",  # 02:00 UTC daily, after the rollups and quota enforcement
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily: the retention sweep as of the end of the day that just ended.",
)
def retention_sweep_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = context.scheduled_execution_time.date()
    previous = day.fromordinal(day.toordinal() - 1).isoformat()
    return dg.RunRequest(run_key=f"retention-{previous}", partition_key=previous)
