"""The audit trail is append-only for the runtime roles and tamper-evident for everyone else."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from psycopg import errors as pg_errors

from tenancy import audit
from tenancy.db.session import Database
from tests.db.factories import make_tenant


@pytest.fixture
def tenant(db: Database) -> uuid.UUID:
    tid = make_tenant(db, "auditee").tenant.id
    with db.tenant(tid) as conn:
        for n in range(4):
            audit.record(conn, tid, "user:1", "agent.start", f"agent:{n}", {"n": n})
    return tid


def test_intact_chain_verifies(db: Database, tenant: uuid.UUID) -> None:
    report = audit.verify(db)
    assert report.ok and report.entries == 5 and report.tenants == 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE registry.audit_log SET action = 'nothing happened'",
        "DELETE FROM registry.audit_log",
        "TRUNCATE registry.audit_log",
    ],
)
def test_runtime_roles_cannot_rewrite_history(
    db: Database, tenant: uuid.UUID, statement: str
) -> None:
    with pytest.raises(pg_errors.InsufficientPrivilege), db.tenant(tenant) as conn:
        conn.execute(statement)
    with pytest.raises(pg_errors.InsufficientPrivilege), db.platform() as conn:
        conn.execute(statement)


def test_caller_cannot_choose_sequence_time_or_hash(db: Database, tenant: uuid.UUID) -> None:
    with db.tenant(tenant) as conn:
        row = conn.execute(
            "INSERT INTO registry.audit_log (tenant_id, seq, actor, action, created_at, prev_hash, hash) "
            "VALUES (%s, 1, 'x', 'backdated', '2000-01-01', '\\x00', '\\x00') RETURNING seq, created_at",
            (tenant,),
        ).fetchone()
    assert row is not None and row["seq"] == 6
    assert row["created_at"].year >= 2026  # type: ignore[union-attr]
    assert audit.verify(db).ok


def test_superuser_edit_is_detected(
    db: Database, tenant: uuid.UUID, superuser: psycopg.Connection
) -> None:
    superuser.execute(
        "UPDATE registry.audit_log SET details = '{\"n\": 99}' WHERE tenant_id = %s AND seq = 3",
        (tenant,),
    )
    report = audit.verify(db)
    assert report.broken is not None
    assert (report.broken.tenant_id, report.broken.seq) == (str(tenant), 3)
    assert "altered" in report.broken.reason


def test_superuser_delete_is_detected(
    db: Database, tenant: uuid.UUID, superuser: psycopg.Connection
) -> None:
    superuser.execute("DELETE FROM registry.audit_log WHERE tenant_id = %s AND seq = 2", (tenant,))
    report = audit.verify(db)
    assert report.broken is not None and report.broken.seq == 3
    assert report.broken.reason == "sequence jumps from 1 to 3: entries are missing"


def test_forged_row_with_recomputed_hash_is_detected(
    db: Database, tenant: uuid.UUID, superuser: psycopg.Connection
) -> None:
    # The forger disables the trigger and writes a self-consistent row in the middle of the chain.
    superuser.execute("ALTER TABLE registry.audit_log DISABLE TRIGGER audit_chain")
    try:
        superuser.execute(
            "DELETE FROM registry.audit_log WHERE tenant_id = %s AND seq = 3", (tenant,)
        )
        superuser.execute(
            "INSERT INTO registry.audit_log (tenant_id, seq, actor, action, target, details, "
            "created_at, prev_hash, hash) SELECT %s, 3, 'user:1', 'agent.start', 'agent:x', '{}', "
            "now(), '\\xdeadbeef', registry.audit_entry_hash(%s, 3, 'user:1', 'agent.start', "
            "'agent:x', '{}', now(), '\\xdeadbeef')",
            (tenant, tenant),
        )
    finally:
        superuser.execute("ALTER TABLE registry.audit_log ENABLE TRIGGER audit_chain")
    report = audit.verify(db)
    assert report.broken is not None and report.broken.seq == 3
    assert "forged" in report.broken.reason


def test_concurrent_appends_never_fork_the_chain(db: Database, tenant: uuid.UUID) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                with db.tenant(tenant) as conn:
                    audit.record(conn, tenant, f"worker:{n}", "tick", str(i))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = audit.verify(db, tenant)
    assert report.ok, report.broken
    assert report.entries == 5 + 4 * 15


def test_cli_reports_first_broken_row(
    db: Database, tenant: uuid.UUID, superuser: psycopg.Connection, cli_env: object
) -> None:
    from typer.testing import CliRunner

    from tenancy.cli.main import app

    ok = CliRunner().invoke(app, ["audit", "verify", "--json"])
    assert ok.exit_code == 0 and '"ok": true' in ok.output
    superuser.execute("UPDATE registry.audit_log SET actor = 'someone else' WHERE seq = 4")
    broken = CliRunner().invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert f"audit trail broken at tenant {tenant} seq 4" in broken.output
