"""The per-tenant, hash-chained audit trail: append inside a transaction, verify across tenants.

The database assigns each entry's sequence number, time and hashes (trigger `audit_chain`);
`verify` recomputes every hash here, independently of the database function.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tenancy.db.session import Connection, Database


def record(
    conn: Connection,
    tenant_id: uuid.UUID,
    actor: str,
    action: str,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> int:
    """Append an entry in the caller's transaction; returns its sequence number."""
    row = conn.execute(
        "INSERT INTO registry.audit_log (tenant_id, actor, action, target, details) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING seq",
        (tenant_id, actor, action, target, json.dumps(details or {})),
    ).fetchone()
    assert row is not None
    return int(str(row["seq"]))


def entry_hash(
    tenant_id: str,
    seq: int,
    actor: str,
    action: str,
    target: str,
    details_text: str,
    created_at: datetime,
    prev_hash: bytes,
) -> bytes:
    """The same canonical text as `registry.audit_entry_hash`, hashed with SHA-256."""
    stamp = created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    text = "\x1f".join(
        [tenant_id, str(seq), actor, action, target, details_text, stamp, prev_hash.hex()]
    )
    return hashlib.sha256(text.encode()).digest()


@dataclass(frozen=True)
class BrokenEntry:
    tenant_id: str
    seq: int
    reason: str


@dataclass(frozen=True)
class AuditReport:
    tenants: int
    entries: int
    broken: BrokenEntry | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify(db: Database, tenant_id: uuid.UUID | None = None) -> AuditReport:
    """Walk every tenant's chain (or one) and report the first entry that does not hold.

    Detects edited rows (hash mismatch), forged or reordered rows (broken link) and deleted
    rows (a gap in the sequence). Deleting the newest entries leaves a shorter valid chain;
    that needs an anchor kept outside the database, which this check does not have.
    """
    where, params = ("WHERE tenant_id = %s", (tenant_id,)) if tenant_id else ("", ())
    tenants = entries = 0
    with db.platform() as conn:
        cursor = conn.cursor(name="audit_verify")  # server-side: the log can be large
        cursor.execute(
            "SELECT tenant_id::text AS tenant_id, seq, actor, action, target, "
            "details::text AS details, created_at, prev_hash, hash "
            f"FROM registry.audit_log {where} ORDER BY tenant_id, seq",
            params,
        )
        current: str | None = None
        prev_hash = b""
        expected_seq = 1
        for row in cursor:
            tenant = str(row["tenant_id"])
            if tenant != current:
                current, prev_hash, expected_seq = tenant, b"", 1
                tenants += 1
            entries += 1
            seq = int(str(row["seq"]))
            broken = _check(row, seq, expected_seq, prev_hash)
            if broken:
                return AuditReport(tenants, entries, BrokenEntry(tenant, seq, broken))
            prev_hash = bytes(row["hash"])  # type: ignore[call-overload]
            expected_seq = seq + 1
    return AuditReport(tenants, entries, None)


def _check(row: dict[str, Any], seq: int, expected_seq: int, prev_hash: bytes) -> str | None:
    if seq != expected_seq:
        return f"sequence jumps from {expected_seq - 1} to {seq}: entries are missing"
    if bytes(row["prev_hash"]) != prev_hash:
        return "prev_hash does not match the previous entry's hash: the chain was forged"
    recomputed = entry_hash(
        row["tenant_id"],
        seq,
        row["actor"],
        row["action"],
        row["target"],
        row["details"],
        row["created_at"],
        bytes(row["prev_hash"]),
    )
    if recomputed != bytes(row["hash"]):
        return "hash does not match the entry's contents: the entry was altered"
    return None
