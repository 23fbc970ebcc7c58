"""Row-level security as an attacker sees it: the runtime role, set to tenant A, goes after B.

Each tenant-scoped table is attacked the same four ways: read, update, delete, and writing a
row (or moving one) into the other tenant.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import errors as pg_errors

from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tests.db.factories import make_agent, make_document, make_tenant


@dataclass
class Pair:
    a: uuid.UUID
    b: uuid.UUID


@pytest.fixture
def pair(db: Database) -> Pair:
    a = make_tenant(db, "alpha").tenant.id
    b = make_tenant(db, "bravo").tenant.id
    for tid in (a, b):
        make_agent(db, tid)
        make_document(db, tid)
        with db.tenant(tid) as conn:
            conn.execute(
                "INSERT INTO registry.audit_log (tenant_id, actor, action) VALUES (%s, 'test', 'x')",
                (tid,),
            )
    return Pair(a, b)


# table -> (tenant column, a column that UPDATE may set, an INSERT for tenant %s)
TABLES = {
    "registry.agents": (
        "tenant_id",
        "name",
        "INSERT INTO registry.agents (tenant_id, name) VALUES (%s, 'evil')",
    ),
    "registry.documents": (
        "tenant_id",
        "name",
        "INSERT INTO registry.documents (tenant_id, name, object_key, size_bytes) VALUES (%s, 'e', 'e', 1)",
    ),
    "registry.user_tenants": (
        "tenant_id",
        "role",
        "INSERT INTO registry.user_tenants (tenant_id, user_id, role) "
        "SELECT %s, id, 'admin' FROM registry.users LIMIT 1",
    ),
    "registry.audit_log": (
        "tenant_id",
        None,
        "INSERT INTO registry.audit_log (tenant_id, actor, action) VALUES (%s, 'evil', 'forge')",
    ),
    "registry.tenants": ("id", "name", None),
}


def count(conn: psycopg.Connection, table: str, column: str, tenant: uuid.UUID) -> int:
    row = conn.execute(
        f"SELECT count(*) AS n FROM {table} WHERE {column} = %s", (tenant,)
    ).fetchone()
    assert row is not None
    return int(row["n"] if isinstance(row, dict) else row[0])


@pytest.mark.parametrize("table", list(TABLES))
def test_other_tenants_rows_are_invisible(db: Database, pair: Pair, table: str) -> None:
    column = TABLES[table][0]
    with db.tenant(pair.a) as conn:
        assert count(conn, table, column, pair.a) >= 1, f"{table}: own rows must be visible"
        assert count(conn, table, column, pair.b) == 0, f"{table}: tenant B's rows leaked to A"
        total = conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()
        assert total is not None and total["n"] == count(conn, table, column, pair.a)


@pytest.mark.parametrize("table", [t for t, spec in TABLES.items() if spec[1]])
def test_update_and_delete_cannot_touch_other_tenant(
    db: Database, pair: Pair, table: str, superuser: psycopg.Connection
) -> None:
    column, settable, _ = TABLES[table]
    before = superuser.execute(
        f"SELECT * FROM {table} WHERE {column} = %s ORDER BY 1", (pair.b,)
    ).fetchall()
    with db.tenant(pair.a) as conn:
        updated = conn.execute(
            f"UPDATE {table} SET {settable} = {settable} WHERE {column} = %s", (pair.b,)
        )
        assert updated.rowcount == 0, f"{table}: UPDATE reached tenant B"
    if table != "registry.tenants":  # the runtime role has no DELETE on tenants at all
        with db.tenant(pair.a) as conn:
            deleted = conn.execute(f"DELETE FROM {table} WHERE {column} = %s", (pair.b,))
            assert deleted.rowcount == 0, f"{table}: DELETE reached tenant B"
    after = superuser.execute(
        f"SELECT * FROM {table} WHERE {column} = %s ORDER BY 1", (pair.b,)
    ).fetchall()
    assert after == before, f"{table}: tenant B's rows changed"


# Memberships are added by the control plane only, and no runtime UPDATE names tenant_id.
REFUSED = "row-level security|permission denied for table"


@pytest.mark.parametrize("table", [t for t, spec in TABLES.items() if spec[2]])
def test_insert_for_other_tenant_is_refused(db: Database, pair: Pair, table: str) -> None:
    insert = TABLES[table][2]
    assert insert is not None
    with (
        pytest.raises(pg_errors.InsufficientPrivilege, match=REFUSED),
        db.tenant(pair.a) as conn,
    ):
        conn.execute(insert, (pair.b,))


@pytest.mark.parametrize(
    "table", [t for t, spec in TABLES.items() if spec[1] and spec[0] == "tenant_id"]
)
def test_moving_a_row_to_other_tenant_is_refused(db: Database, pair: Pair, table: str) -> None:
    with (
        pytest.raises(pg_errors.InsufficientPrivilege, match=REFUSED),
        db.tenant(pair.a) as conn,
    ):
        conn.execute(f"UPDATE {table} SET tenant_id = %s", (pair.b,))


def test_runtime_role_cannot_switch_tenant_row_id(db: Database, pair: Pair) -> None:
    with pytest.raises(pg_errors.InsufficientPrivilege), db.tenant(pair.a) as conn:
        conn.execute("UPDATE registry.tenants SET id = %s", (pair.b,))


@pytest.mark.parametrize("table", list(TABLES))
def test_fresh_connection_without_tenant_sees_nothing(
    registry: RegistryUrls, pair: Pair, table: str
) -> None:
    with psycopg.connect(registry.app) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row == (0,), f"{table}: rows visible with no tenant set"


def test_pooled_connection_carries_no_tenant_to_next_transaction(
    pair: Pair, registry: RegistryUrls
) -> None:
    database = Database(registry.app, registry.platform, max_size=1)  # one connection, reused
    try:
        with database.tenant(pair.a) as conn:
            assert conn.execute("SELECT count(*) AS n FROM registry.agents").fetchone() == {"n": 1}
            backend = conn.info.backend_pid
        pool = database._pool("app", registry.app)
        with pool.connection() as conn:
            assert conn.info.backend_pid == backend, "the test must reuse the same connection"
            assert conn.execute("SELECT count(*) AS n FROM registry.agents").fetchone() == {"n": 0}
            setting = conn.execute("SELECT current_setting('app.tenant_id', true) AS t").fetchone()
            assert setting is not None and setting["t"] in ("", None)
    finally:
        database.close()


def test_session_level_setting_is_reset_when_connection_returns(
    pair: Pair, registry: RegistryUrls
) -> None:
    database = Database(registry.app, registry.platform, max_size=1)
    try:
        pool = database._pool("app", registry.app)
        with pool.connection() as conn:  # a careless caller sets the tenant for the session
            conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(pair.a),))
        with pool.connection() as conn:
            assert conn.execute("SELECT count(*) AS n FROM registry.agents").fetchone() == {"n": 0}
    finally:
        database.close()


def test_platform_role_cannot_read_tenant_data(db: Database, pair: Pair) -> None:
    with db.platform() as conn:
        assert conn.execute("SELECT count(*) AS n FROM registry.tenants").fetchone() == {"n": 2}
        # It may count a tenant's agents (for quotas), never read them.
        assert conn.execute("SELECT count(id) AS n FROM registry.agents").fetchone() == {"n": 2}
    for query in (
        "SELECT name FROM registry.agents",
        "SELECT * FROM registry.agents",
        "SELECT count(*) FROM registry.documents",
        "UPDATE registry.agents SET tenant_id = tenant_id",
    ):
        with (
            pytest.raises(pg_errors.InsufficientPrivilege, match="permission denied"),
            db.platform() as conn,
        ):
            conn.execute(query)


def test_resource_counts_per_tenant(db: Database, pair: Pair) -> None:
    from tenancy.registry import resource_counts

    make_agent(db, pair.a)
    counts = resource_counts(db)
    assert (counts[pair.a].users, counts[pair.a].agents) == (1, 2)
    assert (counts[pair.b].users, counts[pair.b].agents) == (1, 1)


@pytest.mark.parametrize(
    "bad",
    [
        "not-a-uuid",
        "' OR 1=1 --",
        "00000000-0000-0000-0000-000000000000' OR '1'='1",
        "{12345678-1234-1234-1234-123456789abc}",
        "",
        None,
        42,
    ],
)
def test_malformed_tenant_id_never_reaches_sql(db: Database, bad: object) -> None:
    with pytest.raises(ValueError, match=r"tenant id is .*; expected a UUID"), db.tenant(bad):  # type: ignore[arg-type]
        pass
