"""The daily `retention_sweep` asset, its checks and its schedule, on a real registry."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from pipelines.definitions import defs
from pipelines.resources import RedisResource, RegistryResource, UsageWarehouse
from pipelines.retention.assets import retention_sweep, tenant_purges
from pipelines.retention.resources import RetentionTargets
from pipelines.retention.schedules import retention_sweep_schedule
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.devstack.redis import RedisServer
from tenancy.lifecycle import Transition
from tenancy.purge import purge_steps
from tenancy.registry import get_tenant
from tenancy.tenant import TenantStatus
from tenancy.transitions import apply_transition
from tenancy.usage_warehouse import open_warehouse
from tests.db.factories import make_document, make_tenant
from tests.warehouses import warehouse_at

DAY = (datetime.now(UTC) - timedelta(days=1)).date()
END = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC) + timedelta(days=1)
SECOND = timedelta(seconds=1)


def materialize(
    registry: RegistryUrls, redis_url: str, tmp_path: Path
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [tenant_purges, retention_sweep],
        partition_key=DAY.isoformat(),
        resources={
            "registry": RegistryResource(
                app_database_url=registry.app, platform_database_url=registry.platform
            ),
            "warehouse_db": UsageWarehouse(
                catalog=str(tmp_path / "warehouse" / "catalog.ducklake"),
                data=str(tmp_path / "warehouse" / "data"),
            ),
            "retention": RetentionTargets(root=str(tmp_path / "objects")),
            "redis": RedisResource(url=redis_url),
        },
    )


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_retention_sweep_by_status_with_checks(
    registry: RegistryUrls,
    db: Database,
    superuser: psycopg.Connection,
    redis_server: RedisServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TENANCY_AUDIT_ANCHOR_KEY", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("TENANCY_AUDIT_ANCHOR_STORE", str(tmp_path / "anchors"))
    acme = make_tenant(db, "acme").tenant
    globex = make_tenant(db, "globex").tenant
    for t in (acme, globex):
        for name, age in (("old", timedelta(days=366)), ("new", timedelta(days=10))):
            doc = make_document(db, t.id, name)
            superuser.execute(
                "UPDATE registry.documents SET created_at = %s WHERE id = %s", (END - age, doc)
            )
    apply_transition(db, "acme", Transition.SUSPEND, reason="unpaid", now=END - timedelta(days=400))
    apply_transition(
        db, "globex", Transition.SUSPEND, reason="unpaid", now=END - timedelta(days=400)
    )
    apply_transition(db, "globex", Transition.HOLD, reason="case 3")
    make_tenant(db, "initech")
    apply_transition(db, "initech", Transition.DELETE, reason="closing")
    apply_transition(db, "initech", Transition.PURGE, force=True)  # its steps not run yet
    for slug, hold in (("umbrella", False), ("hooli", True)):
        make_tenant(db, slug)
        apply_transition(
            db, slug, Transition.DELETE, reason="closing", now=END - timedelta(days=30)
        )
        if hold:
            apply_transition(db, slug, Transition.HOLD, reason="case 4")
    make_tenant(db, "vandelay")
    apply_transition(
        db, "vandelay", Transition.DELETE, reason="closing", now=END - timedelta(days=30) + SECOND
    )

    lake = warehouse_at("lake", tmp_path)
    recent = (END - timedelta(days=1)).replace(tzinfo=None)  # no sweep cutoff reaches it
    with open_warehouse(lake) as conn:
        conn.execute(
            "CREATE TABLE usage_events (tenant_id UUID, metric VARCHAR, occurred_at TIMESTAMP)"
        )
        conn.execute("CREATE TABLE daily_tenant_usage (tenant_id UUID, metric VARCHAR)")
        for slug in ("acme", "umbrella", "hooli", "vandelay"):
            tenant_id = str(get_tenant(db, slug).id)
            conn.execute("INSERT INTO usage_events VALUES (?, 'api_call', ?)", [tenant_id, recent])
            conn.execute("INSERT INTO daily_tenant_usage VALUES (?, 'api_calls')", [tenant_id])

    def warehouse_tenants() -> dict[str, list[str]]:
        slugs = {
            str(get_tenant(db, slug).id): slug for slug in ("acme", "umbrella", "hooli", "vandelay")
        }
        with open_warehouse(lake, read_only=True) as conn:
            return {
                table: sorted(
                    slugs[str(r[0])]
                    for r in conn.execute(f"SELECT tenant_id FROM {table}").fetchall()
                )
                for table in ("usage_events", "daily_tenant_usage")
            }

    result = materialize(registry, redis_server.url, tmp_path)
    assert result.success
    kept = ["acme", "hooli", "vandelay"]
    assert warehouse_tenants() == {"usage_events": kept, "daily_tenant_usage": kept}, (
        "the purged tenant's lake rows are gone, the others' are all there"
    )
    purges = result.asset_materializations_for_node("tenant_purges")[0].metadata
    assert {k: v.value for k, v in purges.items()} == {
        "purged": ["umbrella"],
        "blocked_by_hold": ["hooli"],
        "resumed": ["initech"],
    }
    assert get_tenant(db, "vandelay").status is TenantStatus.DELETED, "one second short of 30 days"
    assert checks(result) == {
        "retention_sweep_nothing_young_deleted": True,
        "retention_sweep_holds_untouched": True,
        "retention_sweep_purged_have_records": True,
    }
    metadata = result.asset_materializations_for_node("retention_sweep")[0].metadata
    assert metadata["tenants_on_hold"].value == ["globex", "hooli"]
    assert metadata["deleted"].value == {
        "logs": 0,
        "audit_trails": 0,
        "user_data": 1,
        "agent_executions": 0,
    }
    names = superuser.execute(
        "SELECT t.slug, d.name FROM registry.documents d JOIN registry.tenants t "
        "ON t.id = d.tenant_id ORDER BY 1, 2"
    ).fetchall()
    assert names == [("acme", "new"), ("globex", "new"), ("globex", "old")]
    assert purge_steps(db, get_tenant(db, "initech").id)["storage"]["finished_at"] is not None

    # A purged tenant without its deletion record fails the check (and is named).
    superuser.execute(
        "UPDATE registry.tenants SET status = 'purged', deleted_at = now(), purged_at = now(), "
        "suspension_reason = NULL WHERE id = %s",
        (acme.id,),
    )
    again = materialize(registry, redis_server.url, tmp_path)
    assert checks(again)["retention_sweep_purged_have_records"] is False


def test_retention_schedule_sweeps_the_day_that_ended() -> None:
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 3, 1, 2, tzinfo=UTC)
    )
    request = retention_sweep_schedule(context)
    assert isinstance(request, dg.RunRequest)
    assert (request.partition_key, request.run_key) == ("2026-02-28", "retention-2026-02-28")
    assert defs.resolve_job_def("retention_sweep_job").name == "retention_sweep_job"
