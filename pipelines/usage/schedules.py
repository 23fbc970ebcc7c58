"""Jobs and schedules of the usage domain. All cron times are UTC."""

from datetime import timedelta

import dagster as dg

from pipelines.usage.assets import daily_tenant_usage, usage_events

ingest_job = dg.define_asset_job(
    "ingest_job", selection=[usage_events], description="Drain the usage stream into the warehouse."
)
daily_rollup_job = dg.define_asset_job(
    "daily_rollup_job",
    selection=[daily_tenant_usage],
    description="Roll up one or more UTC days per tenant.",
)

ingest_schedule = dg.ScheduleDefinition(
    name="ingest_schedule",
    job=ingest_job,
    cron_schedule="5 * * * *",  # fires at minute 5 of every hour, UTC
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly: drain the usage stream.",
)


@dg.schedule(
    job=daily_rollup_job,
    cron_schedule="15 0 * * *",  # fires every day at 00:15 UTC, for the day that just ended
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily after midnight: roll up yesterday (UTC).",
)
def daily_rollup_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()
    return dg.RunRequest(run_key=f"daily-{day}", partition_key=day)
