"""Writing drained stream entries into the warehouse: events claimed by (tenant, event id),
quarantine rows, and the errors of entries that fail on their own. The caller holds the
transaction; the schema is `pipelines.lib.warehouse.SCHEMA`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

if TYPE_CHECKING:
    from pipelines.lib.ingest import QuarantineRow

#: What makes two copies of an event identical: every field but the stream entry they came
#: in. `|` cannot occur inside any of them (metric and method are closed sets, the route
#: template's characters are [\\w{}./-], the rest are numbers, a fixed-format time and a UUID),
#: so the joined text is unambiguous. MD5 is a stable function of its input across DuckDB
#: versions (unlike `hash()`); it is a fingerprint here, not a security boundary.
DIGEST = """md5_number_lower(concat_ws('|', metric, quantity,
    strftime(occurred_at, '%Y-%m-%dT%H:%M:%S.%f'), coalesce(endpoint, ''),
    coalesce(method, ''), coalesce(CAST(status AS VARCHAR), ''),
    coalesce(CAST(agent_id AS VARCHAR), '')))"""


@dataclass(frozen=True)
class InsertResult:
    inserted: int
    duplicates: int  # identical copies of events already counted: skipped
    conflicts: list[tuple[str, str]]  # (entry id, entry id of the copy that was counted)


def insert_events(
    conn: duckdb.DuckDBPyConnection,
    events: pa.Table,
    batch_id: int,
    claim_days: tuple[date, date] | None = None,
) -> InsertResult:
    """Insert the events whose (tenant, event id) is not claimed yet, claiming it in the same
    transaction (the caller holds it). A copy of a claimed event is a duplicate: identical
    copies are skipped, copies with other content are returned as conflicts to quarantine.

    The claim check is an anti-join inside the transaction. It is exactly-once only if the
    caller's transaction also holds a fence shared by every transaction that may claim one
    of these tenants' events (`shard_layout.claim_fences`): of two such writers only one
    commits, the other is retried on the newer snapshot and sees the claim.

    `claim_days` (first, last), the ingest window's days, limits the check to the claims of
    those days: an event outside the window is quarantined before it gets here, and a lake
    then reads only the files of recent claims instead of every claim its tenants ever had."""
    conn.register("incoming", events)
    days = {"first": claim_days[0], "last": claim_days[1]} if claim_days else {}
    try:
        conn.execute(f"""
            CREATE OR REPLACE TEMP TABLE incoming_keyed AS
            SELECT *, {DIGEST} AS digest FROM (
                SELECT CAST(event_id AS UUID) AS event_id, CAST(tenant_id AS UUID) AS tenant_id,
                       metric, quantity, occurred_at, endpoint, method, status,
                       CAST(agent_id AS UUID) AS agent_id, entry_id, copy
                FROM incoming
            )
        """)
        conn.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE claimed AS
            SELECT tenant_id, event_id, digest, entry_id FROM usage_event_claims c
            WHERE {"c.day >= $first AND c.day <= $last AND" if claim_days else ""}
                  c.tenant_id IN (SELECT tenant_id FROM incoming_keyed)
                  AND c.event_id IN (SELECT event_id FROM incoming_keyed)
            """,
            days,
        )
        conn.execute("""
            CREATE OR REPLACE TEMP TABLE incoming_new AS
            SELECT * FROM incoming_keyed i
            WHERE copy = 1 AND NOT EXISTS (
                SELECT 1 FROM claimed c WHERE c.tenant_id = i.tenant_id AND c.event_id = i.event_id
            )
        """)
        conn.execute("""
            INSERT INTO usage_event_claims
            SELECT tenant_id, event_id, digest, entry_id, CAST(occurred_at AS DATE)
            FROM incoming_new
        """)
        conn.execute(
            """
            INSERT INTO usage_events
            SELECT event_id, tenant_id, metric, quantity, occurred_at,
                   CAST(occurred_at AS DATE), endpoint, method, status, agent_id, entry_id, ?
            FROM incoming_new
            """,
            [batch_id],
        )
        inserted = _count(conn, "SELECT count(*) FROM incoming_new")
        conflicts: list[tuple[str, str]] = []
        if inserted < len(events):
            conflicts = [
                (str(a), str(b))
                for a, b in conn.execute("""
                    SELECT i.entry_id, c.entry_id
                    FROM incoming_keyed i
                    JOIN (SELECT * FROM claimed UNION ALL
                          SELECT tenant_id, event_id, digest, entry_id FROM incoming_new) c
                    USING (tenant_id, event_id)
                    WHERE i.entry_id NOT IN (SELECT entry_id FROM incoming_new)
                      AND i.digest <> c.digest
                    ORDER BY i.entry_id
                """).fetchall()
            ]
        conn.execute("DROP TABLE incoming_keyed")
        conn.execute("DROP TABLE incoming_new")
        conn.execute("DROP TABLE claimed")
    finally:
        conn.unregister("incoming")
    return InsertResult(inserted, len(events) - inserted - len(conflicts), conflicts)


def _count(conn: duckdb.DuckDBPyConnection, query: str) -> int:
    row = conn.execute(query).fetchall()[0]
    return int(row[0])


def insert_quarantine(
    conn: duckdb.DuckDBPyConnection, rows: list[QuarantineRow], batch_id: int, stream: str
) -> int:
    """Keep rejected entries of `stream` with their reason (once per stream entry); returns how
    many were new. An entry of another stream with the same id is another entry."""
    if not rows:
        return 0
    table = pa.table(
        {
            "entry_id": [r.entry_id for r in rows],
            "fields": [r.fields for r in rows],
            "raw_base64": pa.array([r.raw_base64 for r in rows], pa.string()),
            "code": [r.code for r in rows],
            "reason": [r.reason for r in rows],
        }
    )
    conn.register("bad", table)
    try:
        row = conn.execute(
            """
            INSERT INTO usage_quarantine BY NAME
            SELECT entry_id, fields, reason, $batch AS batch_id,
                   now()::TIMESTAMP AS quarantined_at, code, raw_base64, $stream AS stream
            FROM (SELECT DISTINCT ON (entry_id) * FROM bad) b
            WHERE NOT EXISTS (
                -- A row from before `stream` existed (NULL) is taken to be this entry.
                SELECT 1 FROM usage_quarantine q
                WHERE q.entry_id = b.entry_id AND coalesce(q.stream, $stream) = $stream
            )
        """,
            {"batch": batch_id, "stream": stream},
        ).fetchall()
    finally:
        conn.unregister("bad")
    return int(row[0][0])


def record_error(conn: duckdb.DuckDBPyConnection, entry_id: str, error: str, stream: str) -> None:
    """Remember why an entry of `stream` failed on its own (in a transaction of its own)."""
    conn.execute(
        "INSERT INTO ingest_errors (entry_id, error, failed_at, stream) "
        "VALUES (?, ?, now()::TIMESTAMP, ?)",
        [entry_id, error[:2000], stream],
    )


def last_errors(
    conn: duckdb.DuckDBPyConnection, entry_ids: list[str], stream: str
) -> dict[str, str]:
    """The newest recorded error of each of these entries of `stream` that has one."""
    if not entry_ids:
        return {}
    rows = conn.execute(
        """
        SELECT entry_id, arg_max(error, failed_at) FROM ingest_errors
        WHERE entry_id IN (SELECT unnest($ids)) AND coalesce(stream, $stream) = $stream
        GROUP BY entry_id
        """,
        {"ids": entry_ids, "stream": stream},
    ).fetchall()
    return {str(a): str(b) for a, b in rows}
