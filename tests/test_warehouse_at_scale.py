"""Purge, retention sweep and export on the at-scale warehouse, resolved from the environment
as production configures it: a DuckLake with its catalog in PostgreSQL and its data in S3."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import redis

from tenancy.db.session import Database
from tenancy.devstack.postgres import PostgresServer
from tenancy.export_bundle import export_tenant
from tenancy.lifecycle import Transition
from tenancy.object_store import LocalObjectStore
from tenancy.purge import PurgeTargets, finish_purge
from tenancy.retention import Sweeper
from tenancy.retention_policy import load_policy
from tenancy.settings import Settings
from tenancy.transitions import apply_transition
from tenancy.usage_warehouse import WarehouseLocation, open_warehouse, resolve
from tests.db.factories import make_tenant
from tests.warehouses import moto_bucket

NOW = datetime(2030, 6, 1, tzinfo=UTC)


@pytest.fixture
def lake(postgres: PostgresServer, moto_endpoint: str) -> Iterator[WarehouseLocation]:
    name = f"lake_{uuid.uuid4().hex[:10]}"
    bucket = moto_bucket(moto_endpoint)
    with psycopg.connect(postgres.superuser_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield resolve(
        Settings.from_env(
            {
                "TENANCY_WAREHOUSE_CATALOG": f"postgres:{postgres.url(dbname=name)}",
                "TENANCY_WAREHOUSE_DATA": f"s3://{bucket}/usage/",
                "TENANCY_WAREHOUSE_S3_REGION": "us-east-1",
                "TENANCY_WAREHOUSE_S3_KEY_ID": "testing",
                "TENANCY_WAREHOUSE_S3_SECRET": "testing",
                "TENANCY_WAREHOUSE_S3_ENDPOINT": moto_endpoint.removeprefix("http://"),
                "TENANCY_WAREHOUSE_S3_USE_SSL": "false",
            }
        )
    )
    with psycopg.connect(postgres.superuser_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_purge_sweep_and_export_on_postgres_and_s3(
    db: Database, redis_client: redis.Redis, tmp_path: Path, lake: WarehouseLocation
) -> None:
    assert lake.lake is not None and lake.lake.on_postgres and lake.lake.s3 is not None
    tenants = {slug: make_tenant(db, slug).tenant for slug in ("acme", "globex", "initech")}
    with open_warehouse(lake) as conn:
        conn.execute(
            "CREATE TABLE usage_events (tenant_id UUID, metric VARCHAR, occurred_at TIMESTAMP)"
        )
        conn.execute("CREATE TABLE daily_tenant_usage (tenant_id UUID, value BIGINT)")
        for t in tenants.values():
            for age in (timedelta(days=8), timedelta(days=1)):
                conn.execute(
                    "INSERT INTO usage_events VALUES (?, 'api_call', ?)",
                    [str(t.id), (NOW - age).replace(tzinfo=None)],
                )
            conn.execute("INSERT INTO daily_tenant_usage VALUES (?, 2)", [str(t.id)])

    def rows() -> dict[str, int]:
        slugs = {str(t.id): slug for slug, t in tenants.items()}
        with open_warehouse(lake, read_only=True) as conn:
            found = conn.execute("SELECT tenant_id, count(*) FROM usage_events GROUP BY 1")
            return {slugs[str(r[0])]: int(r[1]) for r in found.fetchall()}

    store = LocalObjectStore(tmp_path / "objects")
    exported = export_tenant(db, store, "globex", warehouse=lake, now=NOW)
    usage = store.get(exported.bundle_prefix + "usage/usage_events.jsonl").splitlines()
    assert {json.loads(line)["tenant_id"] for line in usage} == {str(tenants["globex"].id)}
    assert len(usage) == 2

    apply_transition(db, "acme", Transition.DELETE, reason="closing", now=NOW - timedelta(days=9))
    apply_transition(db, "initech", Transition.DELETE, reason="closing", now=NOW)
    purged = apply_transition(db, "initech", Transition.PURGE, force=True, now=NOW)
    steps = finish_purge(
        db, purged.tenant, PurgeTargets(store=store, redis=redis_client, warehouse=lake), NOW
    )
    assert steps["warehouse"]["detail"]["rows"] == {"usage_events": 2, "daily_tenant_usage": 1}
    assert rows() == {"acme": 2, "globex": 2}

    swept = Sweeper(db, load_policy(), store, lake, None).sweep(NOW, "r1")
    logs = [r for r in swept if r.category == "logs" and r.target.startswith("warehouse")]
    assert {r.slug: r.count for r in logs if r.count} == {"acme": 1}
    assert rows() == {"acme": 1, "globex": 2}, "acme's expired row went; globex untouched"
