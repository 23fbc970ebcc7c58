"""Daily and monthly rollups: right day and month in UTC, reruns identical, every tenant present."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tenancy.usage.events import agent_execution, api_call
from tenancy.usage_warehouse import open_warehouse
from tests.pipelines.conftest import Pipeline
from tests.warehouses import KINDS

RANGE = {
    "dagster/asset_partition_range_start": "2024-02-27",
    "dagster/asset_partition_range_end": "2024-03-02",
}


def daily(p: Pipeline, metric: str = "api_calls") -> list[tuple[object, ...]]:
    return p.sql(
        "SELECT day::VARCHAR, tenant_id, value FROM daily_tenant_usage "
        "WHERE metric = ? AND endpoint = '' AND value > 0 ORDER BY ALL",
        [metric],
    )


def test_boundaries_late_and_out_of_order_events_land_in_their_utc_day(pipeline: Pipeline) -> None:
    free, pro = pipeline.tenants["free"], pipeline.tenants["pro"]
    leap_last_ms = datetime(2024, 2, 29, 23, 59, 59, 999000, tzinfo=UTC)
    march_first = datetime(2024, 3, 1, 0, 0, tzinfo=UTC)
    plus_two = timezone(timedelta(hours=2))
    events = [
        api_call(free, "/v1/a", "GET", 200, march_first),  # out of order: the later one first
        api_call(free, "/v1/a", "GET", 200, leap_last_ms),
        api_call(
            pro, "/v1/a", "GET", 200, datetime(2024, 3, 1, 1, 30, tzinfo=plus_two)
        ),  # 23:30 UTC, 29 Feb
        agent_execution(pro, free, datetime(2024, 2, 28, 12, tzinfo=UTC)),
    ]
    pipeline.recorder.record_many(events)
    pipeline.materialize(["usage_events"])
    pipeline.materialize(["daily_tenant_usage"], tags=RANGE)
    assert sorted(daily(pipeline), key=str) == sorted(
        [("2024-02-29", free, 1), ("2024-02-29", pro, 1), ("2024-03-01", free, 1)], key=str
    )
    assert daily(pipeline, "agent_executions") == [("2024-02-28", pro, 1)]

    late = api_call(
        free, "/v1/b", "GET", 200, datetime(2024, 2, 27, 9, tzinfo=UTC)
    )  # arrives days later
    pipeline.recorder.record(late)
    pipeline.materialize(["usage_events"])
    pipeline.materialize(["daily_tenant_usage"], partition_key="2024-02-27")
    assert ("2024-02-27", free, 1) in daily(pipeline)

    pipeline.materialize(["monthly_tenant_usage"], partition_key="2024-02-01")
    pipeline.materialize(["monthly_tenant_usage"], partition_key="2024-03-01")
    monthly = pipeline.sql(
        "SELECT month::VARCHAR, tenant_id, value FROM monthly_tenant_usage "
        "WHERE metric = 'api_calls' ORDER BY ALL"
    )
    assert sorted(monthly, key=str) == sorted(
        [("2024-02-01", free, 2), ("2024-02-01", pro, 1), ("2024-03-01", free, 1)], key=str
    )


@pytest.mark.parametrize("warehouse_kind", KINDS)
def test_rerun_of_any_partition_gives_identical_rows(pipeline: Pipeline) -> None:
    pro = pipeline.tenants["pro"]
    pipeline.recorder.record_many(
        api_call(
            pro, f"/v1/e{i % 3}", "GET", 200, datetime(2024, 2, 27, tzinfo=UTC) + timedelta(hours=i)
        )
        for i in range(90)
    )
    (pipeline.objects / "tenants" / str(pro)).mkdir(parents=True)
    (pipeline.objects / "tenants" / str(pro) / "doc.bin").write_bytes(b"x" * 5000)
    pipeline.materialize(["usage_events"])
    pipeline.materialize(["daily_tenant_usage"], tags=RANGE)
    pipeline.materialize(["monthly_tenant_usage"], partition_key="2024-02-01")
    snapshot = pipeline.sql("SELECT * FROM daily_tenant_usage ORDER BY ALL")
    monthly = pipeline.sql("SELECT * FROM monthly_tenant_usage ORDER BY ALL")
    (pipeline.objects / "tenants" / str(pro) / "more.bin").write_bytes(
        b"y" * 7000
    )  # storage changes later
    pipeline.materialize(["daily_tenant_usage"], partition_key="2024-02-28")
    pipeline.materialize(["daily_tenant_usage"], tags=RANGE)
    pipeline.materialize(["monthly_tenant_usage"], partition_key="2024-02-01")
    assert pipeline.sql("SELECT * FROM daily_tenant_usage ORDER BY ALL") == snapshot
    assert pipeline.sql("SELECT * FROM monthly_tenant_usage ORDER BY ALL") == monthly
    per_endpoint = pipeline.sql(
        "SELECT endpoint, sum(value) FROM daily_tenant_usage "
        "WHERE metric = 'api_calls_by_endpoint' GROUP BY ALL ORDER BY ALL"
    )
    assert per_endpoint == [("/v1/e0", 30), ("/v1/e1", 30), ("/v1/e2", 30)]
    assert pipeline.sql(
        "SELECT DISTINCT value FROM daily_tenant_usage WHERE metric = 'storage_bytes' "
        "AND tenant_id = ?",
        [pro],
    ) == [(5000,)]


def test_every_active_tenant_has_a_row_and_checks_pass(pipeline: Pipeline) -> None:
    pipeline.materialize(["usage_events"])
    result = pipeline.materialize(["daily_tenant_usage"], partition_key="2024-02-29")
    present = pipeline.sql(
        "SELECT DISTINCT tenant_id FROM daily_tenant_usage WHERE metric = 'users'"
    )
    assert sorted(t for (t,) in present) == sorted(pipeline.tenants.values()), (
        "present without events"
    )
    assert pipeline.sql("SELECT count(*) FROM daily_tenant_usage WHERE metric = 'api_calls'") == [
        (0,)
    ]
    users = pipeline.sql("SELECT DISTINCT value FROM daily_tenant_usage WHERE metric = 'users'")
    assert users == [(1,)], "the owner of each tenant"
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {
        "daily_tenant_usage_totals_reconcile": True,
        "daily_tenant_usage_no_negative_usage": True,
        "daily_tenant_usage_every_active_tenant": True,
    }


@pytest.mark.parametrize("warehouse_kind", KINDS)
def test_reconcile_check_catches_a_tampered_aggregate(pipeline: Pipeline) -> None:

    from pipelines.lib.usage_checks import daily_totals_mismatch

    pipeline.recorder.record(
        api_call(pipeline.tenants["free"], "/v1/a", "GET", 200, datetime(2024, 2, 29, tzinfo=UTC))
    )
    pipeline.materialize(["usage_events"])
    pipeline.materialize(["daily_tenant_usage"], partition_key="2024-02-29")
    with open_warehouse(pipeline.warehouse) as conn:
        conn.execute(
            "UPDATE daily_tenant_usage SET value = value + 1 WHERE metric = 'api_calls' AND value > 0"
        )
        from datetime import date

        assert daily_totals_mismatch(conn, date(2024, 2, 29), date(2024, 3, 1)) == [
            "api_calls: 2 in daily_tenant_usage, 1 in usage_events",
            "api_calls_by_endpoint sums to 1, api_calls to 2",
        ]
