"""Custom domains: claim, prove by DNS, re-check, release. The control plane's half.

Only a tenant entitled to `custom_domain` (its plan, or an override) may claim or verify a
name, and only such a tenant's held names are served: a downgrade or a withdrawn feature drops
the routes at the next stack generation, while the claims stay, so regaining the feature
restores them.

Every change is one transaction with its audit entry (and, for a claim, the owners' message
with the token). A name is held across tenants only once proven (`HELD`); the DNS lookup
runs outside any transaction, and its result is applied only if the row has not changed
meanwhile, so a slow resolver never holds a lock.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import psycopg

from tenancy import audit
from tenancy.db.session import Connection, Database
from tenancy.dns_check import Check, CheckResult, check_token
from tenancy.domain_model import (
    COLUMNS,
    HELD,
    OPEN,
    CheckOutcome,
    Claim,
    Domain,
    DomainError,
    DomainStatus,
)
from tenancy.domain_names import display_name, normalise_domain, refuse_platform_domain
from tenancy.domain_settings import TOKEN_LIFETIME, DomainSettings
from tenancy.domain_tokens import new_token, token_hash
from tenancy.entitlements import ensure_entitled, is_entitled, load_overrides
from tenancy.errors import NotFoundError
from tenancy.notifications import enqueue
from tenancy.plans import PlanCatalog, default_catalog
from tenancy.registry import get_tenant
from tenancy.tenant import TENANT_COLUMNS, Tenant, TenantStatus

ACTOR = "platform:domains"
FEATURE = "custom_domain"


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _lock_tenant(conn: Connection, tenant_id: uuid.UUID) -> Tenant:
    row = conn.execute(
        f"SELECT {TENANT_COLUMNS} FROM registry.tenants WHERE id = %s FOR UPDATE", (tenant_id,)
    ).fetchone()
    if row is None:
        raise NotFoundError("tenant", tenant_id)
    return Tenant.from_row(row)


def _ensure_feature(conn: Connection, tenant: Tenant, catalog: PlanCatalog | None) -> None:
    """Refuse a tenant whose plan and overrides do not give it custom domains."""
    plans = catalog or default_catalog()
    ensure_entitled(plans, plans.get(tenant.plan), load_overrides(conn, tenant.id), FEATURE)


def add_domain(
    db: Database,
    tenant_key: str | uuid.UUID,
    name: str,
    settings: DomainSettings,
    *,
    actor: str = ACTOR,
    now: datetime | None = None,
    catalog: PlanCatalog | None = None,
) -> Claim:
    """Claim `name` for a tenant entitled to custom domains: a fresh token, the owners'
    message, an audit entry."""
    at = _now(now)
    domain = normalise_domain(name)
    refuse_platform_domain(domain, settings.platform_domains)
    tenant_id = get_tenant(db, tenant_key).id
    token = new_token()
    with db.platform() as conn:
        tenant = _lock_tenant(conn, tenant_id)
        if tenant.status is not TenantStatus.ACTIVE:
            raise DomainError(
                domain, f"tenant {tenant.slug} is {tenant.status.value}; expected active"
            )
        _ensure_feature(conn, tenant, catalog)
        held = conn.execute(
            "SELECT tenant_id FROM registry.domains WHERE domain = %s AND status = ANY(%s)",
            (domain, [s.value for s in HELD]),
        ).fetchone()
        if held is not None and held["tenant_id"] != tenant.id:
            raise DomainError(domain, f"domain {domain} is held by another tenant")
        mine = conn.execute(
            "SELECT status FROM registry.domains WHERE tenant_id = %s AND domain = %s "
            "AND status = ANY(%s)",
            (tenant.id, domain, [s.value for s in OPEN]),
        ).fetchone()
        if mine is not None:
            raise DomainError(
                domain,
                f"tenant {tenant.slug} already claims {domain} ({mine['status']}); "
                "verify it, or remove it first for a new token",
            )
        row = conn.execute(
            f"INSERT INTO registry.domains (tenant_id, domain, token_sha256, token_expires_at, "
            f"created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}",
            (tenant.id, domain, token_hash(token), at + TOKEN_LIFETIME, at, at),
        ).fetchone()
        assert row is not None
        claim = Claim(Domain.from_row(row), token)
        audit.record(
            conn, tenant.id, actor, "domain.add", domain,
            {"record": claim.domain.record_name,
             "token_expires_at": (at + TOKEN_LIFETIME).isoformat()},
        )  # fmt: skip
        enqueue(
            conn, tenant, "domain_token",
            {"domain": display_name(domain), "record": claim.domain.record_name,
             "token": token, "expires": (at + TOKEN_LIFETIME).isoformat()},
            at,
        )  # fmt: skip
    return claim


def _row(conn: Connection, domain_id: uuid.UUID, lock: bool = False) -> dict[str, Any]:
    suffix = " FOR UPDATE" if lock else ""
    row = conn.execute(
        f"SELECT {COLUMNS}, token_sha256 FROM registry.domains WHERE id = %s{suffix}",
        (domain_id,),
    ).fetchone()
    if row is None:
        raise NotFoundError("domain", domain_id)
    return dict(row)


def _open_row(conn: Connection, tenant_id: uuid.UUID, domain: str) -> dict[str, Any]:
    row = conn.execute(
        f"SELECT {COLUMNS}, token_sha256 FROM registry.domains WHERE tenant_id = %s "
        "AND domain = %s AND status = ANY(%s)",
        (tenant_id, domain, [s.value for s in OPEN]),
    ).fetchone()
    if row is None:
        raise NotFoundError("domain claim", domain)
    return dict(row)


def _next_state(
    row: dict[str, Any], check: Check, at: datetime, settings: DomainSettings
) -> dict[str, Any]:
    """The columns to change for one check result."""
    status = DomainStatus(row["status"])
    if check.result is CheckResult.ERROR:
        return {}  # transient: the resolver failed, nothing is learned about the domain
    if status is DomainStatus.PENDING:
        if check.result is CheckResult.MATCH:
            return {"status": DomainStatus.VERIFIED, "verified_at": at}
        return {}
    if check.result is CheckResult.MATCH:
        target = DomainStatus.ACTIVE
        return {"status": target, "missing_since": None}
    missing_since = row["missing_since"] or at
    if at - missing_since > settings.grace:
        return {"status": DomainStatus.REVOKED, "missing_since": None}
    return {"status": DomainStatus.FAILED, "missing_since": missing_since}


def _release_hold(
    conn: Connection, row: dict[str, Any], at: datetime, settings: DomainSettings
) -> datetime | None:
    """When another tenant's release (or revocation) of this name still holds it."""
    last = conn.execute(
        "SELECT max(coalesce(released_at, updated_at)) AS at FROM registry.domains "
        "WHERE domain = %s AND tenant_id <> %s AND status IN ('released', 'revoked')",
        (row["domain"], row["tenant_id"]),
    ).fetchone()
    released = last["at"] if last is not None else None
    if isinstance(released, datetime) and at < released + settings.release_hold:
        return released + settings.release_hold
    return None


def _apply(
    conn: Connection,
    row: dict[str, Any],
    check: Check | None,
    changes: dict[str, Any],
    at: datetime,
    actor: str,
) -> Domain:
    columns: dict[str, Any] = {**changes, "updated_at": at}
    if check is not None:
        columns |= {"last_checked_at": at, "last_result": check.result.value,
                    "last_detail": check.detail}  # fmt: skip
    assignments = ", ".join(f"{name} = %s" for name in columns)
    values = [v.value if isinstance(v, StrEnum) else v for v in columns.values()]
    try:
        updated = conn.execute(
            f"UPDATE registry.domains SET {assignments} WHERE id = %s RETURNING {COLUMNS}",
            (*values, row["id"]),
        ).fetchone()
    except psycopg.errors.UniqueViolation:
        raise DomainError(
            row["domain"], f"domain {row['domain']} was proven by another tenant first"
        ) from None
    assert updated is not None
    domain = Domain.from_row(updated)
    if "status" in changes and domain.status.value != row["status"]:
        audit.record(
            conn, domain.tenant_id, actor, f"domain.{domain.status.value}", domain.domain,
            {"from": row["status"], "result": check.result.value if check else None,
             "detail": check.detail if check else "token expired"},
        )  # fmt: skip
    return domain


def check_domain(
    db: Database,
    domain_id: uuid.UUID,
    settings: DomainSettings,
    *,
    actor: str = ACTOR,
    now: datetime | None = None,
) -> CheckOutcome:
    """Check one open claim against DNS and record the result (and any state change)."""
    at = _now(now)
    with db.platform() as conn:
        before = _row(conn, domain_id)
    previous = DomainStatus(before["status"])
    if previous not in OPEN:
        return CheckOutcome(Domain.from_row(before), previous, None)
    expired = previous is DomainStatus.PENDING and at >= before["token_expires_at"]
    check = None if expired else check_token(before["domain"], before["token_sha256"], settings)
    with db.platform() as conn:
        row = _row(conn, domain_id, lock=True)
        if row["status"] != before["status"] or row["updated_at"] != before["updated_at"]:
            return CheckOutcome(Domain.from_row(row), previous, None)  # changed meanwhile
        if check is None:
            changes: dict[str, Any] = {"status": DomainStatus.EXPIRED}
        else:
            changes = _next_state(row, check, at, settings)
            held_until = _release_hold(conn, row, at, settings)
            if changes.get("status") is DomainStatus.VERIFIED and held_until is not None:
                changes = {}
                check = Check(
                    check.result,
                    f"{check.detail}; another tenant let this name go recently: it can be "
                    f"proven from {held_until.isoformat()}",
                )
        domain = _apply(conn, row, check, changes, at, actor)
    return CheckOutcome(domain, previous, check)


def verify_domain(
    db: Database,
    tenant_key: str | uuid.UUID,
    name: str,
    settings: DomainSettings,
    *,
    actor: str = ACTOR,
    now: datetime | None = None,
    catalog: PlanCatalog | None = None,
) -> CheckOutcome:
    """Look the tenant's claim on `name` up in DNS now (what the schedule also does); only for
    a tenant entitled to custom domains."""
    domain = normalise_domain(name)
    tenant = get_tenant(db, tenant_key)
    with db.platform() as conn:
        _ensure_feature(conn, tenant, catalog)
        row = _open_row(conn, tenant.id, domain)
    return check_domain(db, row["id"], settings, actor=actor, now=now)


def recheck_open(
    db: Database, settings: DomainSettings, *, now: datetime | None = None, limit: int = 1000
) -> list[CheckOutcome]:
    """Check every open claim (pending and held), least recently checked first."""
    with db.platform() as conn:
        ids = [
            uuid.UUID(str(r["id"]))
            for r in conn.execute(
                "SELECT id FROM registry.domains WHERE status = ANY(%s) "
                "ORDER BY last_checked_at NULLS FIRST, id LIMIT %s",
                ([s.value for s in OPEN], limit),
            ).fetchall()
        ]
    return [check_domain(db, domain_id, settings, now=now) for domain_id in ids]


def remove_domain(
    db: Database,
    tenant_key: str | uuid.UUID,
    name: str,
    *,
    actor: str = ACTOR,
    now: datetime | None = None,
) -> Domain:
    """Release the tenant's claim: the next stack generation drops its certificate and route."""
    at = _now(now)
    domain = normalise_domain(name)
    tenant = get_tenant(db, tenant_key)
    with db.platform() as conn:
        row = _open_row(conn, tenant.id, domain)
        row = _row(conn, row["id"], lock=True)
        changes = {"status": DomainStatus.RELEASED, "released_at": at, "missing_since": None}
        return _apply(conn, row, None, changes, at, actor)


def release_tenant_domains(
    conn: Connection, tenant_id: uuid.UUID, now: datetime, actor: str = ACTOR
) -> int:
    """Release every open claim of a tenant, in the caller's transaction (a purge)."""
    rows = conn.execute(
        f"SELECT {COLUMNS}, token_sha256 FROM registry.domains WHERE tenant_id = %s "
        "AND status = ANY(%s) FOR UPDATE",
        (tenant_id, [s.value for s in OPEN]),
    ).fetchall()
    for row in rows:
        changes = {"status": DomainStatus.RELEASED, "released_at": now, "missing_since": None}
        _apply(conn, dict(row), None, changes, now, actor)
    return len(rows)


def list_domains(db: Database, tenant_key: str | uuid.UUID | None = None) -> list[Domain]:
    """Every claim (of one tenant, or all), newest first."""
    params: tuple[uuid.UUID, ...]
    where, params = "", ()
    if tenant_key is not None:
        where, params = "WHERE tenant_id = %s", (get_tenant(db, tenant_key).id,)
    with db.platform() as conn:
        rows = conn.execute(
            f"SELECT {COLUMNS} FROM registry.domains {where} ORDER BY created_at DESC, domain",
            params,
        ).fetchall()
    return [Domain.from_row(r) for r in rows]


def tenant_for_host(db: Database, host: str, catalog: PlanCatalog | None = None) -> Tenant:
    """The tenant that serves `host`: a domain it proved and holds (verified, active, or failed
    within its grace period) while entitled to custom domains, as `served_domains` decides for
    the stacks. `tenants.domain` alone never routes a request: an unproven name must not reach
    a tenant through the request path any more than through a stack."""
    name = normalise_domain(host, "host")
    with db.platform() as conn:
        row = conn.execute(
            f"SELECT {', '.join('t.' + c.strip() for c in TENANT_COLUMNS.split(','))} "
            "FROM registry.domains d JOIN registry.tenants t ON t.id = d.tenant_id "
            "WHERE d.domain = %s AND d.status = ANY(%s)",
            (name, [s.value for s in HELD]),
        ).fetchone()
        if row is None:
            raise NotFoundError("tenant serving host", host)
        tenant = Tenant.from_row(row)
        overrides = load_overrides(conn, tenant.id)
    if not is_entitled((catalog or default_catalog()).get(tenant.plan), overrides, FEATURE):
        raise NotFoundError("tenant serving host", host)
    return tenant


def served_domains(
    db: Database, catalog: PlanCatalog | None = None
) -> dict[uuid.UUID, tuple[str, ...]]:
    """Per tenant, the domains its stack serves: held, of a tenant neither deleted nor purged
    and entitled to custom domains (plan or override). A tenant that lost the feature keeps its
    claims but serves none of them until it regains it."""
    plans = catalog or default_catalog()
    with db.platform() as conn:
        rows = conn.execute(
            "SELECT d.tenant_id, d.domain, t.plan FROM registry.domains d "
            "JOIN registry.tenants t ON t.id = d.tenant_id "
            "WHERE d.status = ANY(%s) AND t.status IN ('active', 'suspended') "
            "ORDER BY d.tenant_id, d.domain",
            ([s.value for s in HELD],),
        ).fetchall()
        overrides: dict[uuid.UUID, dict[str, bool]] = {}
        for o in conn.execute(
            "SELECT tenant_id, feature, granted FROM registry.feature_overrides "
            "WHERE tenant_id = ANY(%s)",
            (list({r["tenant_id"] for r in rows}),),
        ).fetchall():
            tid = uuid.UUID(str(o["tenant_id"]))
            overrides.setdefault(tid, {})[str(o["feature"])] = bool(o["granted"])
    served: dict[uuid.UUID, list[str]] = {}
    for row in rows:
        tenant = uuid.UUID(str(row["tenant_id"]))
        if is_entitled(plans.get(str(row["plan"])), overrides.get(tenant, {}), FEATURE):
            served.setdefault(tenant, []).append(str(row["domain"]))
    return {tenant: tuple(names) for tenant, names in served.items()}
