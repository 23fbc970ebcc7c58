"""Attacks that try to learn about another tenant without reading its rows directly:
reading members' e-mail from the global users table, and probing ids through the errors that
a colliding insert or update raises."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import errors as pg_errors

from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.registry import add_member
from tests.db.factories import make_agent, make_document, make_tenant


@pytest.fixture
def a(db: Database) -> uuid.UUID:
    return make_tenant(db, "alpha").tenant.id


@pytest.fixture
def b(db: Database) -> uuid.UUID:
    tid = make_tenant(db, "bravo").tenant.id
    add_member(db, tid, "shared@example.com")
    return tid


def emails(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute("SELECT email FROM registry.users ORDER BY email").fetchall()
    return [str(r["email"] if isinstance(r, dict) else r[0]) for r in rows]


def test_request_path_reads_only_its_own_members(db: Database, a: uuid.UUID, b: uuid.UUID) -> None:
    add_member(db, a, "shared@example.com")
    with db.tenant(a) as conn:
        assert emails(conn) == ["owner@alpha.example.com", "shared@example.com"]
    with db.tenant(b) as conn:
        assert emails(conn) == ["owner@bravo.example.com", "shared@example.com"]
    with db.platform() as conn:  # the control plane manages identities across tenants
        assert len(emails(conn)) == 3


def test_no_tenant_set_reads_no_user(registry: RegistryUrls, a: uuid.UUID, b: uuid.UUID) -> None:
    with psycopg.connect(registry.app) as conn:
        assert emails(conn) == []


def test_request_path_cannot_probe_emails_by_creating_users(
    db: Database, a: uuid.UUID, b: uuid.UUID
) -> None:
    # With INSERT, a unique violation would say "this address is someone's, somewhere".
    for address in ("owner@bravo.example.com", "nobody@example.com"):
        with (
            pytest.raises(
                pg_errors.InsufficientPrivilege, match="permission denied for table users"
            ),
            db.tenant(a) as conn,
        ):
            conn.execute("INSERT INTO registry.users (email) VALUES (%s)", (address,))


def _error(db: Database, tenant: uuid.UUID, statement: str, params: tuple[object, ...]) -> str:
    with pytest.raises(psycopg.Error) as caught, db.tenant(tenant) as conn:
        conn.execute(statement, params)
    return f"{type(caught.value).__name__}: {caught.value}"


PROBES = {
    "agents": (
        "INSERT INTO registry.agents (id, tenant_id, name) VALUES (%s, %s, 'probe')",
        "UPDATE registry.agents SET id = %s WHERE tenant_id = %s",
    ),
    "documents": (
        "INSERT INTO registry.documents (id, tenant_id, name, object_key, size_bytes) "
        "VALUES (%s, %s, 'probe', 'probe', 1)",
        "UPDATE registry.documents SET id = %s WHERE tenant_id = %s",
    ),
}


@pytest.mark.parametrize("table", list(PROBES))
def test_other_tenants_ids_cannot_be_probed(
    db: Database, a: uuid.UUID, b: uuid.UUID, table: str
) -> None:
    make_agent(db, a)
    make_document(db, a)
    theirs = make_agent(db, b).id if table == "agents" else make_document(db, b)
    for statement in PROBES[table]:
        existing = _error(db, a, statement, (theirs, a))
        random = _error(db, a, statement, (uuid.uuid4(), a))
        assert existing == random, f"{table}: the error tells B's id from a random one"
        assert "permission denied" in existing


def test_other_tenants_users_cannot_be_probed_through_memberships(
    db: Database, a: uuid.UUID, b: uuid.UUID
) -> None:
    with db.platform() as conn:
        row = conn.execute(
            "SELECT user_id FROM registry.user_tenants WHERE tenant_id = %s", (b,)
        ).fetchone()
    assert row is not None
    insert = "INSERT INTO registry.user_tenants (tenant_id, user_id, role) VALUES (%s, %s, 'admin')"
    existing = _error(db, a, insert, (a, row["user_id"]))
    random = _error(db, a, insert, (a, uuid.uuid4()))
    assert existing == random
    assert "permission denied for table user_tenants" in existing


def test_request_path_still_creates_and_edits_its_rows(db: Database, a: uuid.UUID) -> None:
    agent = make_agent(db, a)
    with db.tenant(a) as conn:
        conn.execute("UPDATE registry.agents SET name = 'renamed', status = 'running'")
        conn.execute("UPDATE registry.user_tenants SET last_active = now()")
        row = conn.execute("SELECT id, name FROM registry.agents").fetchone()
    assert row == {"id": agent.id, "name": "renamed"}
