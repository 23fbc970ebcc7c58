"""The audit trail is append-only for the runtime roles and tamper-evident for everyone else."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from psycopg import errors as pg_errors
from psycopg.rows import dict_row

from tenancy import audit
from tenancy.audit_hash import EntryFields, entry_hash
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
    (broken,) = audit.verify(db).broken
    assert (broken.tenant_id, broken.seq) == (str(tenant), 3)
    assert "altered" in broken.reason


def test_superuser_delete_is_detected(
    db: Database, tenant: uuid.UUID, superuser: psycopg.Connection
) -> None:
    superuser.execute("DELETE FROM registry.audit_log WHERE tenant_id = %s AND seq = 2", (tenant,))
    (broken,) = audit.verify(db).broken
    assert broken.seq == 3
    assert broken.reason == "sequence jumps from 1 to 3: entries are missing"


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
            "now(), '\\xdeadbeef', registry.audit_entry_hash_v2(%s, 3, 'user:1', 'agent.start', "
            "'agent:x', '{}', now(), '\\xdeadbeef')",
            (tenant, tenant),
        )
    finally:
        superuser.execute("ALTER TABLE registry.audit_log ENABLE TRIGGER audit_chain")
    (broken,) = audit.verify(db).broken
    assert broken.seq == 3
    assert "forged" in broken.reason


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


def test_cli_reports_every_tenant(
    db: Database,
    tenant: uuid.UUID,
    superuser: psycopg.Connection,
    cli_env: object,
    anchor_env: object,
) -> None:
    from typer.testing import CliRunner

    from tenancy.cli.main import app

    other = make_tenant(db, "bystander").tenant.id
    ok = CliRunner().invoke(app, ["audit", "verify", "--json"])
    assert ok.exit_code == 0 and '"ok": true' in ok.output
    superuser.execute(
        "UPDATE registry.audit_log SET actor = 'someone else' WHERE tenant_id = %s AND seq = 4",
        (tenant,),
    )
    broken = CliRunner().invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert f"tenant {tenant}: broken at seq 4: hash does not match" in broken.output
    assert f"tenant {other}: intact (1 entries), no anchor yet" in broken.output
    assert "audit trail BROKEN in 1 tenant(s): 6 entries across 2 tenant(s)" in broken.output


def _fields(row: dict[str, object]) -> EntryFields:
    return EntryFields(
        str(row["tenant_id"]),
        int(str(row["seq"])),
        str(row["actor"]),
        str(row["action"]),
        str(row["target"]),
        str(row["details"]),
        row["created_at"],  # type: ignore[arg-type]
        bytes(row["prev_hash"]),  # type: ignore[arg-type]
    )


SHIFT = (
    "UPDATE registry.audit_log SET action = 'role.grant' || chr(31) || 'viewer', "
    "target = 'user:mallory' WHERE tenant_id = %s AND seq = %s"
)


def test_moving_the_separator_between_fields_is_detected(
    db: Database, tenant: uuid.UUID, superuser: psycopg.Connection
) -> None:
    with db.tenant(tenant) as conn:
        seq = audit.record(conn, tenant, "user:admin", "role.grant", "viewer\x1fuser:mallory")
    read = (
        "SELECT tenant_id::text AS tenant_id, seq, actor, action, target, details::text AS details,"
        " created_at, prev_hash FROM registry.audit_log WHERE tenant_id = %s AND seq = %s"
    )
    superuser.row_factory = dict_row  # type: ignore[assignment]
    before = _fields(superuser.execute(read, (tenant, seq)).fetchone())  # type: ignore[arg-type]
    superuser.execute(SHIFT, (tenant, seq))
    after = _fields(superuser.execute(read, (tenant, seq)).fetchone())  # type: ignore[arg-type]
    # The attack is real: under the v1 encoding both entries hash alike.
    assert entry_hash(before, 1) == entry_hash(after, 1)
    assert entry_hash(before, 2) != entry_hash(after, 2)
    (broken,) = audit.verify(db).broken
    assert (broken.seq, broken.reason) == (
        seq,
        "hash does not match the entry's contents: the entry was altered",
    )


def _legacy_chain(superuser: psycopg.Connection, tenant: uuid.UUID, targets: list[str]) -> None:
    """Replace the tenant's chain by entries as migration 0001 wrote them (hash v1)."""
    superuser.execute("ALTER TABLE registry.audit_log DISABLE TRIGGER audit_chain")
    try:
        superuser.execute("DELETE FROM registry.audit_log WHERE tenant_id = %s", (tenant,))
        for seq, target in enumerate(targets, 1):
            superuser.execute(
                "INSERT INTO registry.audit_log (tenant_id, seq, actor, action, target, details, "
                "created_at, prev_hash, hash, hash_version) "
                "SELECT %(t)s, %(s)s, 'user:admin', 'role.grant', %(x)s, '{}', now(), p, "
                "registry.audit_entry_hash(%(t)s, %(s)s, 'user:admin', 'role.grant', %(x)s, "
                "'{}', now(), p), 1 FROM (SELECT coalesce((SELECT hash FROM registry.audit_log "
                "WHERE tenant_id = %(t)s AND seq = %(s)s - 1), '\\x'::bytea) AS p) prev",
                {"t": tenant, "s": seq, "x": target},
            )
    finally:
        superuser.execute("ALTER TABLE registry.audit_log ENABLE TRIGGER audit_chain")


def test_legacy_v1_chain_verifies_and_continues_in_v2(
    db: Database, tenant: uuid.UUID, superuser: psycopg.Connection
) -> None:
    _legacy_chain(superuser, tenant, ["viewer", "user:mallory"])
    assert audit.verify(db).ok
    with db.tenant(tenant) as conn:
        assert audit.record(conn, tenant, "user:admin", "role.revoke", "user:mallory") == 3
    versions = superuser.execute(
        "SELECT hash_version FROM registry.audit_log WHERE tenant_id = %s ORDER BY seq", (tenant,)
    ).fetchall()
    assert versions == [(1,), (1,), (2,)]
    assert audit.verify(db).ok


def test_separator_shift_in_a_legacy_v1_entry_is_detected(
    db: Database, tenant: uuid.UUID, superuser: psycopg.Connection
) -> None:
    _legacy_chain(superuser, tenant, ["viewer\x1fuser:mallory"])
    superuser.execute(SHIFT, (tenant, 1))  # every v1 hash still matches
    (broken,) = audit.verify(db).broken
    assert (broken.seq, broken.reason) == (
        1,
        "action contains U+001F, the v1 encoding's separator: the fields cannot be told apart, "
        "so the entry may have been altered",
    )


def test_downgrading_an_entry_to_v1_is_detected(
    db: Database, tenant: uuid.UUID, superuser: psycopg.Connection
) -> None:
    superuser.execute(
        "UPDATE registry.audit_log SET hash_version = 1, hash = registry.audit_entry_hash("
        "tenant_id, seq, actor, action, target, details, created_at, prev_hash) "
        "WHERE tenant_id = %s AND seq = 5",
        (tenant,),
    )
    (broken,) = audit.verify(db).broken
    assert broken.seq == 5 and "downgraded" in broken.reason


def test_database_and_verifier_agree_on_any_text(db: Database, tenant: uuid.UUID) -> None:
    # Octet lengths, not character counts: multi-byte text and the old separator included.
    with db.tenant(tenant) as conn:
        audit.record(conn, tenant, "zoë 🎉", "rôle.grant\x1f", "", {"note": "a\x1fb", "é": [1]})
    report = audit.verify(db)
    assert report.ok, report.broken
