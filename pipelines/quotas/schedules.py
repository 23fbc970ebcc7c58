"""Jobs and schedules of the quotas domain. All cron times are UTC."""

from datetime import timedelta

import dagster as dg

from pipelines.lib.periods import month_start
from pipelines.quotas.assets import tenant_quota_status
from pipelines.usage.assets import monthly_tenant_usage

quota_enforcement_job = dg.define_asset_job(
    "quota_enforcement_job",
    selection=[monthly_tenant_usage, tenant_quota_status],
    description="Roll up a month and evaluate (and, for the month in progress, enforce) quotas.",
)


@dg.schedule(
    job=quota_enforcement_job,
    cron_schedule="30 0 * * *",  # fires every day at 00:30 UTC, after the daily rollup
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily: enforce quotas for the month in progress (on the 1st, the new month "
    "starts clean and last month's blocks lift).",
)
def quota_enforcement_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    month = month_start(context.scheduled_execution_time.date()).isoformat()
    day = context.scheduled_execution_time.date().isoformat()
    return dg.RunRequest(run_key=f"quota-{day}", partition_key=month)


@dg.schedule(
    job=quota_enforcement_job,
    cron_schedule="0 1 1 * *",  # fires at 01:00 UTC on the 1st of every month
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Monthly: the final rollup of the month that just ended.",
)
def monthly_rollup_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    month = month_start(context.scheduled_execution_time.date() - timedelta(days=1)).isoformat()
    return dg.RunRequest(run_key=f"monthly-{month}", partition_key=month)
