"""Late and out-of-order events: re-roll the partitions they land in."""

import hashlib
import json
from datetime import UTC, date, datetime

import dagster as dg
import duckdb

from pipelines.lib import ingest_batches
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


def parse_cursor(text: str | None) -> dict[int, int]:
    """The sensor's cursor: the last batch id seen per usage_events partition, as JSON
    {"<partition>": <batch id>}. A bare number is the cursor of a release with one batch
    sequence, whose ids are partition 0's."""
    if not text:
        return {}
    if text.strip().isdigit():
        return {0: int(text)}
    try:
        seen = json.loads(text)
        return {int(p): int(n) for p, n in seen.items()}
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(
            f"late_usage_sensor cursor is {text!r}; expected a JSON object of partition -> "
            "last batch id (or a bare batch id)"
        ) from exc


def format_cursor(seen: dict[int, int]) -> str:
    return json.dumps({str(p): n for p, n in sorted(seen.items())}, separators=(",", ":"))


#: How long a tick waits for a writer's lock on the warehouse before skipping to the next tick.
LOCK_WAIT_SECONDS = 5.0


@dg.sensor(
    jobs=[daily_rollup_job, quota_enforcement_job],
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-materializes the daily (and, for past months, monthly) partitions that "
    "events ingested since the last tick fall into. The cursor is the last ingest batch seen "
    "per usage_events partition (shards commit side by side, each in its own id order); it "
    "advances on every tick that could read the warehouse, so one bad tick never stalls it.",
)
def late_usage_sensor(
    context: dg.SensorEvaluationContext, warehouse_db: UsageWarehouse
) -> dg.SensorResult | dg.SkipReason:
    first_tick = context.cursor is None
    seen = parse_cursor(context.cursor)
    try:
        wait = {"lock_wait_seconds": LOCK_WAIT_SECONDS}
        with warehouse_db.model_copy(update=wait).connection() as conn:
            touched, newest = ingest_batches.days_touched(conn, seen)
    except duckdb.IOException as exc:
        return dg.SkipReason(f"warehouse busy ({exc}); trying again next tick")
    cursor = format_cursor(newest)
    if first_tick:  # the schedules have rolled up what came before; watch from here on
        return dg.SensorResult(cursor=cursor, skip_reason=f"watching ingest batches after {cursor}")
    if newest == seen:
        return dg.SkipReason(f"no ingest batch after {format_cursor(seen)}")
    days, months = late_partitions(touched, datetime.now(UTC).date())
    tag = hashlib.sha256(cursor.encode()).hexdigest()[:16]
    requests = [
        dg.RunRequest(run_key=f"late-{d}-{tag}", partition_key=d, job_name=daily_rollup_job.name)
        for d in days
        if daily_partitions.has_partition_key(d)
    ]
    requests += [
        dg.RunRequest(
            run_key=f"late-{m}-{tag}", partition_key=m, job_name=quota_enforcement_job.name
        )
        for m in months
        if monthly_partitions.has_partition_key(m)
    ]
    return dg.SensorResult(run_requests=requests, cursor=cursor)
