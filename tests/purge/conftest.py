"""Three tenants with data in every place a purge reaches, for the purge tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
import redis

from tenancy.db.bootstrap import role_url
from tenancy.db.session import Database
from tenancy.devstack.postgres import PostgresServer
from tenancy.envelope import TenantCipher
from tenancy.key_providers import AwsKmsKeyProvider
from tenancy.object_store import S3ObjectStore, tenant_prefix
from tenancy.purge import PurgeTargets, tenant_schema
from tenancy.redis_keys import enforcement_key, tenant_key
from tenancy.storage_location import dedicated_bucket_name
from tenancy.usage_warehouse import open_warehouse
from tests.db.factories import make_agent, make_document, make_tenant
from tests.warehouses import KINDS, warehouse_at

SLUGS = ("acme", "globex", "initech")


def aws(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def make_tenant_schema(superuser: psycopg.Connection, tenant_id: uuid.UUID, slug: str) -> None:
    """What the tenant's stack creates: a NOLOGIN role, its schema, a table the tenant made."""
    name = tenant_schema(tenant_id)
    superuser.execute(f'CREATE ROLE "{name}" NOLOGIN NOINHERIT')
    superuser.execute(f'CREATE SCHEMA "{name}"')
    superuser.execute(f'GRANT USAGE, CREATE ON SCHEMA "{name}" TO "{name}"')
    superuser.execute(f'SET ROLE "{name}"')
    superuser.execute(f'CREATE TABLE "{name}".notes (id int PRIMARY KEY, body text)')
    superuser.execute(f"INSERT INTO \"{name}\".notes VALUES (1, 'note of {slug}')")
    superuser.execute("RESET ROLE")


@pytest.fixture(params=KINDS)
def world(
    request: pytest.FixtureRequest,
    db: Database,
    redis_client: redis.Redis,
    moto_endpoint: str,
    tmp_path: Path,
    superuser: psycopg.Connection,
    postgres: PostgresServer,
) -> Iterator[dict[str, Any]]:
    """Three tenants with rows, objects, Redis keys, warehouse rows and encrypted blobs; two
    of them (acme, globex) also with a dedicated, versioned bucket, and all with a schema."""
    s3, kms = aws("s3", moto_endpoint), aws("kms", moto_endpoint)
    bucket = f"shared-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    store = S3ObjectStore(s3, bucket)
    warehouse = warehouse_at(request.param, tmp_path)
    with open_warehouse(warehouse) as conn:
        conn.execute(
            "CREATE TABLE usage_events (event_id UUID, tenant_id UUID, metric VARCHAR, quantity BIGINT)"
        )
        conn.execute(
            "CREATE TABLE daily_tenant_usage (day DATE, tenant_id UUID, metric VARCHAR, value BIGINT)"
        )
        conn.execute(
            "CREATE TABLE monthly_tenant_usage (month DATE, tenant_id UUID, metric VARCHAR, value BIGINT)"
        )
    tenants, aliases, buckets = {}, {}, {}
    run = uuid.uuid4().hex[:6]
    for slug in SLUGS:
        tenant = make_tenant(db, f"{slug}-{run}").tenant
        tenants[slug] = tenant
        make_tenant_schema(superuser, tenant.id, slug)
        if slug != "initech":
            own = buckets[slug] = dedicated_bucket_name(tenant.slug)
            s3.create_bucket(
                Bucket=own, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )
            s3.put_bucket_versioning(Bucket=own, VersioningConfiguration={"Status": "Enabled"})
            key = f"{tenant_prefix(tenant.id)}documents/own.txt"
            s3.put_object(Bucket=own, Key=key, Body=f"{slug} v1".encode())
            s3.put_object(Bucket=own, Key=key, Body=f"{slug} v2".encode())
            gone = f"{tenant_prefix(tenant.id)}documents/gone.txt"
            s3.put_object(Bucket=own, Key=gone, Body=b"soon gone")
            s3.delete_object(Bucket=own, Key=gone)
        key_id = kms.create_key(Description=f"tenant {slug}")["KeyMetadata"]["KeyId"]
        aliases[tenant.id] = f"alias/tenant-{slug}-{uuid.uuid4().hex[:6]}"
        kms.create_alias(AliasName=aliases[tenant.id], TargetKeyId=key_id)
        make_agent(db, tenant.id)
        make_document(db, tenant.id)
        for i in range(3):
            store.put(f"{tenant_prefix(tenant.id)}documents/{i}.txt", f"{slug} {i}".encode())
        store.put(f"{tenant_prefix(tenant.id)}documents/0.txt", f"{slug} 0 again".encode())
        redis_client.set(tenant_key(tenant.id, "cache", "a"), slug)
        redis_client.hset(tenant_key(tenant.id, "session", "x"), "k", "v")
        redis_client.set(enforcement_key("quota", tenant.id, "state"), "{}")
        redis_client.set(enforcement_key("ratelimit", tenant.id, "v1-agents"), "1")
        redis_client.set(
            enforcement_key("metered", tenant.id, "api_calls_per_month", "2026-01"), "7"
        )
        redis_client.set(enforcement_key("activity", tenant.id, str(uuid.uuid4())), "1", ex=3600)
        with open_warehouse(warehouse) as conn:
            conn.execute(
                "INSERT INTO usage_events VALUES (?, ?, 'api_calls', 1)",
                [str(uuid.uuid4()), str(tenant.id)],
            )
            conn.execute(
                "INSERT INTO daily_tenant_usage VALUES ('2026-01-01', ?, 'api_calls', 1)",
                [str(tenant.id)],
            )
            conn.execute(
                "INSERT INTO monthly_tenant_usage VALUES ('2026-01-01', ?, 'api_calls', 1)",
                [str(tenant.id)],
            )
    cipher = TenantCipher(AwsKmsKeyProvider(kms, lambda t: aliases[t]))
    blobs = {t.slug: cipher.encrypt(t.id, f"secret of {t.slug}".encode()) for t in tenants.values()}
    dbname = str(psycopg.conninfo.conninfo_to_dict(superuser.info.dsn)["dbname"])
    targets = PurgeTargets(
        store=store,
        redis=redis_client,
        warehouse=warehouse,
        kms=kms,
        alias=lambda t: aliases[t.id],
        data_plane_admin_url=role_url(
            postgres.superuser_url, "postgres", postgres.password, dbname
        ),
    )
    yield {
        "tenants": tenants,
        "store": store,
        "blobs": blobs,
        "kms": kms,
        "aliases": aliases,
        "targets": targets,
        "warehouse": warehouse,
        "s3": s3,
        "buckets": buckets,
        "shared": bucket,
    }
    for t in tenants.values():  # roles are cluster-wide; the test's database goes with it
        superuser.execute(f'DROP SCHEMA IF EXISTS "{tenant_schema(t.id)}" CASCADE')
        superuser.execute(f'DROP ROLE IF EXISTS "{tenant_schema(t.id)}"')
