"""The retention sweep: what each tenant's status says has expired, deleted target by target.

`decide` is the rule (pure). `sweep` applies it to every tenant: tenant-scoped, time-indexed
deletes in batches (audit entries behind a checkpoint, documents with their objects, storage
prefixes, warehouse usage rows), and records per run, tenant, category and target what it
deleted, or that a legal hold kept it from touching anything. With `dry_run` it counts only:
`tenancy retention plan`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from tenancy import audit
from tenancy.audit_anchor_config import Anchoring
from tenancy.db.session import Database
from tenancy.object_store import ObjectStore, tenant_prefix
from tenancy.registry import list_tenants
from tenancy.retention_policy import RetentionPolicy, Target
from tenancy.storage_location import tenant_store
from tenancy.tenant import Tenant, TenantStatus
from tenancy.usage_warehouse import WarehouseLocation, open_warehouse, table_names

Outcome = Literal["due", "blocked_by_hold", "indefinite", "in_grace"]
BATCH = 1000


@dataclass
class _Latest:
    value: datetime | None = None

    def see(self, at: object) -> None:
        if isinstance(at, datetime) and (self.value is None or at > self.value):
            self.value = at


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    cutoff: datetime | None  # rows strictly older than this are expired


def decide(tenant: Tenant, category: str, policy: RetentionPolicy, now: datetime) -> Decision:
    """A purged tenant follows the `deleted` row, its clock started at the soft delete."""
    if tenant.legal_hold:
        return Decision("blocked_by_hold", None)
    status, since = tenant.status, tenant.status_changed_at
    if status is TenantStatus.PURGED:
        status, since = TenantStatus.DELETED, tenant.deleted_at or since
    keep = policy.keep_for(status, category)
    if keep is None:
        return Decision("indefinite", None)
    cutoff = now - keep
    if status is not TenantStatus.ACTIVE and cutoff < since:
        return Decision("in_grace", None)  # not in this status for that long yet
    return Decision("due", cutoff)


@dataclass(frozen=True)
class SweepRow:
    tenant_id: uuid.UUID
    slug: str
    status: str
    category: str
    target: str
    outcome: str  # deleted | would_delete | blocked_by_hold | indefinite | in_grace
    cutoff: datetime | None
    count: int = 0
    newest: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        data = {**self.__dict__, "tenant_id": str(self.tenant_id)}
        for key in ("cutoff", "newest"):
            data[key] = data[key].isoformat() if data[key] is not None else None
        return data


@dataclass(frozen=True)
class Sweeper:
    db: Database
    policy: RetentionPolicy
    store: ObjectStore
    warehouse: WarehouseLocation
    anchoring: Anchoring | None
    batch: int = BATCH

    def _audit(self, tenant: Tenant, cutoff: datetime, dry: bool) -> tuple[int, datetime | None]:
        anchor = self.anchoring.store.latest(str(tenant.id)) if self.anchoring else None
        max_seq = anchor.seq if anchor is not None else 0  # only what an anchor vouches for
        total, newest = 0, _Latest()
        while True:
            with self.db.platform() as conn:
                row = conn.execute(
                    "SELECT deleted, newest FROM registry.sweep_audit(%s, %s, %s, %s, %s)",
                    (tenant.id, cutoff, max_seq, self.batch, dry),
                ).fetchone()
            assert row is not None
            n = int(str(row["deleted"]))
            total += n
            newest.see(row["newest"])
            if n == 0 or dry:
                return total, newest.value

    def _documents(
        self, tenant: Tenant, cutoff: datetime, dry: bool
    ) -> tuple[int, datetime | None]:
        total, newest, own = 0, _Latest(), tenant_prefix(tenant.id)
        while True:
            with self.db.platform() as conn:
                rows = conn.execute(
                    "SELECT object_key, created_at FROM registry.sweep_documents(%s, %s, %s, %s)",
                    (tenant.id, cutoff, self.batch, dry),
                ).fetchall()
            for r in rows:
                newest.see(r["created_at"])
            total += len(rows)
            if not dry:
                # A key outside the tenant's prefix was set by the tenant; never follow it.
                tenant_store(self.db, tenant, self.store).delete(
                    [str(r["object_key"]) for r in rows if str(r["object_key"]).startswith(own)]
                )
            if dry or len(rows) < self.batch:
                return total, newest.value

    def _storage(
        self, tenant: Tenant, target: Target, cutoff: datetime, dry: bool
    ) -> tuple[int, datetime | None]:
        store = tenant_store(self.db, tenant, self.store)  # its own bucket, if it has one
        expired = [
            (key, at)
            for key, at in store.entries(f"{tenant_prefix(tenant.id)}{target.prefix}")
            if at < cutoff
        ]
        if not dry:
            keys = [k for k, _ in expired]
            for start in range(0, len(keys), self.batch):
                store.delete(keys[start : start + self.batch])
        return len(expired), max((at for _, at in expired), default=None)

    def _warehouse(
        self, tenant: Tenant, target: Target, cutoff: datetime, dry: bool
    ) -> tuple[int, datetime | None]:
        if not self.warehouse.exists():
            return 0, None
        naive = cutoff.astimezone(UTC).replace(tzinfo=None)  # the warehouse keeps UTC, naive
        where = "tenant_id = CAST(? AS UUID) AND metric = ? AND occurred_at < ?"
        params = [str(tenant.id), target.metric, naive]
        with open_warehouse(self.warehouse, read_only=dry) as conn:
            if "usage_events" not in table_names(conn):
                return 0, None
            conn.execute("BEGIN")
            count, newest = conn.execute(
                f"SELECT count(*), max(occurred_at) FROM usage_events WHERE {where}", params
            ).fetchone() or (0, None)
            if not dry and count:
                conn.execute(f"DELETE FROM usage_events WHERE {where}", params)
            conn.execute("COMMIT")
        return int(count), newest.replace(tzinfo=UTC) if newest is not None else None

    def _executions(
        self, tenant: Tenant, cutoff: datetime, dry: bool
    ) -> tuple[int, datetime | None]:
        total, newest = 0, _Latest()
        while True:
            with self.db.platform() as conn:
                row = conn.execute(
                    "SELECT deleted, newest FROM registry.sweep_executions(%s, %s, %s, %s)",
                    (tenant.id, cutoff, self.batch, dry),
                ).fetchone()
            assert row is not None
            n = int(str(row["deleted"]))
            total += n
            newest.see(row["newest"])
            if dry or n < self.batch:
                return total, newest.value

    def drop_expired_months(
        self, tenants: list[Tenant], now: datetime, dry: bool
    ) -> dict[uuid.UUID, tuple[int, datetime | None]]:
        """Drop each month of agent executions that every tenant with rows in it no longer
        needs (past its cutoff, not on hold); returns what each tenant lost that way."""
        by_id = {t.id: t for t in tenants}
        with self.db.platform() as conn:
            rows = conn.execute("SELECT * FROM registry.execution_partitions()").fetchall()
            conn.execute("SELECT registry.ensure_execution_month(%s)", (now,))
            conn.execute("SELECT registry.ensure_execution_month(%s)", (now + timedelta(days=31),))
        months: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            months.setdefault(str(r["name"]), []).append(r)
        dropped: dict[uuid.UUID, tuple[int, datetime | None]] = {}
        for name, holders in months.items():
            hi = holders[0]["hi"]
            assert isinstance(hi, datetime)
            present = [h for h in holders if h["tenant_id"] is not None]
            if not present and hi > now:
                continue  # the month in progress or ahead, empty so far
            expired = all(
                (d := decide(by_id[h["tenant_id"]], "agent_executions", self.policy, now)).cutoff
                is not None
                and d.cutoff >= hi
                for h in present
            )
            if not expired:
                continue
            if not dry:
                with self.db.platform() as conn:
                    conn.execute("SELECT registry.drop_execution_month(%s)", (name,))
            for h in present:
                dropped[h["tenant_id"]] = (int(h["rows"]), h["newest"])
        return dropped

    def _target(
        self, tenant: Tenant, target: Target, cutoff: datetime, dry: bool
    ) -> tuple[int, datetime | None]:
        if target.kind == "storage":
            return self._storage(tenant, target, cutoff, dry)
        if target.kind == "warehouse":
            return self._warehouse(tenant, target, cutoff, dry)
        if target.table == "audit_log":
            return self._audit(tenant, cutoff, dry)
        if target.table == "agent_executions":
            return self._executions(tenant, cutoff, dry)
        return self._documents(tenant, cutoff, dry)

    def sweep(self, now: datetime, run_id: str, dry_run: bool = False) -> list[SweepRow]:
        """Sweep every tenant (or, dry, count); record and audit what was done per tenant."""
        rows: list[SweepRow] = []
        tenants = list_tenants(self.db)
        dropped = self.drop_expired_months(tenants, now, dry_run)
        for tenant in tenants:
            mine: list[SweepRow] = []
            for category, targets in self.policy.targets.items():
                decision = decide(tenant, category, self.policy, now)
                for target in targets:
                    base = SweepRow(
                        tenant.id,
                        tenant.slug,
                        tenant.status.value,
                        category,
                        target.describe(),
                        decision.outcome,
                        decision.cutoff,
                    )
                    if decision.outcome != "due" or decision.cutoff is None:
                        mine.append(base)
                        continue
                    count, newest = self._target(tenant, target, decision.cutoff, dry_run)
                    if target.table == "agent_executions" and tenant.id in dropped and not dry_run:
                        more, latest = dropped[tenant.id]  # whole months dropped
                        count += more
                        newest = max(filter(None, (newest, latest)), default=None)
                    outcome = "would_delete" if dry_run else "deleted"
                    mine.append(
                        SweepRow(
                            **{
                                **base.__dict__,
                                "outcome": outcome,
                                "count": count,
                                "newest": newest,
                            }
                        )
                    )
            if not dry_run:
                self._record(tenant, mine, run_id, now)
            rows += mine
        return rows

    def _record(self, tenant: Tenant, rows: list[SweepRow], run_id: str, now: datetime) -> None:
        kept = [r for r in rows if r.outcome in ("deleted", "blocked_by_hold")]
        if not kept:
            return
        with self.db.platform() as conn:
            for r in kept:
                conn.execute(
                    "INSERT INTO registry.retention_runs (run_id, tenant_id, category, target, outcome, "
                    "cutoff, deleted, newest_deleted, recorded_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (run_id, tenant_id, category, target) DO UPDATE SET "
                    "deleted = registry.retention_runs.deleted + EXCLUDED.deleted, "
                    "newest_deleted = greatest(registry.retention_runs.newest_deleted, EXCLUDED.newest_deleted), "
                    "outcome = EXCLUDED.outcome, recorded_at = EXCLUDED.recorded_at",
                    (
                        run_id,
                        r.tenant_id,
                        r.category,
                        r.target,
                        r.outcome,
                        r.cutoff,
                        r.count,
                        r.newest,
                        now,
                    ),
                )
            blocked = any(r.outcome == "blocked_by_hold" for r in kept)
            deleted = {f"{r.category}: {r.target}": r.count for r in kept if r.count}
            if blocked or deleted:
                action = "retention.sweep.blocked_by_hold" if blocked else "retention.sweep"
                audit.record(
                    conn,
                    tenant.id,
                    "retention",
                    action,
                    f"tenant:{tenant.id}",
                    {"run_id": run_id, "deleted": deleted},
                )
