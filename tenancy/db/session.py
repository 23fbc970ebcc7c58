"""Pooled connections: tenant-scoped transactions for the request path, and the control plane.

The tenant is bound per transaction with `set_config('app.tenant_id', $1, true)`, so it ends
with the transaction. A connection handed back to the pool gets `DISCARD ALL`: cursors (even
`WITH HOLD`), prepared statements, temporary tables, advisory locks, `LISTEN`s and session
settings all end there, so nothing a borrower left reaches the next one.

Every connection starts with `SESSION_SETTINGS` as startup options. Those outrank the role's
own defaults, which a runtime role can change for itself (`ALTER ROLE tenancy_app SET
statement_timeout = '1ms'`), and `DISCARD ALL` returns to them.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from tenancy.errors import ConfigurationError
from tenancy.validation import parse_tenant_id

Connection = psycopg.Connection[dict[str, object]]

#: Pinned per connection; `app.tenant_id` empty means "no tenant" until a transaction binds one.
SESSION_SETTINGS: Mapping[str, str] = {
    "statement_timeout": "30s",
    "lock_timeout": "10s",
    "idle_in_transaction_session_timeout": "60s",
    "app.tenant_id": "",
}


def reset_session(conn: psycopg.Connection[Any]) -> None:
    """End every piece of session state before the connection goes back to the pool."""
    conn.execute("DISCARD ALL")


def pinned_url(url: str, settings: Mapping[str, str] = SESSION_SETTINGS) -> str:
    """`url` with `settings` added to its startup options (after any options it already has)."""
    given = conninfo_to_dict(url).get("options")
    pinned = " ".join(f"-c {name}={value}" for name, value in settings.items())
    return make_conninfo(url, options=f"{given} {pinned}" if given else pinned)


class Database:
    """The registry as the runtime roles see it: `tenant(id)` and `platform()` transactions."""

    def __init__(
        self, app_url: str, platform_url: str | None = None, *, max_size: int = 10
    ) -> None:
        self._app_url = app_url
        self._platform_url = platform_url
        self._max_size = max_size
        self._pools: dict[str, ConnectionPool[Connection]] = {}
        self._lock = threading.Lock()  # threads that first use one pool at once share it

    def _pool(self, which: str, url: str | None) -> ConnectionPool[Connection]:
        if url is None:
            raise ConfigurationError(
                f"no connection string for the {which} role; set TENANCY_PLATFORM_DATABASE_URL"
            )
        pool = self._pools.get(which)
        if pool is not None:
            return pool
        with self._lock:
            pool = self._pools.get(which)
            if pool is None:
                pool = ConnectionPool(
                    pinned_url(url),
                    min_size=1,
                    max_size=self._max_size,
                    # No driver-side prepared statements: DISCARD ALL drops them on the server,
                    # and psycopg's cache of them would then point at statements that are gone.
                    kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": None},
                    connection_class=psycopg.Connection[dict[str, object]],
                    reset=reset_session,
                    name=f"tenancy-{which}",
                    open=True,
                    timeout=30,
                )
                self._pools[which] = pool
        return pool

    @contextmanager
    def tenant(self, tenant_id: uuid.UUID | str) -> Iterator[Connection]:
        """A transaction in which row-level security shows only `tenant_id`'s rows."""
        tid = parse_tenant_id(tenant_id)
        with self._pool("app", self._app_url).connection() as conn, conn.transaction():
            conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(tid),))
            yield conn

    @contextmanager
    def platform(self) -> Iterator[Connection]:
        """A control-plane transaction: the tenant registry across tenants, no tenant data."""
        with self._pool("platform", self._platform_url).connection() as conn, conn.transaction():
            yield conn

    def close(self) -> None:
        with self._lock:
            for pool in self._pools.values():
                pool.close()
            self._pools.clear()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
