"""The usage warehouse in DuckDB: schema, ingestion and rollups as plain SQL.

The same SQL runs on a single DuckDB file and on a DuckLake (`tenancy.lakehouse`), so it
keeps to what both support: no primary keys, indexes or RETURNING. All timestamps are UTC,
stored as TIMESTAMP (no time zone); `day` is the UTC date of `occurred_at`. Writes of a period
delete and re-insert that period inside one transaction, so re-running a partition gives the
same rows; with several writers, `writes.write` fences the partition and retries a lost
commit.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import duckdb
import pyarrow as pa

from pipelines.lib.event_store import DIGEST
from pipelines.lib.shard_layout import LAYOUT_SCHEMA
from pipelines.lib.writes import FENCE_SCHEMA, FENCE_TABLES, retry_conflicts, transaction
from tenancy.usage_warehouse import has_column

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS usage_events (
    event_id UUID NOT NULL,
    tenant_id UUID NOT NULL,
    metric VARCHAR NOT NULL,
    quantity BIGINT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    day DATE NOT NULL,
    endpoint VARCHAR,
    method VARCHAR,
    status INTEGER,
    agent_id UUID,
    entry_id VARCHAR NOT NULL,
    batch_id BIGINT NOT NULL
);
-- `stream` is the stream key the entry came from: entry ids are per stream, and two shards'
-- streams hand out the same id in the same millisecond (NULL in rows from before the column).
CREATE TABLE IF NOT EXISTS usage_quarantine (
    entry_id VARCHAR NOT NULL,
    fields VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    batch_id BIGINT NOT NULL,
    quarantined_at TIMESTAMP NOT NULL,
    code VARCHAR,
    raw_base64 VARCHAR,
    stream VARCHAR
);
-- One claim per (tenant, event id), taken in the transaction that stores the event: the key
-- that makes an event count once whatever its timestamp. `digest` tells an identical retry
-- (skipped) from a conflicting copy (quarantined). Unique by the fenced anti-join in
-- `event_store.insert_events` (a DuckLake table has no primary key). `day` is the claimed
-- event's day: the check reads only the claims of the ingest window's days, so a lake prunes
-- the files of older claims (NULL only for a claim whose event was deleted before the column
-- existed).
CREATE TABLE IF NOT EXISTS usage_event_claims (
    tenant_id UUID NOT NULL,
    event_id UUID NOT NULL,
    digest UBIGINT NOT NULL,
    entry_id VARCHAR NOT NULL,
    day DATE
);
-- Entries that failed on their own after a batch was split to find them; the newest error is
-- the reason they are quarantined with once they pass the delivery limit.
CREATE TABLE IF NOT EXISTS ingest_errors (
    entry_id VARCHAR NOT NULL,
    error VARCHAR NOT NULL,
    failed_at TIMESTAMP NOT NULL,
    stream VARCHAR
);
-- `batch_id` is `partition << 40 | n`: each usage_events partition numbers its own batches
-- 1, 2, ... (`pipelines.lib.ingest_batches`), so concurrent partitions never take the same id
-- and, within a partition, ids commit in increasing order (the late-usage sensor's cursor).
CREATE TABLE IF NOT EXISTS ingest_batches (
    batch_id BIGINT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    read BIGINT NOT NULL,
    inserted BIGINT NOT NULL,
    duplicates BIGINT NOT NULL,
    quarantined BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS registry_snapshots (
    day DATE NOT NULL,
    tenant_id UUID NOT NULL,
    slug VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    plan VARCHAR NOT NULL,
    limit_overrides VARCHAR NOT NULL,
    users BIGINT NOT NULL,
    agents BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS storage_snapshots (
    day DATE NOT NULL,
    tenant_id UUID NOT NULL,
    bytes BIGINT NOT NULL,
    measured_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS daily_tenant_usage (
    day DATE NOT NULL,
    tenant_id UUID NOT NULL,
    metric VARCHAR NOT NULL,
    endpoint VARCHAR NOT NULL,
    value BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS monthly_tenant_usage (
    month DATE NOT NULL,
    tenant_id UUID NOT NULL,
    metric VARCHAR NOT NULL,
    value BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS tenant_quota_status (
    month DATE NOT NULL,
    tenant_id UUID NOT NULL,
    slug VARCHAR NOT NULL,
    plan VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    used DOUBLE NOT NULL,
    "limit" DOUBLE,
    ratio DOUBLE,
    state VARCHAR NOT NULL,
    blocked BOOLEAN NOT NULL,
    evaluated_at TIMESTAMP NOT NULL
);
"""
    + LAYOUT_SCHEMA
)

#: Columns added since the first release, for warehouses created before them.
SCHEMA_UPGRADES = """
ALTER TABLE usage_quarantine ADD COLUMN IF NOT EXISTS code VARCHAR;
ALTER TABLE usage_quarantine ADD COLUMN IF NOT EXISTS raw_base64 VARCHAR;
ALTER TABLE usage_quarantine ADD COLUMN IF NOT EXISTS stream VARCHAR;
ALTER TABLE ingest_errors ADD COLUMN IF NOT EXISTS stream VARCHAR;
"""

#: Event metric -> the daily/monthly flow metric it adds to.
FLOW_METRICS = {
    "api_call": "api_calls",
    "agent_execution": "agent_executions",
    "storage_bytes_added": "storage_bytes_added",
    "storage_bytes_removed": "storage_bytes_removed",
}
#: Daily level metrics (a value per day, not a sum): the month takes their maximum.
LEVEL_METRICS = ("users", "agents", "storage_bytes")

EVENT_COLUMNS = pa.schema(
    [
        ("event_id", pa.string()),
        ("tenant_id", pa.string()),
        ("metric", pa.string()),
        ("quantity", pa.int64()),
        ("occurred_at", pa.timestamp("us")),
        ("endpoint", pa.string()),
        ("method", pa.string()),
        ("status", pa.int32()),
        ("agent_id", pa.string()),
        ("entry_id", pa.string()),
        # 1 for the first copy of a (tenant, event id) in the batch, in stream order, 2 for the
        # second, ...; only a first copy can claim the key.
        ("copy", pa.int32()),
    ]
)


def _has_table(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the default database has `name` (outside a transaction: a failed statement
    would abort it). Listing the catalog (duckdb_tables()) instead takes seconds on a lake
    whose catalog is in PostgreSQL."""
    try:
        conn.execute(f"SELECT 1 FROM {name} LIMIT 0")
    except duckdb.CatalogException:
        return False
    return True


def connect(
    path: str, memory_limit: str = "4GB", threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(path)
    configure(conn, memory_limit, threads)
    return conn


def configure(
    conn: duckdb.DuckDBPyConnection, memory_limit: str = "4GB", threads: int | None = None
) -> None:
    conn.execute("SET TimeZone = 'UTC'")
    # Nothing here relies on row order without an ORDER BY; dropping the guarantee lets large
    # INSERT ... SELECTs run in parallel.
    conn.execute("SET preserve_insertion_order = false")
    conn.execute(f"SET memory_limit = '{_size(memory_limit)}'")
    if threads:
        conn.execute(f"SET threads = {int(threads)}")
    retry_conflicts(lambda: _create_schema(conn))


#: On a DuckLake, files of new events are split by day, so that a day's rollup reads, and a
#: day-range delete rewrites, only that day's files instead of every file whose batch
#: happened to hold an event of the day. (A single DuckDB file has no partitions.)
LAKE_PARTITIONING = "ALTER TABLE usage_events SET PARTITIONED BY (day);"


def _create_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create what is missing (two processes starting on a new lake conflict; one retries)."""
    claims_existed = _has_table(conn, "usage_event_claims")
    fences_existed = _has_table(conn, f"write_fence_{FENCE_TABLES - 1:02d}")
    if claims_existed and not has_column(conn, "usage_event_claims", "day"):
        _add_claim_days(conn)
    # The newest table: its absence marks a warehouse not yet given this release's layout.
    layout_existed = _has_table(conn, "usage_shard_layout")
    if claims_existed and fences_existed and layout_existed:
        conn.execute(SCHEMA_UPGRADES)
        return
    with transaction(conn):
        conn.execute(SCHEMA)
        conn.execute(SCHEMA_UPGRADES)
        if not layout_existed and _is_lake(conn):
            conn.execute(LAKE_PARTITIONING)
        if not fences_existed:
            conn.execute(FENCE_SCHEMA)
            for n in range(FENCE_TABLES):
                conn.execute(f"INSERT INTO write_fence_{n:02d} VALUES (0)")
        if not claims_existed:  # a warehouse from before claims: its events hold the claims
            conn.execute(f"""
                INSERT INTO usage_event_claims
                SELECT DISTINCT ON (tenant_id, event_id) tenant_id, event_id, {DIGEST}, entry_id,
                       day
                FROM usage_events
            """)


def _is_lake(conn: duckdb.DuckDBPyConnection) -> bool:
    row = conn.execute(
        "SELECT type FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    return bool(row) and row[0][0] == "ducklake"


def _add_claim_days(conn: duckdb.DuckDBPyConnection) -> None:
    """Claims from before `day` existed take their event's day, in the transaction that adds
    the column (a concurrent upgrader conflicts and finds the column on its retry)."""
    with transaction(conn):
        conn.execute("ALTER TABLE usage_event_claims ADD COLUMN day DATE")
        conn.execute("""
            UPDATE usage_event_claims SET day = e.day FROM usage_events e
            WHERE usage_event_claims.tenant_id = e.tenant_id
              AND usage_event_claims.event_id = e.event_id
              AND usage_event_claims.entry_id = e.entry_id
        """)


def _size(text: str) -> str:
    value = text.strip().upper()
    digits = value.rstrip("KMGTIB")
    if not digits.replace(".", "").isdigit() or value[len(digits) :] not in (
        "KB",
        "MB",
        "GB",
        "TB",
        "KIB",
        "MIB",
        "GIB",
        "TIB",
    ):
        raise ValueError(f"memory_limit is {text!r}; expected a size such as 4GB")
    return value


def api_calls_between(
    conn: duckdb.DuckDBPyConnection, start: datetime, end: datetime
) -> dict[str, int]:
    """API calls per tenant (UUID text) with `start <= occurred_at < end`, from the raw events."""
    rows = conn.execute(
        """
        SELECT CAST(tenant_id AS VARCHAR), sum(quantity) FROM usage_events
        WHERE metric = 'api_call' AND day >= CAST($start AS DATE) AND day <= CAST($end AS DATE)
          AND occurred_at >= $start AND occurred_at < $end
        GROUP BY ALL
        """,
        {"start": start.replace(tzinfo=None), "end": end.replace(tzinfo=None)},
    ).fetchall()
    return {str(t): int(n) for t, n in rows}


def replace_snapshot(
    conn: duckdb.DuckDBPyConnection, table: str, day: date, rows: pa.Table
) -> None:
    """Write `rows` as `table`'s snapshot for `day` (caller holds the transaction)."""
    if table not in ("registry_snapshots", "storage_snapshots"):
        raise ValueError(f"table is {table!r}; expected a snapshot table")
    conn.execute(f"DELETE FROM {table} WHERE day = ?", [day])
    conn.register("snapshot", rows)
    try:
        conn.execute(f"INSERT INTO {table} BY NAME SELECT ? AS day, * FROM snapshot", [day])
    finally:
        conn.unregister("snapshot")


def has_snapshot(conn: duckdb.DuckDBPyConnection, table: str, day: date) -> bool:
    if table not in ("registry_snapshots", "storage_snapshots"):
        raise ValueError(f"table is {table!r}; expected a snapshot table")
    row = conn.execute(f"SELECT count(*) FROM {table} WHERE day = ?", [day]).fetchall()[0]
    return bool(row and row[0])


# One scan of the events: GROUPING SETS yields the per-metric totals and the per-endpoint sums.
DAILY_FLOWS = """
INSERT INTO daily_tenant_usage
SELECT day, tenant_id,
       CASE WHEN grouping(endpoint) = 0 THEN 'api_calls_by_endpoint'
            WHEN metric = 'api_call' THEN 'api_calls'
            WHEN metric = 'agent_execution' THEN 'agent_executions'
            ELSE metric END,
       CASE WHEN grouping(endpoint) = 0 THEN endpoint ELSE '' END,
       sum(quantity)
FROM usage_events WHERE day >= $start AND day < $end
GROUP BY GROUPING SETS ((day, tenant_id, metric), (day, tenant_id, metric, endpoint))
HAVING grouping(endpoint) = 1 OR metric = 'api_call'
"""

# Then the day's levels from the snapshots: one row per tenant the registry had that day, so
# every tenant is present even on a day without events (missing flows read as zero).
DAILY_LEVELS = """
INSERT INTO daily_tenant_usage
SELECT day, tenant_id, 'users', '', users FROM registry_snapshots WHERE day >= $start AND day < $end
UNION ALL
SELECT day, tenant_id, 'agents', '', agents FROM registry_snapshots WHERE day >= $start AND day < $end
UNION ALL
SELECT day, tenant_id, 'storage_bytes', '', bytes FROM storage_snapshots WHERE day >= $start AND day < $end
"""


def rollup_days(conn: duckdb.DuckDBPyConnection, start: date, end: date) -> int:
    """Replace daily usage for [start, end); caller holds the transaction. Returns rows written."""
    params = {"start": start, "end": end}
    conn.execute("DELETE FROM daily_tenant_usage WHERE day >= $start AND day < $end", params)
    flows = conn.execute(DAILY_FLOWS, params).fetchall()
    rest = conn.execute(DAILY_LEVELS, params).fetchall()
    return int(flows[0][0]) + int(rest[0][0])


MONTHLY_ROLLUP = """
INSERT INTO monthly_tenant_usage
SELECT $month AS month, tenant_id,
       CASE metric WHEN 'api_call' THEN 'api_calls' WHEN 'agent_execution' THEN 'agent_executions'
                   ELSE metric END, sum(quantity)
FROM usage_events WHERE occurred_at >= $start AND occurred_at < $end
GROUP BY ALL
UNION ALL
SELECT $month, tenant_id, metric, max(value)
FROM daily_tenant_usage
WHERE day >= CAST($start AS DATE) AND day < CAST($end AS DATE) AND metric IN ('users', 'agents', 'storage_bytes')
GROUP BY ALL
"""


def rollup_month(conn: duckdb.DuckDBPyConnection, month: date, end: date) -> int:
    """Replace the month [month, end): flows summed from raw events, levels as the daily maximum."""
    params: dict[str, Any] = {"month": month, "start": month, "end": end}
    conn.execute("DELETE FROM monthly_tenant_usage WHERE month = $month", {"month": month})
    conn.execute(MONTHLY_ROLLUP, params)
    row = conn.execute(
        "SELECT count(*) FROM monthly_tenant_usage WHERE month = $month", {"month": month}
    ).fetchall()[0]
    return int(row[0]) if row else 0
