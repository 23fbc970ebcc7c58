"""Pooled connections: tenant-scoped transactions for the request path, and the control plane.

The tenant is bound per transaction with `set_config('app.tenant_id', $1, true)`, so it ends
with the transaction; a connection handed back to the pool also gets `RESET ALL`, so even a
session-level setting made by mistake never reaches the next borrower.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from tenancy.errors import ConfigurationError
from tenancy.validation import parse_tenant_id

Connection = psycopg.Connection[dict[str, object]]


def _reset(conn: psycopg.Connection[object]) -> None:
    conn.execute("RESET ALL")


class Database:
    """The registry as the runtime roles see it: `tenant(id)` and `platform()` transactions."""

    def __init__(
        self, app_url: str, platform_url: str | None = None, *, max_size: int = 10
    ) -> None:
        self._app_url = app_url
        self._platform_url = platform_url
        self._max_size = max_size
        self._pools: dict[str, ConnectionPool[Connection]] = {}

    def _pool(self, which: str, url: str | None) -> ConnectionPool[Connection]:
        if url is None:
            raise ConfigurationError(
                f"no connection string for the {which} role; set TENANCY_PLATFORM_DATABASE_URL"
            )
        pool = self._pools.get(which)
        if pool is None:
            pool = ConnectionPool(
                url,
                min_size=1,
                max_size=self._max_size,
                kwargs={"autocommit": True, "row_factory": dict_row},
                connection_class=psycopg.Connection[dict[str, object]],
                reset=_reset,
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
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
