"""Writes that several processes may make at once: one transaction per partition write, the
fences that make two writers of one partition (or one claim scope) conflict on a DuckLake,
which has no unique keys, and the retry of a commit that lost."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import duckdb

T = TypeVar("T")


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT, or ROLLBACK on any exception (a partition write is all or nothing).
    A commit that lost against a concurrent writer raises `WriteConflict` (nothing written)."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except duckdb.TransactionException as exc:
        if "conflict" in str(exc).lower():
            raise WriteConflict(str(exc)) from exc
        raise


class WriteConflict(duckdb.TransactionException):
    """Another writer committed a change this transaction's changes conflict with (DuckLake's
    optimistic concurrency); the transaction was rolled back and may be run again."""


#: Fences are spread over this many one-row tables: DuckLake tells conflicting writes apart by
#: table (and data file), so writers of different partitions rarely touch the same fence.
FENCE_TABLES = 32
FENCE_SCHEMA = "\n".join(
    f"CREATE TABLE IF NOT EXISTS write_fence_{n:02d} (generation BIGINT NOT NULL);"
    for n in range(FENCE_TABLES)
)


def fence_table(name: str | int) -> int:
    """The fence table that stands for `name`: a name is hashed over the tables; a number is a
    slot chosen by the caller (the usage shards take slot `shard mod FENCE_TABLES`, so up to
    FENCE_TABLES shards never share a table and never conflict with one another)."""
    if isinstance(name, int):
        return name % FENCE_TABLES
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % FENCE_TABLES


def fence(conn: duckdb.DuckDBPyConnection, name: str | int) -> None:
    """Make this transaction conflict with any concurrent one that fences the same `name`
    (caller holds the transaction): both rewrite the same fence row, and DuckLake lets only
    the first commit. This is what a unique key would do in a database that had one: a delete
    of rows that do not exist yet conflicts with nothing, so two first writes of a partition,
    or two claims of one event, would otherwise both commit."""
    hold(conn, [name])


def hold(conn: duckdb.DuckDBPyConnection, names: Iterable[str | int]) -> int:
    """Fence every one of `names` (caller holds the transaction) with one UPDATE per distinct
    fence table, in table order: each UPDATE on a lake writes files, so names that share a
    table cost one. Returns how many UPDATEs ran."""
    tables = sorted({fence_table(name) for name in names})
    for table in tables:
        conn.execute(f"UPDATE write_fence_{table:02d} SET generation = generation + 1")
    return len(tables)


def bump_all(conn: duckdb.DuckDBPyConnection) -> None:
    """Fence every table: the transaction conflicts with every concurrent fenced write."""
    hold(conn, range(FENCE_TABLES))


def write(
    conn: duckdb.DuckDBPyConnection, body: Callable[[], T], fences: Iterable[str | int] = ()
) -> T:
    """Run `body` in one transaction holding `fences`; a commit lost to a concurrent writer
    runs it again on the newer snapshot (see `retry_conflicts`)."""
    names = list(fences)

    def attempt() -> T:
        with transaction(conn):
            hold(conn, names)
            return body()

    return retry_conflicts(attempt)


#: The first pause after a lost commit, in seconds (jittered up to 2.5x, doubling to 40x).
CONFLICT_PAUSE_SECONDS = 0.02


def retry_conflicts(step: Callable[[], T], attempts: int = 12) -> T:
    """Run `step` (which must commit all or nothing) again while it loses with `WriteConflict`,
    with a growing, jittered pause so two losers do not collide again in step."""
    for attempt in range(1, attempts + 1):
        try:
            return step()
        except WriteConflict:
            if attempt == attempts:
                raise
            pause = CONFLICT_PAUSE_SECONDS * random.uniform(1.0, 2.5)  # noqa: S311 (jitter)
            time.sleep(pause * min(2**attempt, 40))
    raise AssertionError("unreachable")
