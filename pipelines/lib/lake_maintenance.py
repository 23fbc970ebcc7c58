"""Lakehouse upkeep as plain SQL: merge small data files, expire old snapshots, delete the files
no snapshot needs any more. Each step is DuckLake's own; a step that loses against a concurrent
writer (a merge rewriting files another writer deletes from) is run again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import duckdb

from pipelines.lib.writes import retry_conflicts
from tenancy.lakehouse import LAKE


@dataclass(frozen=True)
class Upkeep:
    files_before: int
    files_after: int
    tables_merged: int
    snapshots_expired: int
    files_deleted: int
    orphans_deleted: int


def data_files(conn: duckdb.DuckDBPyConnection) -> int:
    """Live data files over every table of the lake."""
    row = conn.execute(
        "SELECT count(*) FROM __ducklake_metadata_lake.ducklake_data_file WHERE end_snapshot IS NULL"
    ).fetchall()[0]
    return int(row[0])


def maintain(conn: duckdb.DuckDBPyConnection, keep: timedelta) -> Upkeep:
    """Merge adjacent small files, then expire snapshots older than `keep` (time travel and
    readers still on them need them until then) and delete the files only they referenced,
    and files no snapshot ever committed (a writer killed mid-write leaves those)."""
    if keep < timedelta(0):
        raise ValueError(f"keep is {keep}; expected a duration >= 0")
    seconds = int(keep.total_seconds())
    older = f"older_than => now() - INTERVAL '{seconds} seconds'"
    before = data_files(conn)

    def call(statement: str) -> list[tuple[object, ...]]:
        return retry_conflicts(lambda: conn.execute(statement).fetchall())

    merged = call(f"CALL ducklake_merge_adjacent_files('{LAKE}')")
    expired = call(f"CALL ducklake_expire_snapshots('{LAKE}', {older})")
    deleted = call(f"CALL ducklake_cleanup_old_files('{LAKE}', {older})")
    orphans = call(f"CALL ducklake_delete_orphaned_files('{LAKE}', {older})")
    return Upkeep(
        files_before=before,
        files_after=data_files(conn),
        tables_merged=len(merged),
        snapshots_expired=len(expired),
        files_deleted=len(deleted),
        orphans_deleted=len(orphans),
    )
