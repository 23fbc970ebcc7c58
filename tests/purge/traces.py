"""Where a tenant's data can still be found after a purge: its registry rows, Redis keys,
object versions, schema, warehouse rows and the lake's files beneath the catalog's snapshots."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import redis

from tenancy.purge import WAREHOUSE_TABLES, tenant_schema
from tenancy.usage_warehouse import WarehouseLocation, open_warehouse

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def lake_places_holding(where: WarehouseLocation, tenant_id: uuid.UUID) -> list[str]:
    """Where a lake still keeps a row of the tenant, in a table the purge empties of it, read
    beneath the catalog's snapshots: each Parquet data file read directly, and the rows that
    small inserts left inlined in the catalog (a deleted row stays there until flushed)."""
    if where.lake is None:
        return []
    found = []
    for path in sorted(Path(where.lake.data).rglob("*.parquet")):
        if path.parent.name not in WAREHOUSE_TABLES or "delete" in path.name:
            continue
        rows = duckdb.execute(
            "SELECT count(*) FROM read_parquet(?) WHERE CAST(tenant_id AS VARCHAR) = ?",
            [str(path), str(tenant_id)],
        ).fetchall()
        if rows[0][0]:
            found.append(f"{path.parent.name}/{path.name}")
    with open_warehouse(where, read_only=True) as conn:
        meta = "__ducklake_metadata_lake"
        inlined = conn.execute(
            f"SELECT t.table_name, i.table_name FROM {meta}.ducklake_inlined_data_tables i "
            f"JOIN {meta}.ducklake_table t USING (table_id)"
        ).fetchall()
        for table, holder in inlined:
            if table not in WAREHOUSE_TABLES:
                continue
            rows = conn.execute(
                f"SELECT count(*) FROM {meta}.{holder} WHERE CAST(tenant_id AS VARCHAR) = ?",
                [str(tenant_id)],
            ).fetchall()
            if rows[0][0]:
                found.append(f"{table} inlined in the catalog ({holder})")
    return found


def warehouse_rows(where: WarehouseLocation) -> dict[str, list[tuple[Any, ...]]]:
    with open_warehouse(where, read_only=True) as conn:
        return {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in ("usage_events", "daily_tenant_usage", "monthly_tenant_usage")
        }


def registry_rows(superuser: psycopg.Connection, tenant_id: uuid.UUID) -> list[Any]:
    return [
        superuser.execute(
            f"SELECT * FROM registry.{table} WHERE {column} = %s ORDER BY 1, 2", (tenant_id,)
        ).fetchall()
        for table, column in (
            ("tenants", "id"),
            ("agents", "tenant_id"),
            ("documents", "tenant_id"),
            ("user_tenants", "tenant_id"),
            ("audit_log", "tenant_id"),
            ("notification_outbox", "tenant_id"),
        )
    ]


def redis_dump(client: redis.Redis, tenant_id: uuid.UUID) -> dict[bytes, bytes | None]:
    keys = list(client.scan_iter(match=f"*{tenant_id}*"))
    return {k: client.dump(k) for k in sorted(keys)}


def bucket_versions(s3: Any, bucket: str) -> dict[tuple[str, str], str]:
    """Every version (SHA-256 of its bytes) and delete marker in the bucket."""
    seen: dict[tuple[str, str], str] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            body = s3.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])["Body"]
            seen[(v["Key"], v["VersionId"])] = hashlib.sha256(body.read()).hexdigest()
        for m in page.get("DeleteMarkers", []):
            seen[(m["Key"], m["VersionId"])] = "marker"
    return seen


def schema_dump(superuser: psycopg.Connection, tenant_id: uuid.UUID) -> Any:
    name = tenant_schema(tenant_id)
    role = superuser.execute("SELECT rolname FROM pg_roles WHERE rolname = %s", (name,)).fetchall()
    if not superuser.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (name,)).fetchone():
        return role, None
    return role, superuser.execute(f'SELECT * FROM "{name}".notes ORDER BY 1').fetchall()
