"""The per-tenant, hash-chained audit trail: append, verify every tenant's chain, anchor heads.

The database assigns each entry's sequence number, time and hashes (trigger `audit_chain`);
`verify` recomputes every hash here, independently of the database function, and reports
every tenant's chain, broken or not. With anchors (`tenancy.audit_anchor`) it also requires
each chain to still hold the entry its latest anchor signed, which catches a rewrite with
recomputed hashes and the deletion of the newest entries, up to that anchor.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tenancy.audit_anchor import Anchor
from tenancy.audit_anchor_config import Anchoring
from tenancy.audit_hash import EntryFields, entry_hash, v1_ambiguity
from tenancy.db.session import Connection, Database
from tenancy.errors import InvalidInputError


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


@dataclass(frozen=True)
class BrokenEntry:
    tenant_id: str
    seq: int
    reason: str


@dataclass(frozen=True)
class ChainReport:
    """One tenant's chain: how far it goes, whether it holds, how far an anchor vouches for it."""

    tenant_id: str
    entries: int
    head_seq: int
    head_hash: bytes
    broken: BrokenEntry | None
    anchored_seq: int | None
    checkpoint_seq: int | None = None  # entries up to here were swept by retention

    @property
    def ok(self) -> bool:
        return self.broken is None

    @property
    def state(self) -> str:
        if self.broken is not None:
            return f"broken at seq {self.broken.seq}: {self.broken.reason}"
        if self.checkpoint_seq is not None:
            swept = f"; seq 1-{self.checkpoint_seq} swept, verified from its checkpoint"
            return self._anchor_state() + swept
        return self._anchor_state()

    def _anchor_state(self) -> str:
        if self.anchored_seq is None:
            return f"intact ({self.entries} entries), no anchor yet"
        if self.anchored_seq == self.head_seq:
            return f"intact ({self.entries} entries), anchored at its head (seq {self.head_seq})"
        return (
            f"intact ({self.entries} entries), anchored at seq {self.anchored_seq}; "
            f"seq {self.anchored_seq + 1}-{self.head_seq} not anchored yet"
        )


@dataclass(frozen=True)
class AuditReport:
    chains: tuple[ChainReport, ...]
    anchors_checked: bool

    @property
    def tenants(self) -> int:
        return len(self.chains)

    @property
    def entries(self) -> int:
        return sum(c.entries for c in self.chains)

    @property
    def broken(self) -> tuple[BrokenEntry, ...]:
        return tuple(c.broken for c in self.chains if c.broken is not None)

    @property
    def ok(self) -> bool:
        return not self.broken


@dataclass
class _Walk:
    """The state of one tenant's chain while its entries stream past, in sequence order."""

    tenant_id: str
    anchor: Anchor | None = None
    entries: int = 0
    head_seq: int = 0
    head_hash: bytes = b""
    version: int = 1
    broken: BrokenEntry | None = None
    matched_anchor: bool = False
    notes: list[str] = field(default_factory=list)
    checkpoint: tuple[int, bytes] | None = None

    def __post_init__(self) -> None:
        """Start from the checkpoint the retention sweep left, which an anchor must cover."""
        if self.checkpoint is None:
            return
        self.head_seq, self.head_hash = self.checkpoint
        if self.anchor is None:
            return
        if self.anchor.seq < self.head_seq:
            self.broken = BrokenEntry(
                self.tenant_id,
                self.head_seq,
                f"the checkpoint at seq {self.head_seq} is past the latest anchor (seq "
                f"{self.anchor.seq}): entries were removed that no anchor vouches for",
            )
        elif self.anchor.seq == self.head_seq:
            self.matched_anchor = True
            if self.head_hash.hex() != self.anchor.hash:
                self.broken = BrokenEntry(
                    self.tenant_id,
                    self.head_seq,
                    f"the checkpoint differs from the anchor of {self.anchor.anchored_at}",
                )

    def step(self, row: dict[str, Any]) -> None:
        self.entries += 1
        if self.broken is not None:
            return  # past a break nothing can be vouched for; the first break is the report
        seq = int(str(row["seq"]))
        reason = self._check(row, seq)
        if reason is not None:
            self.broken = BrokenEntry(self.tenant_id, seq, reason)
            return
        self.head_seq, self.head_hash = seq, bytes(row["hash"])
        if self.anchor is not None and seq == self.anchor.seq:
            if self.head_hash.hex() != self.anchor.hash:
                self.broken = BrokenEntry(
                    self.tenant_id,
                    seq,
                    f"entry differs from the anchor of {self.anchor.anchored_at}: "
                    "the chain was rewritten up to here and its hashes recomputed",
                )
            self.matched_anchor = True

    def _check(self, row: dict[str, Any], seq: int) -> str | None:
        if seq != self.head_seq + 1:
            return f"sequence jumps from {self.head_seq} to {seq}: entries are missing"
        if bytes(row["prev_hash"]) != self.head_hash:
            return "prev_hash does not match the previous entry's hash: the chain was forged"
        version = int(str(row["hash_version"]))
        if version < self.version:
            return f"hash_version {version} after version {self.version} entries: downgraded"
        fields = EntryFields(
            row["tenant_id"],
            seq,
            row["actor"],
            row["action"],
            row["target"],
            row["details"],
            row["created_at"],
            bytes(row["prev_hash"]),
        )
        try:
            recomputed = entry_hash(fields, version)
        except ValueError as exc:
            return str(exc)
        if version == 1 and (ambiguous := v1_ambiguity(fields)) is not None:
            return (
                f"{ambiguous} contains U+001F, the v1 encoding's separator: the fields cannot "
                "be told apart, so the entry may have been altered"
            )
        if recomputed != bytes(row["hash"]):
            return "hash does not match the entry's contents: the entry was altered"
        self.version = version
        return None

    def report(self) -> ChainReport:
        if self.broken is None and self.anchor is not None and not self.matched_anchor:
            self.broken = BrokenEntry(
                self.tenant_id,
                self.head_seq + 1,
                f"the chain ends at seq {self.head_seq} but the anchor of "
                f"{self.anchor.anchored_at} covers seq {self.anchor.seq}: entries were deleted",
            )
        anchored = self.anchor.seq if self.anchor is not None else None
        return ChainReport(
            self.tenant_id,
            self.entries,
            self.head_seq,
            self.head_hash,
            self.broken,
            anchored,
            self.checkpoint[0] if self.checkpoint is not None else None,
        )


def _latest_anchors(
    anchoring: Anchoring, tenants: list[str]
) -> tuple[dict[str, Anchor], dict[str, BrokenEntry]]:
    anchors: dict[str, Anchor] = {}
    problems: dict[str, BrokenEntry] = {}
    for tenant in tenants:
        try:
            anchor = anchoring.store.latest(tenant)
        except InvalidInputError as exc:
            problems[tenant] = BrokenEntry(tenant, 0, f"latest anchor unreadable: {exc}")
            continue
        if anchor is None:
            continue
        problem = anchoring.key.problem(anchor)
        if problem is not None:
            problems[tenant] = BrokenEntry(tenant, anchor.seq, problem)
        else:
            anchors[tenant] = anchor
    return anchors, problems


def verify(
    db: Database, tenant_id: uuid.UUID | None = None, anchoring: Anchoring | None = None
) -> AuditReport:
    """Walk every tenant's chain (or one) and report each: intact, or its first broken entry.

    Detects edited rows (hash mismatch), forged or reordered rows (broken link), deleted rows
    (a gap in the sequence) and v1 entries whose fields cannot be told apart. With
    `anchoring`, also rewrites with recomputed hashes and deleted newest entries, as far as
    each tenant's latest anchor reaches; entries after it are vouched for by nothing yet.
    """
    where, params = ("WHERE tenant_id = %s", (tenant_id,)) if tenant_id else ("", ())
    anchors: dict[str, Anchor] = {}
    anchor_problems: dict[str, BrokenEntry] = {}
    if anchoring is not None:
        anchored_tenants = [str(tenant_id)] if tenant_id else anchoring.store.tenants()
        anchors, anchor_problems = _latest_anchors(anchoring, anchored_tenants)
    chains: dict[str, ChainReport] = {}
    with db.platform() as conn:
        checkpoints = {
            str(r["tenant_id"]): (int(str(r["seq"])), bytes(r["hash"]))  # type: ignore[call-overload]
            for r in conn.execute(
                f"SELECT tenant_id::text AS tenant_id, seq, hash FROM registry.audit_checkpoints {where}",
                params,
            ).fetchall()
        }
        cursor = conn.cursor(name="audit_verify")  # server-side: the log can be large
        cursor.execute(
            "SELECT tenant_id::text AS tenant_id, seq, actor, action, target, "
            "details::text AS details, created_at, prev_hash, hash, hash_version "
            f"FROM registry.audit_log {where} ORDER BY tenant_id, seq",
            params,
        )
        walk: _Walk | None = None
        for row in cursor:
            tenant = str(row["tenant_id"])
            if walk is None or walk.tenant_id != tenant:
                if walk is not None:
                    chains[walk.tenant_id] = walk.report()
                walk = _Walk(tenant, anchors.get(tenant), checkpoint=checkpoints.get(tenant))
            walk.step(row)
        if walk is not None:
            chains[walk.tenant_id] = walk.report()
    for tenant in set(anchors) | set(checkpoints):
        if tenant not in chains:  # no entry left at all: a checkpoint, or entries deleted
            chains[tenant] = _Walk(
                tenant, anchors.get(tenant), checkpoint=checkpoints.get(tenant)
            ).report()
    for tenant, problem in anchor_problems.items():
        chain = chains.get(tenant) or _Walk(tenant).report()
        chains[tenant] = ChainReport(
            tenant, chain.entries, chain.head_seq, chain.head_hash, chain.broken or problem, None
        )
    return AuditReport(tuple(chains[t] for t in sorted(chains)), anchoring is not None)


@dataclass(frozen=True)
class AnchorRun:
    report: AuditReport
    written: tuple[Anchor, ...]


def anchor(
    db: Database,
    anchoring: Anchoring,
    tenant_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> AnchorRun:
    """Verify every chain against its latest anchor, then anchor the head of each intact one.

    A broken chain is not anchored: signing it would vouch for the tampering.
    """
    report = verify(db, tenant_id, anchoring)
    at = now or datetime.now(UTC)
    written = []
    for chain in report.chains:
        if chain.ok and chain.head_seq > 0 and chain.anchored_seq != chain.head_seq:
            signed = anchoring.key.sign(chain.tenant_id, chain.head_seq, chain.head_hash, at)
            anchoring.store.put(signed)
            written.append(signed)
    return AnchorRun(report, tuple(written))
