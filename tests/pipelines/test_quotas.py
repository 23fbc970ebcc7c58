"""Quota status against plans, overrides and unlimited limits; enforcement read back through
the quota gate and the Prometheus textfile."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from pipelines.lib.periods import month_start, next_month, utc_midnight
from pipelines.lib.quota_math import BYTES_PER_GB, QuotaState, evaluate
from tenancy.metered import MeteredCounters, hard_api_quota
from tenancy.plans import load_catalog
from tenancy.quota_gate import QuotaGate
from tenancy.usage.events import api_call
from tests.pipelines.conftest import Pipeline
from tests.warehouses import KINDS

CATALOG = load_catalog()
TENANT = uuid.UUID("0b7e4c1a-5f0e-4d5e-9a53-6f1c2d3e4a01")


def states(
    plan: str, usage: dict[str, float], overrides: dict[str, object] | None = None
) -> dict[str, tuple[str, bool]]:
    return {
        q.limit_key: (q.state.value, q.blocked)
        for q in evaluate(TENANT, CATALOG.get(plan), overrides, usage)
    }


def test_thresholds_and_blocking() -> None:
    assert states("free", {"api_calls": 899})["api_calls_per_month"] == ("ok", False)
    assert states("free", {"api_calls": 900})["api_calls_per_month"] == ("warning", False)
    assert states("free", {"api_calls": 1000})["api_calls_per_month"] == ("warning", False), (
        "the limit itself is allowed"
    )
    assert states("free", {"api_calls": 1001})["api_calls_per_month"] == ("exceeded", True), (
        "free: hard limit"
    )
    assert states("pro", {"api_calls": 12000})["api_calls_per_month"] == ("exceeded", False), (
        "pro: pays overage"
    )
    assert states("pro", {"users": 26})["users"] == ("exceeded", True), (
        "no overage is sold for users"
    )
    assert states("free", {"storage_bytes": 1.5 * BYTES_PER_GB})["storage_gb"] == ("exceeded", True)


def test_overrides_and_unlimited() -> None:
    assert states("free", {"api_calls": 1500}, {"api_calls_per_month": 2000})[
        "api_calls_per_month"
    ] == ("ok", False)
    assert states("free", {"api_calls": 1900}, {"api_calls_per_month": 2000})[
        "api_calls_per_month"
    ] == ("warning", False)
    unlimited = evaluate(TENANT, CATALOG.get("enterprise"), None, {"users": 10**6})
    users = next(q for q in unlimited if q.limit_key == "users")
    assert users.state is QuotaState.OK and users.ratio is None and users.limit is None
    assert states("free", {"users": 10**6}, {"users": "unlimited"})["users"] == ("ok", False)


def _this_month_range() -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {
        "dagster/asset_partition_range_start": month_start(today).isoformat(),
        "dagster/asset_partition_range_end": today.isoformat(),
    }


@pytest.mark.parametrize("warehouse_kind", KINDS)
def test_enforcement_reaches_the_quota_gate(pipeline: Pipeline) -> None:
    now = datetime.now(UTC)
    start = utc_midnight(month_start(now.date()))
    span = max((now - start).total_seconds() - 60, 1.0)
    free, pro = pipeline.tenants["free"], pipeline.tenants["pro"]
    pipeline.recorder.record_many(
        api_call(free, "/v1/agents", "GET", 200, start + timedelta(seconds=span * i / 1214))
        for i in range(1214)
    )
    pipeline.recorder.record_many(
        api_call(pro, "/v1/agents", "GET", 200, start + timedelta(seconds=span * i / 9500))
        for i in range(9500)
    )
    pipeline.materialize(["usage_events"])
    pipeline.materialize(["daily_tenant_usage"], tags=_this_month_range())
    month_key = month_start(now.date()).isoformat()
    result = pipeline.materialize(
        ["monthly_tenant_usage", "tenant_quota_status"], partition_key=month_key
    )
    meta = result.asset_materializations_for_node("tenant_quota_status")[0].metadata
    assert meta["blocked"].value == 1 and meta["enforced"].value is True

    status = pipeline.sql(
        "SELECT slug, metric, used, state, blocked FROM tenant_quota_status "
        "WHERE metric = 'api_calls_per_month' ORDER BY slug"
    )
    assert status == [
        ("acme-enterprise", "api_calls_per_month", 0.0, "ok", False),
        ("acme-free", "api_calls_per_month", 1214.0, "exceeded", True),
        ("acme-pro", "api_calls_per_month", 9500.0, "warning", False),
    ]
    gate = QuotaGate(pipeline.redis)
    denied = gate.check(free, "api_calls_per_month")
    assert not denied.allowed and denied.reason == "1,214 of 1,000 API calls this month (plan free)"
    assert denied.until == utc_midnight(next_month(now.date())), "blocked until the next period"
    assert gate.check(pro, "api_calls_per_month").allowed
    textfile = pipeline.textfile.read_text()
    assert (
        f'tenant_resource_usage{{tenant="{free}",resource="api_calls_per_month"}} 1.214' in textfile
    )
    assert (
        f'tenant_resource_usage{{tenant="{pro}",resource="api_calls_per_month"}} 0.95' in textfile
    )
    assert 'resource="users"}' in textfile and "unlimited" not in textfile
    quotas = (pipeline.textfile.parent / "tenant_quotas.prom").read_text()
    assert f'tenant_quota_blocked{{resource="api_calls_per_month",tenant="{free}"}} 1.0' in quotas
    assert f'tenant_quota_blocked{{resource="api_calls_per_month",tenant="{pro}"}} 0.0' in quotas
    assert f'tenant_resource_used{{resource="api_calls_per_month",tenant="{pro}"}} 9500.0' in quotas
    assert (
        f'tenant_resource_limit{{resource="api_calls_per_month",tenant="{pro}"}} 10000.0' in quotas
    )
    assert f'tenant_plan{{plan="pro",tenant="{pro}"}} 1.0' in quotas
    assert 'plan_base_monthly_cents{currency="usd",plan="pro"} 4900.0' in quotas
    assert (
        'plan_overage_block_cents{currency="usd",plan="pro",resource="api_calls_per_month"} 100.0'
        in quotas
    )
    enterprise = pipeline.tenants["enterprise"]
    assert f'tenant_resource_limit{{resource="users",tenant="{enterprise}"}}' not in quotas, (
        "an unlimited limit has no series"
    )
    ingest = (pipeline.textfile.parent / "usage_ingest_0.prom").read_text()
    assert 'usage_ingest_last_run_entries{outcome="inserted",shard="0"} 10714.0' in ingest
    stamp = next(
        float(line.split()[-1])
        for line in ingest.splitlines()
        if line.startswith('usage_ingest_last_success_timestamp_seconds{shard="0"} ')
    )
    assert now.timestamp() <= stamp <= datetime.now(UTC).timestamp()


def test_past_months_are_evaluated_but_not_enforced(pipeline: Pipeline) -> None:
    free = pipeline.tenants["free"]
    pipeline.recorder.record_many(
        api_call(free, "/v1/a", "GET", 200, datetime(2024, 2, 10, tzinfo=UTC)) for _ in range(1500)
    )
    pipeline.materialize(["usage_events"])
    pipeline.materialize(["daily_tenant_usage"], partition_key="2024-02-10")
    result = pipeline.materialize(
        ["monthly_tenant_usage", "tenant_quota_status"], partition_key="2024-02-01"
    )
    assert (
        result.asset_materializations_for_node("tenant_quota_status")[0].metadata["enforced"].value
        is False
    )
    assert pipeline.sql(
        "SELECT state FROM tenant_quota_status WHERE slug = 'acme-free' "
        "AND metric = 'api_calls_per_month'"
    ) == [("exceeded",)]
    assert QuotaGate(pipeline.redis).check(free).allowed, "history never blocks today"


def test_suspended_tenants_are_blocked_and_one_bad_row_stops_only_itself(
    pipeline: Pipeline, superuser: psycopg.Connection
) -> None:
    free, pro, enterprise = (pipeline.tenants[p] for p in ("free", "pro", "enterprise"))
    superuser.execute(
        "UPDATE registry.tenants SET status = 'suspended', suspension_reason = 'test' WHERE id = %s",
        (pro,),
    )
    superuser.execute(
        "UPDATE registry.tenants SET limit_overrides = '{\"gpus\": 4}' WHERE id = %s", (enterprise,)
    )
    now = datetime.now(UTC)
    pipeline.recorder.record_many(
        api_call(free, "/v1/a", "GET", 200, now - timedelta(minutes=1)) for _ in range(1001)
    )
    pipeline.materialize(["usage_events"])
    pipeline.materialize(["daily_tenant_usage"], partition_key=now.date().isoformat())
    result = pipeline.materialize(
        ["monthly_tenant_usage", "tenant_quota_status"],
        partition_key=month_start(now.date()).isoformat(),
    )
    gate = QuotaGate(pipeline.redis)
    assert not gate.check(free).allowed, "the free tenant over its limit is still enforced"
    suspended = gate.check(pro, "agents")
    assert not suspended.allowed and suspended.reason == "tenant is suspended"
    check = next(
        c
        for c in result.get_asset_check_evaluations()
        if c.check_name == "tenant_quota_status_every_tenant_evaluated"
    )
    assert not check.passed and "acme-enterprise" in str(check.metadata["failed"].value)
    assert "gpus" in str(check.metadata["failed"].value)


def test_ingest_reconciles_the_hard_quota_counter(pipeline: Pipeline) -> None:
    free = pipeline.tenants["free"]
    now = datetime.now(UTC)
    pipeline.recorder.record_many(
        api_call(free, "/v1/a", "GET", 200, now - timedelta(seconds=i)) for i in range(25)
    )
    result = pipeline.materialize(["usage_events"])
    meta = result.asset_materializations_for_node("usage_events")[0].metadata
    assert meta["metered_counters_reconciled"].value == 1, "only the free plan's quota is hard"
    quota = hard_api_quota(CATALOG.get("free"), {}, now)
    assert quota is not None and MeteredCounters(pipeline.redis).used(free, quota) == 25
