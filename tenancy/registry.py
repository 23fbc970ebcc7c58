"""The tenant registry as the control plane sees it: create, list and look up tenants."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import errors as pg_errors

from tenancy import audit
from tenancy.admin_mail import welcome_message
from tenancy.db.session import Connection, Database
from tenancy.errors import InvalidInputError, NotFoundError, TenantExistsError
from tenancy.limits import parse_overrides
from tenancy.notifications import enqueue_message
from tenancy.plans import PlanCatalog, default_catalog
from tenancy.tenant import TENANT_COLUMNS, MemberRole, Tenant, TenantStatus
from tenancy.validation import (
    UUID_TEXT,
    parse_tenant_id,
    slugify,
    validate_domain,
    validate_email_address,
    validate_name,
    validate_slug,
)

_UNIQUE_FIELDS = {"tenants_slug_key": "slug", "tenants_domain_key": "domain"}


@dataclass(frozen=True)
class NewTenant:
    tenant: Tenant
    owner_id: uuid.UUID


def create_tenant(
    db: Database,
    *,
    name: str,
    domain: str,
    plan: str,
    owner_email: str,
    slug: str | None = None,
    limit_overrides: dict[str, Any] | None = None,
    actor: str = "platform",
    catalog: PlanCatalog | None = None,
    tenant_id: uuid.UUID | None = None,
) -> NewTenant:
    """Register a tenant with its owner, membership and audit entry, all in one transaction.

    Everything is validated before the database is touched; a conflict inside the
    transaction (slug or domain taken) rolls all of it back.
    """
    name = validate_name(name)
    domain = validate_domain(domain)
    chosen_plan = (catalog or default_catalog()).get(plan)
    email = validate_email_address(owner_email, field="owner email")
    slug = validate_slug(slug) if slug is not None else slugify(name)
    overrides = {k: v.to_data() for k, v in parse_overrides(limit_overrides).items()}
    tenant_id = tenant_id or uuid.uuid4()  # given when importing a tenant from elsewhere
    try:
        with db.platform() as conn:
            row = conn.execute(
                "INSERT INTO registry.tenants (id, slug, name, domain, plan, limit_overrides) "
                f"VALUES (%s, %s, %s, %s, %s, %s) RETURNING {TENANT_COLUMNS}",
                (tenant_id, slug, name, domain, chosen_plan.name, json.dumps(overrides)),
            ).fetchone()
            owner_id = user_id_for(conn, email)
            assert row is not None
            conn.execute(
                "INSERT INTO registry.user_tenants (tenant_id, user_id, role) VALUES (%s, %s, %s)",
                (tenant_id, owner_id, MemberRole.OWNER.value),
            )
            subject, body = welcome_message(name, slug, chosen_plan.name)
            enqueue_message(
                conn,
                tenant_id,
                "welcome",
                email,
                subject,
                body,
                row["created_at"],  # type: ignore[arg-type]
            )
            audit.record(
                conn,
                tenant_id,
                actor,
                "tenant.create",
                f"tenant:{tenant_id}",
                {"slug": slug, "plan": chosen_plan.name, "domain": domain, "owner": email},
            )
    except pg_errors.UniqueViolation as exc:
        field = _UNIQUE_FIELDS.get(exc.diag.constraint_name or "")
        if field is None:
            raise
        raise TenantExistsError(field, slug if field == "slug" else domain) from None
    return NewTenant(Tenant.from_row(row), owner_id)


def user_id_for(conn: Connection, email: str) -> uuid.UUID:
    """The user with `email`, created if new (users are platform-wide identities)."""
    row = conn.execute(
        "INSERT INTO registry.users (email) VALUES (%s) ON CONFLICT (email) DO NOTHING RETURNING id",
        (email,),
    ).fetchone()
    if row is None:  # already registered; a separate statement sees a concurrent insert too
        row = conn.execute("SELECT id FROM registry.users WHERE email = %s", (email,)).fetchone()
    assert row is not None
    return uuid.UUID(str(row["id"]))


def add_member(
    db: Database,
    tenant_id: uuid.UUID,
    email: str,
    role: MemberRole = MemberRole.MEMBER,
    actor: str = "platform",
) -> uuid.UUID:
    """Add a user (created if new) to a tenant, with an audit entry; returns the user id."""
    address = validate_email_address(email)
    try:
        with db.platform() as conn:
            user_id = user_id_for(conn, address)
            conn.execute(
                "INSERT INTO registry.user_tenants (tenant_id, user_id, role) VALUES (%s, %s, %s)",
                (tenant_id, user_id, role.value),
            )
            audit.record(
                conn,
                tenant_id,
                actor,
                "member.add",
                f"user:{user_id}",
                {"email": address, "role": role.value},
            )
    except pg_errors.UniqueViolation:
        raise InvalidInputError(
            "member email", address, "someone not yet a member of the tenant"
        ) from None
    except pg_errors.ForeignKeyViolation:
        raise NotFoundError("tenant", tenant_id) from None
    return user_id


def list_tenants(db: Database, status: TenantStatus | None = None) -> list[Tenant]:
    """Every tenant, oldest first, optionally only those in `status`."""
    query = f"SELECT {TENANT_COLUMNS} FROM registry.tenants"
    params: tuple[object, ...] = ()
    if status is not None:
        query += " WHERE status = %s"
        params = (status.value,)
    with db.platform() as conn:
        rows = conn.execute(query + " ORDER BY created_at, slug", params).fetchall()
    return [Tenant.from_row(row) for row in rows]


def get_tenant(db: Database, key: str | uuid.UUID) -> Tenant:
    """A tenant by id (a UUID, or text in the canonical 8-4-4-4-12 form) or else by slug;
    raises `NotFoundError`. Slugs can never be shaped like a UUID, so the two never collide."""
    if isinstance(key, uuid.UUID) or (isinstance(key, str) and UUID_TEXT.fullmatch(key)):
        return get_tenant_by_id(db, key)
    return get_tenant_by_slug(db, key)


def get_tenant_by_id(db: Database, tenant_id: str | uuid.UUID) -> Tenant:
    return _get_one(db, "id", str(parse_tenant_id(tenant_id)), tenant_id)


def get_tenant_by_slug(db: Database, slug: str) -> Tenant:
    return _get_one(db, "slug", validate_slug(slug), slug)


def _get_one(db: Database, column: str, value: str, key: object) -> Tenant:
    if column not in ("id", "slug", "domain"):
        raise ValueError(f"column is {column!r}; expected id, slug or domain")
    with db.platform() as conn:
        row = conn.execute(
            f"SELECT {TENANT_COLUMNS} FROM registry.tenants WHERE {column} = %s", (value,)
        ).fetchone()
    if row is None:
        raise NotFoundError("tenant", key)
    return Tenant.from_row(row)


@dataclass(frozen=True)
class ResourceCounts:
    users: int
    agents: int


def resource_counts(db: Database) -> dict[uuid.UUID, ResourceCounts]:
    """Members and agents per tenant (every tenant, zeros included), for quota enforcement."""
    with db.platform() as conn:
        rows = conn.execute(
            "SELECT t.id, "
            "  (SELECT count(*) FROM registry.user_tenants m WHERE m.tenant_id = t.id) AS users, "
            "  (SELECT count(*) FROM registry.agents a WHERE a.tenant_id = t.id) AS agents "
            "FROM registry.tenants t"
        ).fetchall()
    return {
        uuid.UUID(str(r["id"])): ResourceCounts(int(str(r["users"])), int(str(r["agents"])))
        for r in rows
    }


def owner_emails(db: Database, tenant_id: uuid.UUID) -> list[str]:
    with db.platform() as conn:
        rows = conn.execute(
            "SELECT u.email FROM registry.user_tenants m JOIN registry.users u ON u.id = m.user_id "
            "WHERE m.tenant_id = %s AND m.role = 'owner' ORDER BY u.email",
            (tenant_id,),
        ).fetchall()
    return [str(r["email"]) for r in rows]


__all__ = [
    "NewTenant",
    "ResourceCounts",
    "create_tenant",
    "get_tenant",
    "list_tenants",
    "owner_emails",
    "resource_counts",
    "user_id_for",
]
