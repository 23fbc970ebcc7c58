"""Job and schedule of the domains domain (UTC)."""

import dagster as dg

from pipelines.domains.assets import domain_ownership_checks

domain_checks_job = dg.define_asset_job(
    "domain_checks_job",
    selection=[domain_ownership_checks],
    description="Look every pending and proven custom domain's TXT record up and record it.",
)


@dg.schedule(
    job=domain_checks_job,
    cron_schedule="17 * * * *",  # hourly, off the hour
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly: re-check custom domains; revoke those whose record is gone past the "
    "grace period.",
)
def domain_checks_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return dg.RunRequest(run_key=f"domains-{context.scheduled_execution_time.isoformat()}")
