"""Retention: the policy file, the rule by status, and sweeps with a controlled clock."""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from typer.testing import CliRunner

from tenancy.audit import anchor, verify
from tenancy.audit_anchor import AnchorKey
from tenancy.audit_anchor_config import Anchoring
from tenancy.audit_anchor_store import LocalAnchorStore
from tenancy.cli.main import app
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.lifecycle import Transition
from tenancy.object_store import LocalObjectStore, S3ObjectStore, tenant_prefix
from tenancy.registry import add_member
from tenancy.retention import Sweeper, decide
from tenancy.retention_policy import RetentionPolicyError, load_policy
from tenancy.storage_location import dedicated_bucket_name
from tenancy.tenant import TenantStatus
from tenancy.transitions import apply_transition
from tenancy.usage_warehouse import open_warehouse
from tests.db.factories import make_document, make_tenant
from tests.test_lifecycle_rules import tenant as fake_tenant
from tests.warehouses import KINDS, warehouse_at

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
POLICY = load_policy()


def test_the_policy_file_holds_the_spec_table() -> None:
    days = {
        status.value: {c: (d.days if d else None) for c, d in row.items()}
        for status, row in POLICY.retention.items()
    }
    assert days == {
        "active": {"logs": 365, "audit_trails": 2555, "user_data": None, "agent_executions": 90},
        "suspended": {"logs": 30, "audit_trails": 365, "user_data": 365, "agent_executions": 30},
        "deleted": {"logs": 7, "audit_trails": 90, "user_data": 30, "agent_executions": 7},
    }
    assert [t.describe() for t in POLICY.targets["user_data"]] == [
        "registry documents.created_at",
        "storage tenants/<id>/documents/",
        "storage tenants/<id>/uploads/",
        "storage tenants/<id>/exports/",
    ]


def test_a_broken_policy_names_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "retention.yaml"
    text = Path(POLICY.path).read_text()
    path.write_text(
        text.replace("logs: 30d", "logs: 30 days")
        .replace("table: documents", "table: users")
        .replace("  deleted: {", "  gone: {")
    )
    with pytest.raises(RetentionPolicyError) as info:
        load_policy(path)
    assert info.value.problems == [
        "categories.user_data.targets[0]: registry 'users' is not sweepable; expected one of: "
        "registry audit_log, registry documents, registry agent_executions, warehouse usage_events",
        "retention.suspended.logs: is '30 days'; expected <n>d, <n>y or indefinite",
        "retention.deleted: missing; expected a duration per category",
        "retention.gone: unknown status; expected active, suspended or deleted",
    ]
    result = CliRunner().invoke(app, ["retention", "check", str(path)])
    assert result.exit_code == 1 and "is '30 days'" in result.output
    assert CliRunner().invoke(app, ["retention", "check"]).exit_code == 0


def test_decide_by_status_to_the_second() -> None:
    active = fake_tenant(TenantStatus.ACTIVE)
    assert decide(active, "logs", POLICY, NOW).cutoff == NOW - timedelta(days=365)
    assert decide(active, "user_data", POLICY, NOW).outcome == "indefinite"
    suspended = fake_tenant(TenantStatus.SUSPENDED, status_changed_at=NOW - timedelta(days=30))
    assert decide(suspended, "logs", POLICY, NOW).cutoff == NOW - timedelta(days=30)
    assert decide(suspended, "logs", POLICY, NOW - SECOND).outcome == "in_grace"
    held = dataclasses.replace(suspended, legal_hold=True, legal_hold_reason="case")
    assert decide(held, "logs", POLICY, NOW).outcome == "blocked_by_hold"
    purged = fake_tenant(
        TenantStatus.PURGED, deleted_at=NOW - timedelta(days=90), status_changed_at=NOW
    )
    assert decide(purged, "audit_trails", POLICY, NOW).cutoff == NOW - timedelta(days=90)


@pytest.fixture
def anchoring(tmp_path: Path) -> Anchoring:
    return Anchoring(AnchorKey(os.urandom(32)), LocalAnchorStore(tmp_path / "anchors"))


def sweeper(
    db: Database,
    tmp_path: Path,
    anchoring: Anchoring | None,
    batch: int = 1000,
    warehouse: str = "lake",
) -> Sweeper:
    return Sweeper(
        db,
        POLICY,
        LocalObjectStore(tmp_path / "objects"),
        warehouse_at(warehouse, tmp_path),
        anchoring,
        batch,
    )


def entries(superuser: psycopg.Connection, tenant_id: uuid.UUID) -> list[tuple[int, datetime]]:
    return [
        (int(r[0]), r[1])
        for r in superuser.execute(
            "SELECT seq, created_at FROM registry.audit_log WHERE tenant_id = %s ORDER BY seq",
            (tenant_id,),
        ).fetchall()
    ]


def test_audit_sweep_leaves_a_checkpoint_that_verify_starts_from(
    db: Database, superuser: psycopg.Connection, tmp_path: Path, anchoring: Anchoring
) -> None:
    acme = make_tenant(db, "acme").tenant
    for i in range(4):
        add_member(db, acme.id, f"m{i}@acme.example.com")
    log = entries(superuser, acme.id)
    assert [s for s, _ in log] == [1, 2, 3, 4, 5]
    at_third = log[2][1] + timedelta(days=2555)  # entry 3 exactly 7 years old: kept

    assert sweeper(db, tmp_path, anchoring, batch=1).sweep(at_third, "r0")  # nothing anchored yet
    assert [s for s, _ in entries(superuser, acme.id)][:1] == [1], "unanchored entries stay"
    anchor(db, anchoring)
    rows = sweeper(db, tmp_path, anchoring, batch=1).sweep(at_third, "r1")
    audit_row = next(r for r in rows if r.category == "audit_trails")
    assert (audit_row.outcome, audit_row.count) == ("deleted", 2)
    assert audit_row.newest == log[1][1] and audit_row.cutoff == at_third - timedelta(days=2555)
    remaining = entries(superuser, acme.id)
    assert remaining[0][0] == 3, "entries 1-2 swept, 3 (exactly at its retention) kept"
    report = verify(db, acme.id, anchoring)
    assert report.ok and report.chains[0].checkpoint_seq == 2, report.chains[0].state
    assert "seq 1-2 swept, verified from its checkpoint" in report.chains[0].state
    assert remaining[-1][0] == 6 and remaining[-1][0] == max(s for s, _ in remaining)

    # Whoever moves the checkpoint (to hide removed entries) is caught by the anchor (seq 5).
    def checkpoint_at(seq: int) -> str:
        superuser.execute(
            "UPDATE registry.audit_checkpoints SET seq = %s WHERE tenant_id = %s", (seq, acme.id)
        )
        return verify(db, acme.id, anchoring).chains[0].state

    assert checkpoint_at(5) == (
        "broken at seq 5: the checkpoint differs from the anchor of "
        f"{anchoring.store.latest(str(acme.id)).anchored_at}"  # type: ignore[union-attr]
    )
    assert "the checkpoint at seq 6 is past the latest anchor (seq 5)" in checkpoint_at(6)
    assert "sequence jumps from 3 to 3" in checkpoint_at(3)
    superuser.execute(
        "UPDATE registry.audit_checkpoints SET seq = 2 WHERE tenant_id = %s", (acme.id,)
    )
    assert verify(db, acme.id, anchoring).ok

    # Everything anchored swept: new entries continue the chain from the checkpoint.
    anchor(db, anchoring)
    sweeper(db, tmp_path, anchoring).sweep(NOW + timedelta(days=9000), "r2")
    apply_transition(db, "acme", Transition.SUSPEND, reason="x")
    assert verify(db, acme.id, anchoring).ok


def test_legal_hold_touches_nothing_and_is_reported(
    db: Database, superuser: psycopg.Connection, tmp_path: Path, anchoring: Anchoring
) -> None:
    acme = make_tenant(db, "acme").tenant
    make_document(db, acme.id)
    anchor(db, anchoring)
    apply_transition(db, "acme", Transition.DELETE, reason="closing")
    apply_transition(db, "acme", Transition.HOLD, reason="case 9")
    before = (
        entries(superuser, acme.id),
        superuser.execute("SELECT * FROM registry.documents").fetchall(),
    )
    rows = sweeper(db, tmp_path, anchoring).sweep(NOW + timedelta(days=9000), "r1")
    assert {r.outcome for r in rows} == {"blocked_by_hold"}
    after_docs = superuser.execute("SELECT * FROM registry.documents").fetchall()
    assert entries(superuser, acme.id)[:-1] == before[0] and after_docs == before[1]
    assert superuser.execute(
        "SELECT DISTINCT outcome FROM registry.retention_runs WHERE run_id = 'r1'"
    ).fetchall() == [("blocked_by_hold",)]
    assert entries(superuser, acme.id)[-1][0] == before[0][-1][0] + 1
    assert superuser.execute(
        "SELECT action FROM registry.audit_log WHERE tenant_id = %s ORDER BY seq DESC LIMIT 1",
        (acme.id,),
    ).fetchone() == ("retention.sweep.blocked_by_hold",)


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


@pytest.mark.parametrize("kind", KINDS)
def test_warehouse_rows_by_category(db: Database, tmp_path: Path, kind: str) -> None:
    acme = make_tenant(db, "acme").tenant
    globex = make_tenant(db, "globex").tenant  # active: its old rows stay
    apply_transition(db, "acme", Transition.DELETE, reason="closing", now=NOW - timedelta(days=8))
    where = warehouse_at(kind, tmp_path)
    with open_warehouse(where) as conn:
        conn.execute(
            "CREATE TABLE usage_events (tenant_id UUID, metric VARCHAR, occurred_at TIMESTAMP)"
        )
        for tenant in (acme, globex):
            for metric in ("api_call", "agent_execution", "storage_bytes_added"):
                for age in (timedelta(days=7) + SECOND, timedelta(days=7)):
                    conn.execute(
                        "INSERT INTO usage_events VALUES (?, ?, ?)",
                        [str(tenant.id), metric, (NOW - age).replace(tzinfo=None)],
                    )

    def left() -> dict[str, list[tuple[str, int]]]:
        with open_warehouse(where, read_only=True) as conn:
            found = conn.execute(
                "SELECT tenant_id, metric, count(*) FROM usage_events GROUP BY ALL ORDER BY 2"
            ).fetchall()
        slugs = {str(acme.id): "acme", str(globex.id): "globex"}
        out: dict[str, list[tuple[str, int]]] = {}
        for tenant_id, metric, n in found:
            out.setdefault(slugs[str(tenant_id)], []).append((metric, n))
        return out

    before = left()
    planned = sweeper(db, tmp_path, None, warehouse=kind).sweep(NOW, "r0", dry_run=True)
    counts = {
        r.category: r.count
        for r in planned
        if r.target.startswith("warehouse") and r.slug == "acme"
    }
    assert counts == {"logs": 1, "agent_executions": 1}
    assert left() == before, "a dry run deletes nothing"
    rows = sweeper(db, tmp_path, None, warehouse=kind).sweep(NOW, "r1")
    counts = {
        r.category: r.count for r in rows if r.target.startswith("warehouse") and r.slug == "acme"
    }
    assert counts == {"logs": 1, "agent_executions": 1}
    after = left()
    assert after["acme"] == [("agent_execution", 1), ("api_call", 1), ("storage_bytes_added", 2)]
    assert (
        after["globex"]
        == before["globex"]
        == [
            ("agent_execution", 2),
            ("api_call", 2),
            ("storage_bytes_added", 2),
        ]
    )


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


def test_cli_plans_on_the_default_lake_and_sweeps_the_one_given(
    cli_env: RegistryUrls, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENANCY_PROFILE", "local")
    monkeypatch.setenv("TENANCY_RUN_DIR", str(tmp_path))
    now = datetime.now(UTC)
    acme = make_tenant(db, "acme").tenant
    apply_transition(db, "acme", Transition.DELETE, reason="closing", now=now - timedelta(days=9))
    lake = warehouse_at("lake", tmp_path)  # <run dir>/warehouse: the local default
    with open_warehouse(lake) as conn:
        conn.execute(
            "CREATE TABLE usage_events (tenant_id UUID, metric VARCHAR, occurred_at TIMESTAMP)"
        )
        for age in (timedelta(days=8), timedelta(days=1)):
            conn.execute(
                "INSERT INTO usage_events VALUES (?, 'api_call', ?)",
                [str(acme.id), (now - age).replace(tzinfo=None)],
            )

    def logs(args: list[str]) -> int:
        result = CliRunner().invoke(app, ["retention", *args, "--json"])
        assert result.exit_code == 0, result.output
        return sum(
            r["count"]
            for r in json.loads(result.stdout)
            if r["slug"] == "acme"
            and r["category"] == "logs"
            and r["target"].startswith("warehouse")
        )

    def rows() -> int:
        with open_warehouse(lake, read_only=True) as conn:
            found = conn.execute("SELECT count(*) FROM usage_events").fetchone()
        assert found is not None
        return int(found[0])

    assert logs(["plan"]) == 1 and rows() == 2, "the plan counts on the default lake"
    assert logs(["sweep", "--warehouse", str(tmp_path / "warehouse")]) == 1
    assert rows() == 1, "the expired row is gone, the recent one stays"
