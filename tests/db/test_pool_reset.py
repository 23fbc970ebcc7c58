"""A pooled connection comes back with no session state: attacks by one borrower on the next.

Each attack runs through a one-connection pool, so tenant B's transaction is on the very
connection tenant A just used (the test checks the backend pid).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors

import tenancy.db.session as session_module
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import SESSION_SETTINGS, Connection, Database, reset_session
from tenancy.db.session_audit import STATE_KINDS, session_state_problems
from tests.db.factories import make_document, make_tenant


@pytest.fixture
def one_connection(registry: RegistryUrls) -> Iterator[Database]:
    database = Database(registry.app, registry.platform, max_size=1)
    yield database
    database.close()


@pytest.fixture
def tenants(db: Database) -> tuple[uuid.UUID, uuid.UUID]:
    a = make_tenant(db, "alpha").tenant.id
    b = make_tenant(db, "bravo").tenant.id
    make_document(db, a, "secret-of-a.pdf")
    return a, b


def handover(
    database: Database,
    tenants: tuple[uuid.UUID, uuid.UUID],
    leave: Callable[[Connection], object],
    probe: Callable[[Connection], object],
) -> None:
    """A leaves state behind in its transaction; B runs `probe` on the same connection."""
    a, b = tenants
    with database.tenant(a) as conn:
        leave(conn)
        pid = conn.info.backend_pid
    with database.tenant(b) as conn:
        assert conn.info.backend_pid == pid, "the attack must reuse A's connection"
        probe(conn)


def test_cursor_with_hold_does_not_reach_the_next_tenant(
    one_connection: Database, tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    def leave(conn: Connection) -> None:
        conn.execute("DECLARE c CURSOR WITH HOLD FOR SELECT name FROM registry.documents")

    def probe(conn: Connection) -> None:
        with pytest.raises(pg_errors.InvalidCursorName, match='cursor "c" does not exist'):
            conn.execute("FETCH ALL FROM c")

    handover(one_connection, tenants, leave, probe)


def test_prepared_statement_does_not_reach_the_next_tenant(
    one_connection: Database, tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    def leave(conn: Connection) -> None:
        conn.execute("PREPARE leak AS SELECT name FROM registry.documents")

    def probe(conn: Connection) -> None:
        with pytest.raises(pg_errors.InvalidSqlStatementName, match='"leak" does not exist'):
            conn.execute("EXECUTE leak")

    handover(one_connection, tenants, leave, probe)


def test_advisory_lock_is_released(
    one_connection: Database, tenants: tuple[uuid.UUID, uuid.UUID], registry: RegistryUrls
) -> None:
    def leave(conn: Connection) -> None:
        conn.execute("SELECT pg_advisory_lock(42)")

    def probe(conn: Connection) -> None:
        held = conn.execute(
            "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' "
            "AND pid = pg_backend_pid()"
        ).fetchone()
        assert held == {"n": 0}

    handover(one_connection, tenants, leave, probe)
    with psycopg.connect(registry.app) as other:
        assert other.execute("SELECT pg_try_advisory_lock(42)").fetchone() == (True,)


def test_listen_ends_with_the_borrower(
    one_connection: Database, tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    def leave(conn: Connection) -> None:
        conn.execute("LISTEN tenant_a_events")

    def probe(conn: Connection) -> None:
        channels = conn.execute("SELECT pg_listening_channels() AS c").fetchall()
        assert channels == []

    handover(one_connection, tenants, leave, probe)


def test_session_settings_are_reset(
    one_connection: Database, tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    a, _ = tenants

    def leave(conn: Connection) -> None:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(a),))
        conn.execute("SET statement_timeout = '1ms'")

    def probe(conn: Connection) -> None:
        row = conn.execute("SELECT current_setting('statement_timeout') AS t").fetchone()
        assert row == {"t": SESSION_SETTINGS["statement_timeout"]}
        assert conn.execute("SELECT count(*) AS n FROM registry.documents").fetchone() == {"n": 0}

    handover(one_connection, tenants, leave, probe)


def test_runtime_role_cannot_create_temporary_tables(
    db: Database, tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    with (
        pytest.raises(pg_errors.InsufficientPrivilege, match="temporary tables"),
        db.tenant(tenants[0]) as conn,
    ):
        conn.execute("CREATE TEMPORARY TABLE stash AS SELECT * FROM registry.documents")


def test_pool_reset_leaves_no_session_state(registry: RegistryUrls) -> None:
    # As the owner, who may create every kind (temporary tables included).
    assert session_state_problems(registry.owner, reset_session) == []


def test_a_reset_that_keeps_state_is_reported(registry: RegistryUrls) -> None:
    def reset_all(conn: psycopg.Connection[Any]) -> None:
        conn.execute("RESET ALL")

    problems = session_state_problems(registry.owner, reset_all)
    left = {kind.name for kind in STATE_KINDS if not kind.name.startswith("session setting")}
    assert problems == [
        f"pool reset leaves {kind.name} on the connection ({n} left); "
        "expected no session state for the next borrower"
        for kind, n in zip(STATE_KINDS, (1, 1, 1, 2, 1), strict=False)
        if kind.name in left
    ]


def test_role_defaults_set_by_the_runtime_role_do_not_reach_the_pool(
    registry: RegistryUrls, superuser: psycopg.Connection, tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    with psycopg.connect(registry.app, autocommit=True) as raw:
        raw.execute("ALTER ROLE tenancy_app SET statement_timeout = '1ms'")
        raw.execute(
            f"ALTER ROLE tenancy_app IN DATABASE {raw.info.dbname} SET lock_timeout = '1ms'"
        )
    try:
        with Database(registry.app, registry.platform, max_size=1) as database:
            with database.tenant(tenants[0]) as conn:
                row = conn.execute(
                    "SELECT current_setting('statement_timeout') AS s, "
                    "current_setting('lock_timeout') AS l"
                ).fetchone()
            assert row == {
                "s": SESSION_SETTINGS["statement_timeout"],
                "l": SESSION_SETTINGS["lock_timeout"],
            }
    finally:
        superuser.execute("ALTER ROLE tenancy_app RESET ALL")
        superuser.execute(f"ALTER ROLE tenancy_app IN DATABASE {superuser.info.dbname} RESET ALL")


def test_threads_first_using_one_database_share_one_pool(
    registry: RegistryUrls,
    tenants: tuple[uuid.UUID, uuid.UUID],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created: list[object] = []
    real_pool = session_module.ConnectionPool

    def slow_pool(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)  # widens the window in which a second thread could build its own pool
        pool = real_pool(*args, **kwargs)
        created.append(pool)
        return pool

    monkeypatch.setattr(session_module, "ConnectionPool", slow_pool)
    database = Database(registry.app, registry.platform, max_size=2)
    start = threading.Barrier(6)

    def borrow() -> None:
        start.wait()
        with database.tenant(tenants[0]) as conn:
            conn.execute("SELECT 1")

    threads = [threading.Thread(target=borrow) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    database.close()
    assert len(created) == 1, f"{len(created)} pools for one role"
    assert all(pool.closed for pool in created), "close() must close every pool it opened"  # type: ignore[attr-defined]
