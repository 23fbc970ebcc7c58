"""A full purge of one tenant among several: everything of it goes, nothing of the others."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import duckdb
import psycopg
import pytest
import redis
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from tenancy.db.bootstrap import role_url
from tenancy.db.session import Database
from tenancy.devstack.postgres import PostgresServer
from tenancy.envelope import DecryptionError, TenantCipher
from tenancy.key_providers import AwsKmsKeyProvider
from tenancy.lifecycle import RESTORE_WINDOW, Transition
from tenancy.lifecycle_runtime import apply_runtime_state
from tenancy.object_store import S3ObjectStore, tenant_prefix
from tenancy.purge import (
    STEPS,
    WAREHOUSE_TABLES,
    PurgeTargets,
    finish_purge,
    purge_steps,
    tenant_schema,
)
from tenancy.redis_keys import enforcement_key, tenant_key
from tenancy.storage_location import dedicated_bucket_name
from tenancy.tenant_status import TenantStatusStore, status_key
from tenancy.transitions import apply_transition, deletion_record
from tenancy.usage_warehouse import WarehouseLocation, open_warehouse
from tests.db.factories import make_agent, make_document, make_tenant
from tests.warehouses import KINDS, warehouse_at

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SLUGS = ("acme", "globex", "initech")


def aws(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


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


def test_full_purge_of_one_tenant_among_several(
    db: Database, superuser: psycopg.Connection, redis_client: redis.Redis, world: dict[str, Any]
) -> None:
    tenants, store, targets = world["tenants"], world["store"], world["targets"]
    acme = tenants["acme"]
    others = [tenants["globex"], tenants["initech"]]

    s3 = world["s3"]

    def others_snapshot() -> Any:
        objects = {
            k: v
            for k, v in bucket_versions(s3, world["shared"]).items()
            if not k[0].startswith(tenant_prefix(acme.id))
        }
        objects["globex bucket"] = bucket_versions(s3, world["buckets"]["globex"])  # type: ignore[assignment]
        wh = warehouse_rows(world["warehouse"])
        wh_others = {
            table: [r for r in rows if str(r[1]) != str(acme.id)] for table, rows in wh.items()
        }
        return (
            [registry_rows(superuser, t.id) for t in others],
            objects,
            [schema_dump(superuser, t.id) for t in others],
            [redis_dump(redis_client, t.id) for t in others],
            wh_others,
        )

    def outbox_kinds() -> list[str]:
        rows = superuser.execute(
            "SELECT kind FROM registry.notification_outbox WHERE tenant_id = %s ORDER BY kind",
            (acme.id,),
        ).fetchall()
        return [str(r[0]) for r in rows]

    apply_transition(db, acme.id, Transition.DELETE, reason="closing", now=T0)
    assert "deleted" in outbox_kinds(), "the deletion notice (owners' addresses) is queued"
    before = others_snapshot()
    purged = apply_transition(db, acme.id, Transition.PURGE, now=T0 + RESTORE_WINDOW)
    assert set(outbox_kinds()) == {"purged"}, "only the purge notice keeps an address"
    apply_runtime_state(redis_client, purged.tenant)
    steps = finish_purge(db, purged.tenant, targets, now=T0 + RESTORE_WINDOW)
    assert before[2][0][1] == [(1, "note of globex")], "the snapshot holds the schemas' rows"
    assert others_snapshot() == before, "the other tenants are untouched, byte for byte"

    assert list(store.keys(tenant_prefix(acme.id))) == []
    assert [
        k for k in bucket_versions(s3, world["shared"]) if k[0].startswith(tenant_prefix(acme.id))
    ] == [], "no noncurrent version left either"
    assert steps["storage"]["detail"]["versions"] == 4
    own = world["buckets"]["acme"]
    assert own not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert steps["bucket"]["detail"] == {"bucket": own, "versions": 3, "delete_markers": 1}
    assert schema_dump(superuser, acme.id) == ([], None), "schema and role dropped"
    assert steps["schema"]["detail"]["schema_dropped"] and steps["schema"]["detail"]["role_dropped"]
    assert list(redis_client.scan_iter(match=f"tenant:{acme.id}:*")) == []
    assert redis_client.get(enforcement_key("quota", acme.id, "state")) is None
    assert steps["redis"]["detail"]["keys"] == 6
    leftover = {k.decode() for k in redis_client.scan_iter(match=f"*{acme.id}*")}
    assert leftover == {status_key(acme.id)}, "only the purged status stays"
    assert TenantStatusStore(redis_client).get(acme.id) == ("purged", "purged")
    wh = warehouse_rows(world["warehouse"])
    assert all(str(r[1]) != str(acme.id) for r in wh["usage_events"] + wh["daily_tenant_usage"])
    assert [str(r[1]) for r in wh["monthly_tenant_usage"]].count(str(acme.id)) == 1, "billing's"
    assert lake_places_holding(world["warehouse"], acme.id) == [], "nor beneath the snapshots"

    kms = world["kms"]
    meta = kms.describe_key(KeyId=world["aliases"][acme.id])["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion"
    deletion = datetime.fromisoformat(steps["kms_schedule_deletion"]["detail"]["deletion_date"])
    assert timedelta(days=6) < deletion - datetime.now(UTC) <= timedelta(days=7)
    # moto's Decrypt ignores the key state (moto 5.2.5, the newest release, and its main
    # branch alike: `KmsBackend.decrypt` never reads `key_state`), so what KMS answers for the
    # purged tenant's blobs is asserted with botocore's Stubber below; the others still
    # decrypt here for real.
    fresh = TenantCipher(AwsKmsKeyProvider(kms, lambda t: world["aliases"][t]))
    for t in others:
        assert fresh.decrypt(t.id, world["blobs"][t.slug]) == f"secret of {t.slug}".encode()
        state = kms.describe_key(KeyId=world["aliases"][t.id])["KeyMetadata"]["KeyState"]
        assert state == "Enabled"

    record = deletion_record(db, acme.id)
    assert record is not None and record["removed"]["documents"] == 1
    assert set(purge_steps(db, acme.id)) == set(STEPS) == set(record["steps"])
    assert record["steps"]["bucket"]["detail"]["bucket"] == own
    again = finish_purge(db, purged.tenant, targets)
    assert again == steps, "a finished purge does nothing more"


def test_an_interrupted_purge_resumes(
    db: Database, redis_client: redis.Redis, world: dict[str, Any]
) -> None:
    targets = world["targets"]
    acme = world["tenants"]["acme"]
    apply_transition(db, acme.id, Transition.DELETE, reason="closing", now=T0)
    purged = apply_transition(db, acme.id, Transition.PURGE, force=True, now=T0)
    broken = PurgeTargets(
        store=targets.store,
        redis=targets.redis,
        warehouse=targets.warehouse,
        kms=targets.kms,
        alias=lambda t: "alias/does-not-exist",
    )
    with pytest.raises(ClientError, match="NotFoundException"):
        finish_purge(db, purged.tenant, broken)
    steps = purge_steps(db, purged.tenant.id)
    assert steps["kms_disable"]["finished_at"] is None, "started, on the ledger, not finished"
    assert "storage" not in steps, "nothing after the key ran before the key was dealt with"
    done = finish_purge(db, purged.tenant, targets)
    assert all(s["finished_at"] is not None for s in done.values()) and len(done) == len(STEPS)


@pytest.mark.parametrize("code", ["DisabledException", "KMSInvalidStateException"])
def test_blobs_under_a_disabled_or_deleted_key_do_not_decrypt(code: str) -> None:
    """What KMS answers for a purged tenant's key (disabled, then pending deletion)."""
    kms = boto3.client(
        "kms", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    tenant = uuid.uuid4()
    with Stubber(kms) as stub:
        stub.add_response(
            "generate_data_key",
            {"Plaintext": b"k" * 32, "CiphertextBlob": b"wrapped", "KeyId": "key"},
        )
        blob = TenantCipher(AwsKmsKeyProvider(kms, lambda t: "alias/x")).encrypt(tenant, b"secret")
        stub.add_client_error("decrypt", service_error_code=code, http_status_code=400)
        with pytest.raises(DecryptionError, match=f"cannot decrypt as tenant {tenant}: .*{code}"):
            TenantCipher(AwsKmsKeyProvider(kms, lambda t: "alias/x")).decrypt(tenant, blob)


def test_a_purge_interrupted_after_its_warehouse_delete_leaves_no_file_holding_the_rows(
    db: Database, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows' delete commits, then the process dies before the files are rewritten: the
    run that finishes the step finds nothing left to delete, and must still rewrite them."""
    import tenancy.purge

    targets = world["targets"]
    acme = world["tenants"]["acme"]
    apply_transition(db, acme.id, Transition.DELETE, reason="closing", now=T0)
    purged = apply_transition(db, acme.id, Transition.PURGE, force=True, now=T0)
    real = tenancy.purge.erase_deleted

    def killed(*args: Any) -> int:
        raise KeyboardInterrupt("killed after the delete committed")

    monkeypatch.setattr(tenancy.purge, "erase_deleted", killed)
    with pytest.raises(KeyboardInterrupt):
        finish_purge(db, purged.tenant, targets)
    assert purge_steps(db, acme.id)["warehouse"]["finished_at"] is None
    monkeypatch.setattr(tenancy.purge, "erase_deleted", real)
    done = finish_purge(db, purged.tenant, targets)
    assert done["warehouse"]["finished_at"] is not None
    assert lake_places_holding(world["warehouse"], acme.id) == [], "nor beneath the snapshots"


def test_a_purge_erases_the_tenants_quarantined_entries(
    db: Database, world: dict[str, Any]
) -> None:
    """A quarantined entry keeps the event's fields (tenant id, endpoint, ...) as JSON text:
    an entry naming the purged tenant goes with the tenant, beneath the snapshots too."""
    targets, where = world["targets"], world["warehouse"]
    acme, globex = world["tenants"]["acme"], world["tenants"]["globex"]
    with open_warehouse(where) as conn:
        conn.execute(
            "CREATE TABLE usage_quarantine (entry_id VARCHAR, fields VARCHAR, reason VARCHAR, "
            "batch_id BIGINT, quarantined_at TIMESTAMP, code VARCHAR, raw_base64 VARCHAR)"
        )
        for n, tenant in enumerate((acme, globex)):
            fields = json.dumps({"tenant": str(tenant.id), "endpoint": "/secret", "qty": "-1"})
            conn.execute(
                "INSERT INTO usage_quarantine VALUES (?, ?, 'qty is -1', 1, now(), 'bad', NULL)",
                [f"{n}-0", fields],
            )
        conn.execute(
            "CREATE TABLE ingest_errors (entry_id VARCHAR, error VARCHAR, failed_at TIMESTAMP)"
        )
        conn.execute(
            "INSERT INTO ingest_errors VALUES ('0-0', 'qty: rejected', now()), "
            "('1-0', 'qty: rejected', now()), (?, ?, now())",
            ["2-0", f"bad row for tenant {acme.id}"],
        )
    apply_transition(db, acme.id, Transition.DELETE, reason="closing", now=T0)
    purged = apply_transition(db, acme.id, Transition.PURGE, force=True, now=T0)
    finish_purge(db, purged.tenant, targets)
    with open_warehouse(where, read_only=True) as conn:
        left = [r[0] for r in conn.execute("SELECT fields FROM usage_quarantine").fetchall()]
        errors = [r[0] for r in conn.execute("SELECT entry_id FROM ingest_errors").fetchall()]
    assert [str(acme.id) in f for f in left] == [False], "globex's entry alone is kept"
    assert errors == ["1-0"], "the errors of acme's entry and those naming acme are gone"
    if where.lake is not None:
        files = [p for p in Path(where.lake.data).rglob("*.parquet") if "delete" not in p.name]
        holding = [
            p.name
            for p in files
            if p.parent.name == "usage_quarantine"
            and duckdb.execute(
                "SELECT count(*) FROM read_parquet(?) WHERE contains(fields, ?)",
                [str(p), str(acme.id)],
            ).fetchall()[0][0]
        ]
        assert holding == [], "no data file still holds the entry"
