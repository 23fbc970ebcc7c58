"""Jobs and schedules of the billing domain. All cron times are UTC.

A month is closed (pushed to Stripe and finalized) only once its grace period for late usage
has passed: `TENANCY_BILLING_GRACE_DAYS` days into the next month (default 3), read when the
schedule is evaluated. Until then the drafts are recomputed daily, so late usage lands on
them; after it, late usage becomes a correction on the next month's invoice.
"""

import os
from datetime import date, timedelta

import dagster as dg

from pipelines.billing.assets import invoice_ledger, stripe_invoices
from pipelines.lib.periods import month_start
from tenancy.errors import ConfigurationError

GRACE_VAR = "TENANCY_BILLING_GRACE_DAYS"
DEFAULT_GRACE_DAYS = 3

invoice_draft_job = dg.define_asset_job(
    "invoice_draft_job",
    selection=[invoice_ledger],
    description="Recompute the draft invoices of a month in the ledger (nothing goes to Stripe).",
)
billing_job = dg.define_asset_job(
    "billing_job",
    selection=[invoice_ledger, stripe_invoices],
    description="Close a month: final drafts, then push, reconcile and finalize them in Stripe.",
)


def grace_days() -> int:
    raw = os.environ.get(GRACE_VAR)
    if not raw:
        return DEFAULT_GRACE_DAYS
    if not raw.isdigit() or int(raw) > 27:
        raise ConfigurationError(f"{GRACE_VAR} is {raw!r}; expected whole days from 0 to 27")
    return int(raw)


def closing(today: date, grace: int) -> tuple[date, bool]:
    """The month the schedules work on today (the one that ended), and whether today closes it."""
    previous = month_start(today.replace(day=1) - timedelta(days=1))
    return previous, today.day == 1 + grace


@dg.schedule(
    job=invoice_draft_job,
    cron_schedule="0 2 * * *",  # fires every day at 02:00 UTC, after the 01:00 monthly rollup
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="During the grace period (the 1st until the closing day), recompute last "
    "month's drafts so late usage lands on them; the operator sees them from the 1st.",
)
def invoice_draft_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    today = context.scheduled_execution_time.date()
    month, closes = closing(today, grace_days())
    if today.day > 1 + grace_days() or closes:
        return dg.SkipReason(f"{month:%Y-%m} is closed or closing today; drafts are frozen")
    return dg.RunRequest(run_key=f"invoice-drafts-{today}", partition_key=month.isoformat())


@dg.schedule(
    job=billing_job,
    cron_schedule="0 3 * * *",  # evaluated daily at 03:00 UTC; runs only on day 1 + grace
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=f"Close last month at 03:00 UTC on day 1 + {GRACE_VAR} (default "
    f"{DEFAULT_GRACE_DAYS}, i.e. the 4th): final drafts, then push, reconcile and finalize in Stripe.",
)
def billing_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    today = context.scheduled_execution_time.date()
    month, closes = closing(today, grace_days())
    if not closes:
        return dg.SkipReason(f"{month:%Y-%m} closes on day {1 + grace_days()} of the next month")
    return dg.RunRequest(run_key=f"billing-{month:%Y-%m}", partition_key=month.isoformat())
