"""Prove that a pool's reset leaves a connection with no session state at all.

Run by the tests and by `tenancy db check` against the reset the pools really use: one
connection is given every kind of state a borrower could leave behind, the reset runs, and
each kind is looked up again in the server's own views.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

#: A tenant id that no real tenant has; set for the session, it must not survive the reset.
PROBE_TENANT = "00000000-0000-4000-8000-00000000a11d"


@dataclass(frozen=True)
class StateKind:
    """One kind of session state: how a borrower creates it, and how many of it remain."""

    name: str
    create: str
    count: str


STATE_KINDS = (
    StateKind(
        "cursor WITH HOLD",
        "DECLARE tenancy_probe CURSOR WITH HOLD FOR SELECT 1",
        "SELECT count(*) FROM pg_cursors",
    ),
    StateKind(
        "prepared statement",
        "PREPARE tenancy_probe AS SELECT 1",
        "SELECT count(*) FROM pg_prepared_statements",
    ),
    StateKind(
        "temporary table",
        "CREATE TEMPORARY TABLE tenancy_probe (x int)",
        "SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()",
    ),
    StateKind(
        "advisory lock",
        "SELECT pg_advisory_lock(7262), pg_advisory_lock_shared(7263)",
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
    ),
    StateKind(
        "LISTEN",
        "LISTEN tenancy_probe",
        "SELECT count(*) FROM pg_listening_channels()",
    ),
    StateKind(
        "session setting app.tenant_id",
        f"SELECT set_config('app.tenant_id', '{PROBE_TENANT}', false)",
        "SELECT count(*) WHERE coalesce(current_setting('app.tenant_id', true), '') <> ''",
    ),
    StateKind(
        "session setting statement_timeout",
        "SET statement_timeout = 1234567",
        "SELECT count(*) WHERE current_setting('statement_timeout') = '1234567ms'",
    ),
)


def _count(conn: psycopg.Connection[Any], query: str) -> int:
    row = conn.execute(query).fetchone()
    assert row is not None
    value = row["count"] if isinstance(row, dict) else row[0]
    return int(value)


def session_state_problems(url: str, reset: Callable[[psycopg.Connection[Any]], None]) -> list[str]:
    """One line per kind of state that `reset` leaves on a connection to `url`.

    `url` needs a role that may create every kind (temporary tables need TEMP on the
    database; the migration owner has it, the runtime roles do not).
    """
    problems: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for kind in STATE_KINDS:
            try:
                conn.execute(kind.create)
            except psycopg.Error as exc:
                problems.append(f"session state {kind.name}: could not create it to probe ({exc})")
                continue
            if _count(conn, kind.count) == 0:
                problems.append(f"session state {kind.name}: created but not visible to the probe")
        reset(conn)
        for kind in STATE_KINDS:
            left = _count(conn, kind.count)
            if left:
                problems.append(
                    f"pool reset leaves {kind.name} on the connection ({left} left); "
                    "expected no session state for the next borrower"
                )
    return problems
