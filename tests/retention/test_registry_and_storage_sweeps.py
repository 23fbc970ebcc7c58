"""Sweeps of registry rows and stored objects: a suspended tenant's user data to the second,
agent executions by month, and a tenant's own bucket."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import psycopg

from tenancy.db.session import Database
from tenancy.lifecycle import Transition
from tenancy.object_store import LocalObjectStore, S3ObjectStore, tenant_prefix
from tenancy.retention import Sweeper, decide
from tenancy.storage_location import dedicated_bucket_name
from tenancy.transitions import apply_transition
from tests.db.factories import make_document, make_tenant
from tests.retention.sweeper import DAY, NOW, POLICY, SECOND, sweeper
from tests.warehouses import warehouse_at


def test_user_data_of_a_suspended_tenant_to_the_second(
    db: Database, superuser: psycopg.Connection, tmp_path: Path
) -> None:
    acme = make_tenant(db, "acme").tenant
    globex = make_tenant(db, "globex").tenant
    store = LocalObjectStore(tmp_path / "objects")
    keep = timedelta(days=365)
    apply_transition(db, "acme", Transition.SUSPEND, reason="unpaid", now=NOW - keep - DAY)
    docs: dict[str, Any] = {}
    for name, age in (("old", keep + SECOND), ("edge", keep), ("new", keep - SECOND)):
        doc = make_document(db, acme.id, name)
        superuser.execute(
            "UPDATE registry.documents SET created_at = %s, object_key = %s WHERE id = %s",
            (NOW - age, f"{tenant_prefix(acme.id)}documents/{name}", doc),
        )
        store.put(f"{tenant_prefix(acme.id)}documents/{name}", name.encode())
        when = (NOW - age).timestamp()
        os.utime(tmp_path / "objects" / tenant_prefix(acme.id) / "documents" / name, (when, when))
        docs[name] = doc
    # A document row of acme's that names globex's object must not take it along.
    store.put(f"{tenant_prefix(globex.id)}documents/theirs", b"globex")
    os.utime(tmp_path / "objects" / tenant_prefix(globex.id) / "documents/theirs", (0, 0))
    sneaky = make_document(db, acme.id, "sneaky")
    superuser.execute(
        "UPDATE registry.documents SET created_at = %s, object_key = %s WHERE id = %s",
        (NOW - keep - DAY, f"{tenant_prefix(globex.id)}documents/theirs", sneaky),
    )
    for name, age in (("upload-old", keep + SECOND), ("upload-edge", keep)):
        store.put(f"{tenant_prefix(acme.id)}uploads/{name}", b"u")
        when = (NOW - age).timestamp()
        os.utime(tmp_path / "objects" / tenant_prefix(acme.id) / "uploads" / name, (when, when))

    plan = sweeper(db, tmp_path, None).sweep(NOW, "plan", dry_run=True)
    by_target = {(r.category, r.target): r for r in plan if r.slug == "acme"}
    assert by_target[("user_data", "registry documents.created_at")].count == 2
    assert by_target[("user_data", "storage tenants/<id>/uploads/")].count == 1
    assert superuser.execute("SELECT count(*) FROM registry.documents").fetchone() == (4,), (
        "plan deletes nothing"
    )

    sweeper(db, tmp_path, None).sweep(NOW, "r1")
    left = {r[0] for r in superuser.execute("SELECT name FROM registry.documents").fetchall()}
    assert left == {"edge", "new"}
    names = sorted(k.rsplit("/", 1)[1] for k in store.keys(tenant_prefix(acme.id)))
    assert names == ["edge", "new", "upload-edge"]
    assert store.get(f"{tenant_prefix(globex.id)}documents/theirs") == b"globex"
    assert decide(globex, "user_data", POLICY, NOW).outcome == "indefinite"


def test_months_of_executions_are_dropped_only_when_no_tenant_needs_them(
    db: Database, superuser: psycopg.Connection, tmp_path: Path
) -> None:
    from tenancy.db.isolation_audit import isolation_problems

    acme = make_tenant(db, "acme").tenant  # deleted: executions kept 7 days
    globex = make_tenant(db, "globex").tenant  # active: 90 days
    initech = make_tenant(db, "initech").tenant  # on hold
    apply_transition(db, "acme", Transition.DELETE, reason="closing", now=NOW - timedelta(days=20))
    apply_transition(db, "initech", Transition.HOLD, reason="case 5")
    rows = [
        (acme, datetime(2029, 1, 10, tzinfo=UTC)),
        (globex, datetime(2029, 1, 20, tzinfo=UTC)),  # January 2029: nobody needs it
        (acme, datetime(2029, 3, 3, tzinfo=UTC)),
        (initech, datetime(2029, 3, 4, tzinfo=UTC)),  # March 2029: the hold keeps it
        (acme, NOW - timedelta(days=7) - SECOND),
        (acme, NOW - timedelta(days=7)),  # exactly 7 days: kept
        (globex, NOW - timedelta(days=8)),  # May 2030: globex still needs it
    ]
    with db.platform() as conn:
        for _, at in rows:
            conn.execute("SELECT registry.ensure_execution_month(%s)", (at,))
    for tenant, at in rows:
        superuser.execute(
            "INSERT INTO registry.agent_executions (tenant_id, started_at, agent_id, status) "
            "VALUES (%s, %s, %s, 'succeeded')",
            (tenant.id, at, uuid.uuid4()),
        )
    assert isolation_problems(superuser) == [], "every month has the parent's RLS"

    plan = sweeper(db, tmp_path, None).sweep(NOW, "plan", dry_run=True)
    assert {r.slug: r.count for r in plan if r.target.startswith("registry agent_executions")} == {
        "acme": 3,
        "globex": 1,
        "initech": 0,
    }
    result = sweeper(db, tmp_path, None).sweep(NOW, "r1")
    counts = {r.slug: r.count for r in result if r.target.startswith("registry agent_executions")}
    assert counts == {"acme": 3, "globex": 1, "initech": 0}

    def exists(month: str) -> bool:
        row = superuser.execute("SELECT to_regclass(%s)", (f"registry.agent_executions_{month}",))
        return row.fetchone()[0] is not None  # type: ignore[index]

    assert not exists("2029_01"), "dropped, not detached and left behind"
    assert exists("2029_03") and exists("2030_05")
    assert exists("2030_06") and exists("2030_07"), "the months ahead are created"
    left = superuser.execute(
        "SELECT t.slug, e.started_at FROM registry.agent_executions e "
        "JOIN registry.tenants t ON t.id = e.tenant_id ORDER BY 2"
    ).fetchall()
    assert left == [
        ("initech", datetime(2029, 3, 4, tzinfo=UTC)),
        ("globex", NOW - timedelta(days=8)),
        ("acme", NOW - timedelta(days=7)),
    ]


def test_a_tenant_in_its_own_bucket_is_swept_there(
    db: Database, moto_endpoint: str, tmp_path: Path
) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    run = uuid.uuid4().hex[:6]
    big = make_tenant(db, f"big-{run}", plan="enterprise").tenant
    small = make_tenant(db, f"small-{run}", plan="pro").tenant
    shared, own = f"shared-{run}", dedicated_bucket_name(big.slug)
    for bucket in (shared, own):
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
    apply_transition(db, big.id, Transition.SUSPEND, reason="unpaid", now=NOW - 2 * 365 * DAY)
    s3.put_object(Bucket=own, Key=f"{tenant_prefix(big.id)}uploads/old.bin", Body=b"old")
    s3.put_object(Bucket=shared, Key=f"{tenant_prefix(small.id)}uploads/kept.bin", Body=b"k")

    rows = Sweeper(
        db, POLICY, S3ObjectStore(s3, shared), warehouse_at("file", tmp_path), None
    ).sweep(NOW, "r1")
    swept = {(r.slug, r.target): r.count for r in rows if r.category == "user_data"}
    assert swept[(big.slug, "storage tenants/<id>/uploads/")] == 1
    assert "Contents" not in s3.list_objects_v2(Bucket=own, Prefix=tenant_prefix(big.id))
    kept = s3.list_objects_v2(Bucket=shared)["Contents"]
    assert [o["Key"] for o in kept] == [f"{tenant_prefix(small.id)}uploads/kept.bin"]
