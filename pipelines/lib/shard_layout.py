"""Claims of several usage shards committed side by side: which fences a drain transaction
holds, and the shard count N recorded in the warehouse that every claiming writer must share.

A claim is exactly-once because two transactions that could claim the same (tenant, event id)
hold a common fence (`pipelines.lib.writes`), so on a DuckLake only one of them commits and
the other re-runs on the newer snapshot, where it sees the claim. Copies of one event come
from one tenant, and under one N a tenant has one current shard (`shard_of(tenant, N)`). So a
drain transaction fences the current shard of every tenant in its batch:

- a shard's own stream holds only that shard's tenants: one fence, and the N partitions
  commit side by side (shard s takes fence slot s, so up to `FENCE_TABLES` shards never
  share a fence table; a named fence, such as a rollup day's, may share one: a needless
  retry, never a wrong count);
- a stream left by a former N holds tenants of any current shard: it fences each of their
  shards (at most one UPDATE per fence table), so a copy in that stream and a copy in the
  tenant's own stream, drained by two partitions at once, still meet on one fence;
- every transaction also fences its partition, whose batch id sequence it takes
  (`ingest_batches.next_batch_id`): two overlapping runs of one partition serialize on it.

That argument holds only while every writer computes shards with the same N. The warehouse
records N (`usage_shard_layout`). A shard run records its own N when it starts, in a
transaction that also bumps every fence table, so any transaction of a writer still running
with the old N conflicts, re-runs, reads the new N inside its transaction and refuses
(`ShardLayoutChangedError`), leaving its entries pending for the runs with the new N.
A writer never commits claims under an N other than the recorded one.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.lib import writes
from tenancy.usage.shards import SHARDS_VARIABLE, shard_of

LAYOUT_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage_shard_layout (
    shards INTEGER NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
"""


class ShardLayoutChangedError(RuntimeError):
    """The warehouse records another usage shard count than this writer drains with."""

    def __init__(self, recorded: int, shards: int) -> None:
        self.recorded = recorded
        self.shards = shards
        super().__init__(
            f"the warehouse records {recorded} usage shard(s) but this run drains with "
            f"{shards} ({SHARDS_VARIABLE}={shards}); a run with {SHARDS_VARIABLE}={recorded} "
            "has started since this one (or this one comes from a former deployment), so it "
            f"stops: its entries stay pending and the runs with {recorded} shard(s) drain them. "
            f"Every usage_events partition must run with one {SHARDS_VARIABLE}."
        )


def partition_fence(partition: int) -> int:
    """The fence of a partition's batch sequence and of its shard's claims (one slot)."""
    return partition


def claim_fences(events: pa.Table, shards: int, partition: int) -> set[int]:
    """The fences of a drain transaction of `partition` storing `events` (see the module)."""
    tenants = pc.unique(events["tenant_id"]).to_pylist() if events.num_rows else []
    return {partition_fence(partition)} | {partition_fence(shard_of(t, shards)) for t in tenants}


def recorded(conn: duckdb.DuckDBPyConnection) -> int | None:
    """The recorded shard count, or None before the first shard run."""
    rows = conn.execute("SELECT max(shards) FROM usage_shard_layout").fetchall()
    return None if not rows or rows[0][0] is None else int(rows[0][0])


def check(conn: duckdb.DuckDBPyConnection, shards: int) -> None:
    """Refuse to commit claims unless the recorded count is `shards` (caller holds the
    transaction: the read is of the snapshot the claims are checked against)."""
    found = recorded(conn)
    if found != shards:
        raise ShardLayoutChangedError(found or 0, shards)


def ensure(conn: duckdb.DuckDBPyConnection, shards: int) -> None:
    """Record `shards` if no count is recorded yet; refuse if another one is."""
    if recorded(conn) != shards:
        writes.retry_conflicts(lambda: _record(conn, shards, replace=False))


def adopt(conn: duckdb.DuckDBPyConnection, shards: int, log: Callable[[str], None] = print) -> None:
    """Make `shards` the recorded count (the start of a shard run), cutting off every writer
    still running with another count."""
    if recorded(conn) != shards:
        writes.retry_conflicts(lambda: _record(conn, shards, replace=True, log=log))


def _record(
    conn: duckdb.DuckDBPyConnection,
    shards: int,
    replace: bool,
    log: Callable[[str], None] = print,
) -> None:
    with writes.transaction(conn):
        # Every fence table, not only the claim fences of the old count: a writer of the old
        # count may hold any of them, and this makes its open transaction lose.
        writes.bump_all(conn)
        found = recorded(conn)
        if found == shards:
            return
        if found is not None and not replace:
            raise ShardLayoutChangedError(found, shards)
        conn.execute("DELETE FROM usage_shard_layout")
        conn.execute("INSERT INTO usage_shard_layout VALUES (?, now()::TIMESTAMP)", [shards])
    if found is not None:
        log(
            f"usage shard count changed from {found} to {shards}: writers still running with "
            f"{found} stop at their next commit"
        )
