"""Ingest batch ids: one sequence per `usage_events` partition, so that partitions committing
side by side never take the same id, and the days that batches since a cursor touched (what
the late-usage sensor re-rolls)."""

from __future__ import annotations

from datetime import date

import duckdb

#: Low bits of a batch id: the batch's number within its partition's sequence. Ids written
#: before sequences existed are below 2**40, so they read as partition 0's.
BATCH_SEQUENCE_BITS = 40


def batch_partition(batch_id: int) -> int:
    return batch_id >> BATCH_SEQUENCE_BITS


def next_batch_id(conn: duckdb.DuckDBPyConnection, partition: int = 0) -> int:
    """The next id of `partition`'s batch sequence. Unique only while the caller's transaction
    fences the partition (`shard_layout.partition_fence`): two writers reading the same
    maximum then conflict, and the loser reads the winner's id on its retry."""
    low = partition << BATCH_SEQUENCE_BITS
    row = conn.execute(
        "SELECT coalesce(max(batch_id), $low) + 1 FROM ingest_batches "
        "WHERE batch_id >= $low AND batch_id < $high",
        {"low": low, "high": low + (1 << BATCH_SEQUENCE_BITS)},
    ).fetchall()[0]
    return int(row[0])


def days_touched(
    conn: duckdb.DuckDBPyConnection, seen: dict[int, int]
) -> tuple[list[date], dict[int, int]]:
    """Days that received events in batches after `seen` (partition -> last batch id seen;
    a partition not in it: none seen), and the newest batch id of each partition.

    Within one partition ids commit in increasing order (its sequence is fenced), so every id
    up to the newest one read here is committed; across partitions they are not, so each
    keeps its own cursor. The days are read only up to the newest ids, so a batch that
    commits between the two reads is seen on the next tick, not skipped."""
    newest = {
        int(p): int(n)
        for p, n in conn.execute(
            f"SELECT batch_id >> {BATCH_SEQUENCE_BITS}, max(batch_id) FROM ingest_batches "
            "GROUP BY ALL"
        ).fetchall()
    }
    days: set[date] = set()
    for partition, last in newest.items():
        after = seen.get(partition, partition << BATCH_SEQUENCE_BITS)
        if last > after:
            days.update(
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT day FROM usage_events WHERE batch_id > ? AND batch_id <= ?",
                    [after, last],
                ).fetchall()
            )
    return sorted(days), {**seen, **newest}
