"""Lifecycle transitions in the registry: one transaction per state change, with its audit entry.

The tenant row is locked (`FOR UPDATE`), the transition checked against the state found there
(`tenancy.lifecycle`), and the row, the tenant's agents, the audit entry and the owners'
notifications are written together. What lives outside the database (the request path's
status in Redis, the tenant's Redis user) follows after the commit (`tenancy.lifecycle_runtime`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg import sql

from tenancy import audit
from tenancy.db.session import Connection, Database
from tenancy.domains import release_tenant_domains
from tenancy.errors import NotFoundError
from tenancy.lifecycle import Outcome, Transition, TransitionPlan, plan_transition
from tenancy.notifications import notify_owners
from tenancy.plans import PlanCatalog, default_catalog
from tenancy.storage_move import start_move
from tenancy.tenant import TENANT_COLUMNS, Tenant, TenantStatus
from tenancy.validation import parse_tenant_id, validate_slug

_DEFAULT_SETTINGS: dict[str, dict[str, object]] = {
    "features": {},
    "integrations": {},
    "customizations": {},
}


@dataclass(frozen=True)
class TransitionResult:
    """The tenant after the transition (or as it is, for a dry run or a blocked purge)."""

    tenant: Tenant
    plan: TransitionPlan
    dry_run: bool
    audit_seq: int | None = None
    effects: dict[str, Any] = field(default_factory=dict)

    @property
    def applied(self) -> bool:
        return not self.dry_run and self.plan.outcome is Outcome.APPLIED

    def to_json(self) -> dict[str, Any]:
        return {
            **self.plan.to_json(),
            "tenant": self.tenant.to_json(),
            "dry_run": self.dry_run,
            "audit_seq": self.audit_seq,
            "effects": self.effects,
        }


def _lock(conn: Connection, key: str | uuid.UUID) -> Tenant:
    if isinstance(key, uuid.UUID) or (len(key) == 36 and "-" in key):
        column, value = "id", str(parse_tenant_id(key))
    else:
        column, value = "slug", validate_slug(key)
    row = conn.execute(
        f"SELECT {TENANT_COLUMNS} FROM registry.tenants WHERE {column} = %s FOR UPDATE", (value,)
    ).fetchone()
    if row is None:
        raise NotFoundError("tenant", key)
    return Tenant.from_row(row)


def _update(conn: Connection, tenant: Tenant, plan: TransitionPlan, now: datetime) -> Tenant:
    changes: dict[str, Any] = {**plan.changes, "updated_at": now}
    if plan.to_status is not plan.from_status:
        changes |= {"status": plan.to_status.value, "status_changed_at": now}
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = %s").format(sql.Identifier(column)) for column in changes
    )
    row = conn.execute(
        sql.SQL("UPDATE registry.tenants SET {} WHERE id = %s RETURNING {}").format(
            assignments, sql.SQL(TENANT_COLUMNS)
        ),
        (*changes.values(), tenant.id),
    ).fetchone()
    assert row is not None
    return Tenant.from_row(row)


def _agents(conn: Connection, tenant_id: uuid.UUID, stop: bool) -> int:
    row = conn.execute(
        "SELECT registry.lifecycle_agents(%s, %s) AS n", (tenant_id, stop)
    ).fetchone()
    assert row is not None
    return int(str(row["n"]))


def _purge_rows(conn: Connection, tenant: Tenant, now: datetime) -> dict[str, int]:
    """Remove the tenant's rows and scrub its registry row down to a tombstone."""
    row = conn.execute("SELECT registry.purge_tenant_rows(%s) AS removed", (tenant.id,)).fetchone()
    assert row is not None
    removed = dict(row["removed"])  # type: ignore[call-overload]
    release_tenant_domains(conn, tenant.id, now)  # its routes went with the deletion
    conn.execute(
        "UPDATE registry.tenants SET name = 'purged tenant', domain = NULL, settings = %s, "
        "limit_overrides = '{}' WHERE id = %s",
        (json.dumps(_DEFAULT_SETTINGS), tenant.id),
    )
    return {str(k): int(v) for k, v in removed.items()}


def _deletion_record(
    conn: Connection,
    tenant: Tenant,
    actor: str,
    plan: TransitionPlan,
    removed: dict[str, int],
) -> None:
    head = conn.execute(
        "SELECT seq, hash FROM registry.audit_log WHERE tenant_id = %s ORDER BY seq DESC LIMIT 1",
        (tenant.id,),
    ).fetchone()
    assert head is not None  # the purge's own entry at least
    export = conn.execute(
        "SELECT details->>'manifest_sha256' AS sha FROM registry.audit_log WHERE tenant_id = %s "
        "AND action = 'tenant.export' ORDER BY seq DESC LIMIT 1",
        (tenant.id,),
    ).fetchone()
    conn.execute(
        "INSERT INTO registry.tenant_deletions (tenant_id, slug, plan, deleted_at, purged_at, "
        "actor, forced, removed, export_manifest_sha256, audit_head_seq, audit_head_hash) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            tenant.id,
            tenant.slug,
            tenant.plan,
            tenant.deleted_at,
            tenant.purged_at,
            actor,
            bool(plan.details.get("forced")),
            json.dumps(removed),
            None if export is None else export["sha"],
            head["seq"],
            head["hash"],
        ),
    )


def apply_transition(
    db: Database,
    key: str | uuid.UUID,
    transition: Transition,
    *,
    actor: str = "platform",
    reason: str | None = None,
    plan: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    now: datetime | None = None,
    catalog: PlanCatalog | None = None,
) -> TransitionResult:
    """Check and apply one transition in one transaction with its audit entry.

    A dry run takes the same lock and checks, and writes nothing. A purge under legal hold
    writes only its audited `blocked_by_hold` outcome.
    """
    at = now or datetime.now(UTC)
    if plan is not None:
        plan = (catalog or default_catalog()).get(plan).name
    with db.platform() as conn:
        tenant = _lock(conn, key)
        planned = plan_transition(tenant, transition, at, reason=reason, plan=plan, force=force)
        if dry_run:
            return TransitionResult(tenant, planned, dry_run=True)
        target = f"tenant:{tenant.id}"
        if planned.outcome is Outcome.BLOCKED_BY_HOLD:
            seq = audit.record(
                conn,
                tenant.id,
                actor,
                f"tenant.{transition}.blocked_by_hold",
                target,
                planned.details,
            )
            return TransitionResult(tenant, planned, dry_run=False, audit_seq=seq)
        effects: dict[str, Any] = {}
        if transition in (Transition.SUSPEND, Transition.DELETE):
            effects["agents_stopped"] = _agents(conn, tenant.id, stop=True)
        elif (
            planned.to_status is TenantStatus.ACTIVE
            and planned.from_status is not TenantStatus.ACTIVE
        ):
            effects["agents_restarted"] = _agents(conn, tenant.id, stop=False)
        if transition is Transition.CHANGE_PLAN:
            planned.details["storage_move"] = _storage_move(tenant.plan, plan, catalog)
            to_model = (catalog or default_catalog()).get(plan or tenant.plan).storage.model
            move_id = start_move(conn, tenant, to_model, actor, at, catalog)
            if move_id is not None:
                effects["storage_move_id"] = str(move_id)
        # Owners are read before a purge removes them; the messages carry their addresses.
        notified = notify_owners(conn, tenant, transition, planned.details, at)
        if notified:
            effects["owners_notified"] = notified
        if transition is Transition.PURGE:
            effects["removed"] = _purge_rows(conn, tenant, at)
        after = _update(conn, tenant, planned, at)
        seq = audit.record(
            conn, tenant.id, actor, f"tenant.{transition}", target, {**planned.details, **effects}
        )
        if transition is Transition.PURGE:
            _deletion_record(conn, after, actor, planned, effects["removed"])
    return TransitionResult(after, planned, dry_run=False, audit_seq=seq, effects=effects)


def _storage_move(old: str, new: str | None, catalog: PlanCatalog | None) -> str | None:
    """`shared_prefix->dedicated_bucket` (or back) when the plan change moves the storage."""
    plans = catalog or default_catalog()
    before, after = plans.get(old).storage.model, plans.get(new or old).storage.model
    return None if before == after else f"{before}->{after}"


def deletion_record(db: Database, tenant_id: uuid.UUID) -> dict[str, Any] | None:
    """The record a purge left behind, or None."""
    with db.platform() as conn:
        row = conn.execute(
            "SELECT tenant_id::text AS tenant_id, slug, plan, deleted_at, purged_at, actor, forced, "
            "removed, export_manifest_sha256, audit_head_seq, encode(audit_head_hash, 'hex') AS "
            "audit_head_hash FROM registry.tenant_deletions WHERE tenant_id = %s",
            (tenant_id,),
        ).fetchone()
        if row is None:
            return None
        steps = conn.execute(
            "SELECT step, started_at, finished_at, detail FROM registry.deletion_steps "
            "WHERE tenant_id = %s ORDER BY started_at, step",
            (tenant_id,),
        ).fetchall()
    # The purge's steps outside the database (key, objects, bucket, schema, Redis, warehouse).
    return {
        **row,
        "steps": {str(s["step"]): {k: v for k, v in s.items() if k != "step"} for s in steps},
    }
