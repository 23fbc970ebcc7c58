"""Schedules fire when their comments say, for the right partitions; the late-data sensor's cursor."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import pytest
from croniter import croniter

from pipelines.definitions import defs
from pipelines.quotas.schedules import monthly_rollup_schedule, quota_enforcement_schedule
from pipelines.usage import sensors
from pipelines.usage.schedules import daily_rollup_schedule, ingest_schedule
from pipelines.usage.sensors import late_partitions, late_usage_sensor
from tenancy.usage.events import api_call
from tenancy.usage_warehouse import open_warehouse
from tests.lock_holder import hold_lock
from tests.pipelines.conftest import Pipeline
from tests.warehouses import KINDS


def next_ticks(schedule: dg.ScheduleDefinition, after: datetime, n: int = 3) -> list[datetime]:
    assert schedule.execution_timezone == "UTC", f"{schedule.name} must run in UTC"
    it = croniter(str(schedule.cron_schedule), after)
    return [it.get_next(datetime) for _ in range(n)]


AFTER = datetime(2024, 2, 28, 23, 50, tzinfo=UTC)


def test_next_ticks() -> None:
    assert next_ticks(ingest_schedule, AFTER) == [
        datetime(2024, 2, 29, h, 5, tzinfo=UTC) for h in range(3)
    ]
    assert next_ticks(daily_rollup_schedule, AFTER, 2) == [
        datetime(2024, 2, 29, 0, 15, tzinfo=UTC),
        datetime(2024, 3, 1, 0, 15, tzinfo=UTC),
    ]
    assert next_ticks(quota_enforcement_schedule, AFTER, 1) == [
        datetime(2024, 2, 29, 0, 30, tzinfo=UTC)
    ]
    assert next_ticks(monthly_rollup_schedule, AFTER, 2) == [
        datetime(2024, 3, 1, 1, 0, tzinfo=UTC),
        datetime(2024, 4, 1, 1, 0, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    ("schedule", "at", "partition"),
    [
        (daily_rollup_schedule, datetime(2024, 3, 1, 0, 15, tzinfo=UTC), "2024-02-29"),
        (quota_enforcement_schedule, datetime(2024, 3, 1, 0, 30, tzinfo=UTC), "2024-03-01"),
        (quota_enforcement_schedule, datetime(2024, 2, 29, 0, 30, tzinfo=UTC), "2024-02-01"),
        (monthly_rollup_schedule, datetime(2024, 3, 1, 1, 0, tzinfo=UTC), "2024-02-01"),
        (monthly_rollup_schedule, datetime(2025, 1, 1, 1, 0, tzinfo=UTC), "2024-12-01"),
    ],
)
def test_schedules_pick_the_partition(
    schedule: dg.ScheduleDefinition, at: datetime, partition: str
) -> None:
    context = dg.build_schedule_context(
        scheduled_execution_time=at, repository_def=defs.get_repository_def()
    )
    request = schedule.evaluate_tick(context).run_requests[0]  # type: ignore[index]
    assert request.partition_key == partition


def test_definitions_list_every_schedule_and_sensor() -> None:
    assert {s.name for s in defs.schedules or []} == {
        "ingest_schedule",
        "daily_rollup_schedule",
        "quota_enforcement_schedule",
        "monthly_rollup_schedule",
        "invoice_draft_schedule",
        "billing_schedule",
        "retention_sweep_schedule",
        "domain_checks_schedule",
        "lakehouse_upkeep_schedule",
    }
    assert {s.name for s in defs.sensors or []} == {
        "late_usage_sensor",
        "stripe_payment_events_sensor",
    }


def test_late_partitions_only_look_back() -> None:
    touched = [date(2024, 2, 27), date(2024, 2, 29), date(2024, 3, 1), date(2024, 3, 5)]
    assert late_partitions(touched, today=date(2024, 3, 5)) == (
        ["2024-02-27", "2024-02-29", "2024-03-01"],
        ["2024-02-01"],
    )


def test_sensor_cursor(pipeline: Pipeline) -> None:
    free = pipeline.tenants["free"]
    warehouse = pipeline.resources["warehouse_db"]

    def tick(cursor: str | None) -> dg.SensorResult | dg.SkipReason:
        context = dg.build_sensor_context(
            cursor=cursor,
            resources={"warehouse_db": warehouse},
            repository_def=defs.get_repository_def(),
        )
        return late_usage_sensor(context)  # type: ignore[no-any-return]

    pipeline.materialize(["usage_events"])  # empty drain: a batch-less warehouse
    start = tick(None)  # the first tick only takes note of where ingestion stands
    assert isinstance(start, dg.SensorResult) and not start.run_requests and start.cursor == "{}"
    pipeline.recorder.record_many(
        [
            api_call(free, "/v1/a", "GET", 200, datetime(2024, 2, 29, 23, 59, tzinfo=UTC)),
            api_call(free, "/v1/a", "GET", 200, datetime(2024, 3, 1, 0, 1, tzinfo=UTC)),
        ]
    )
    pipeline.materialize(["usage_events"])
    first = tick(start.cursor)
    assert isinstance(first, dg.SensorResult)
    assert sorted((r.job_name, r.partition_key) for r in first.run_requests or []) == [
        ("daily_rollup_job", "2024-02-29"),
        ("daily_rollup_job", "2024-03-01"),
        ("quota_enforcement_job", "2024-02-01"),
        ("quota_enforcement_job", "2024-03-01"),
    ]
    assert first.cursor == '{"0":1}'
    again = tick(first.cursor)
    assert isinstance(again, dg.SkipReason)
    assert 'no ingest batch after {"0":1}' in str(again.skip_message)
    pipeline.recorder.record(api_call(free, "/v1/a", "GET", 200, datetime(2024, 2, 20, tzinfo=UTC)))
    pipeline.materialize(["usage_events"])
    second = tick(first.cursor)
    assert isinstance(second, dg.SensorResult) and second.cursor == '{"0":2}'
    assert sorted(r.partition_key for r in second.run_requests or []) == [
        "2024-02-01",
        "2024-02-20",
    ]


@pytest.mark.parametrize("warehouse_kind", KINDS)
def test_sensor_skips_while_the_warehouse_is_locked(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    import multiprocessing

    monkeypatch.setattr(sensors, "LOCK_WAIT_SECONDS", 0.5)
    pipeline.materialize(["usage_events"])
    ready, release = (
        multiprocessing.get_context("spawn").Event(),
        multiprocessing.get_context("spawn").Event(),
    )
    holder = multiprocessing.get_context("spawn").Process(
        target=hold_lock, args=(str(pipeline.lock_file), ready, release)
    )
    holder.start()
    try:
        assert ready.wait(30)
        context = dg.build_sensor_context(
            cursor=None, resources={"warehouse_db": pipeline.resources["warehouse_db"]}
        )
        result = late_usage_sensor(context)
        assert isinstance(result, dg.SkipReason) and "warehouse busy" in str(result.skip_message)
    finally:
        release.set()
        holder.join(30)


def test_late_partitions_never_name_a_day_without_a_partition() -> None:
    touched = [date(1970, 1, 1), date(2023, 12, 31), date(2024, 1, 1), date(3000, 1, 1)]
    assert late_partitions(touched, today=date(2026, 11, 26)) == (["2024-01-01"], ["2024-01-01"])


def test_sensor_keeps_advancing_past_events_outside_the_partitions(pipeline: Pipeline) -> None:
    """A warehouse that already holds events on days with no partition (stored before the
    ingest window existed) must not make a tick fail, nor stop the cursor."""
    free = pipeline.tenants["free"]
    pipeline.materialize(["usage_events"])
    context = dg.build_sensor_context(
        cursor="0",
        resources={"warehouse_db": pipeline.resources["warehouse_db"]},
        repository_def=defs.get_repository_def(),
    )
    pipeline.recorder.record(api_call(free, "/v1/a", "GET", 200, datetime(2024, 5, 2, tzinfo=UTC)))
    pipeline.materialize(["usage_events"])
    with open_warehouse(pipeline.warehouse) as conn:  # rows from an older version
        conn.execute(
            "INSERT INTO usage_events SELECT * REPLACE (DATE '1970-01-01' AS day, "
            "TIMESTAMP '1970-01-01 00:00:00' AS occurred_at, uuid() AS event_id) FROM usage_events"
        )
        conn.execute(
            "INSERT INTO usage_events SELECT * REPLACE (DATE '3000-01-01' AS day, "
            "TIMESTAMP '3000-01-01 00:00:00' AS occurred_at, uuid() AS event_id) "
            "FROM usage_events WHERE day = DATE '2024-05-02'"
        )
    result = late_usage_sensor(context)
    assert isinstance(result, dg.SensorResult) and result.cursor == '{"0":1}'
    assert sorted(r.partition_key for r in result.run_requests or []) == [
        "2024-05-01",
        "2024-05-02",
    ]
