"""Jobs and schedules of the usage domain. All cron times are UTC."""

from datetime import timedelta

import dagster as dg

from pipelines.partitions import usage_shard_partitions
from pipelines.usage.assets import daily_tenant_usage, usage_events

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=[usage_events],
    description="Drain one shard of the usage stream into the warehouse.",
)
daily_rollup_job = dg.define_asset_job(
    "daily_rollup_job",
    selection=[daily_tenant_usage],
    description="Roll up one or more UTC days per tenant.",
)


@dg.schedule(
    job=ingest_job,
    cron_schedule="5 * * * *",  # fires at minute 5 of every hour, UTC
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly: drain every shard of the usage stream, one run per shard (the runs "
    "go side by side as far as the warehouse pool allows).",
)
def ingest_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    hour = context.scheduled_execution_time.strftime("%Y-%m-%dT%H")
    return [
        dg.RunRequest(run_key=f"ingest-{hour}-shard-{shard}", partition_key=shard)
        for shard in usage_shard_partitions.get_partition_keys()
    ]


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
