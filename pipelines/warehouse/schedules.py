"""Jobs and schedules of warehouse upkeep. All cron times are UTC."""

import dagster as dg

from pipelines.warehouse.assets import lakehouse_files

lakehouse_upkeep_job = dg.define_asset_job(
    "lakehouse_upkeep_job",
    selection=[lakehouse_files],
    description="Merge small lakehouse files and expire old snapshots.",
)

lakehouse_upkeep_schedule = dg.ScheduleDefinition(
    name="lakehouse_upkeep_schedule",
    job=lakehouse_upkeep_job,
    cron_schedule="40 3 * * *",  # every day at 03:40 UTC, after the nightly rollups
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily: compact the lakehouse's files and expire its old snapshots.",
)
