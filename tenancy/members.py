"""A tenant's members: list, change a role, remove, leave. Every change is audited.

These run in the tenant's own transaction (`Database.tenant`, the request path's role), so
row-level security confines them to that tenant whatever the caller passes. Each change first
locks the tenant's row (`FOR NO KEY UPDATE`): administrative changes of one tenant run one at
a time, which is what keeps the last-owner rule and the user limit true under concurrent
callers (two owners demoting each other at once: the second sees the first's change).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tenancy import audit
from tenancy.admin_errors import LastOwnerError, PermissionDeniedError
from tenancy.db.session import Connection, Database
from tenancy.errors import NotFoundError
from tenancy.member_permissions import Action, allowed, refusal
from tenancy.tenant import MemberRole, TenantStatus
from tenancy.validation import parse_tenant_id, parse_uuid, validate_email_address


@dataclass(frozen=True)
class Actor:
    """Who acts: a member of the tenant (`user_id`), or the platform's operator (no user id),
    who is not bound by the role rules but is by the last-owner rule."""

    name: str
    user_id: uuid.UUID | None = None

    @classmethod
    def member(cls, user_id: uuid.UUID | str) -> Actor:
        uid = parse_uuid(user_id, "actor user id")
        return cls(f"user:{uid}", uid)

    @classmethod
    def platform(cls, name: str = "platform") -> Actor:
        return cls(name)


@dataclass(frozen=True)
class Member:
    user_id: uuid.UUID
    email: str
    role: MemberRole
    joined_at: datetime
    last_active: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "user_id": str(self.user_id),
            "email": self.email,
            "role": self.role.value,
            "joined_at": self.joined_at.isoformat(),
            "last_active": self.last_active.isoformat() if self.last_active else None,
        }


@dataclass(frozen=True)
class LockedTenant:
    id: uuid.UUID
    slug: str
    name: str
    plan: str
    limit_overrides: dict[str, Any]


def lock_tenant(conn: Connection, tenant_id: uuid.UUID, *, active: bool = True) -> LockedTenant:
    """Lock the tenant's row for this transaction; refuse a tenant that is not active."""
    row = conn.execute(
        "SELECT id, slug, name, plan, status, limit_overrides FROM registry.tenants "
        "WHERE id = %s FOR NO KEY UPDATE",
        (tenant_id,),
    ).fetchone()
    if row is None:
        raise NotFoundError("tenant", tenant_id)
    if active and row["status"] != TenantStatus.ACTIVE.value:
        raise PermissionDeniedError(
            f"tenant {row['slug']} is {row['status']}; its members can be managed only while "
            "it is active"
        )
    return LockedTenant(
        uuid.UUID(str(row["id"])),
        str(row["slug"]),
        str(row["name"]),
        str(row["plan"]),
        dict(row["limit_overrides"] or {}),  # type: ignore[call-overload]
    )


def role_of(conn: Connection, tenant_id: uuid.UUID, user_id: uuid.UUID) -> MemberRole | None:
    row = conn.execute(
        "SELECT role FROM registry.user_tenants WHERE tenant_id = %s AND user_id = %s",
        (tenant_id, user_id),
    ).fetchone()
    return None if row is None else MemberRole(str(row["role"]))


def authorize(
    conn: Connection,
    tenant: LockedTenant | uuid.UUID,
    actor: Actor,
    action: Action,
    target: MemberRole | None = None,
) -> MemberRole | None:
    """Refuse unless `actor` may do `action` (on `target`); returns the actor's role (None for
    the platform operator)."""
    if actor.user_id is None:
        return None
    tenant_id = tenant.id if isinstance(tenant, LockedTenant) else tenant
    role = role_of(conn, tenant_id, actor.user_id)
    if role is None:
        raise PermissionDeniedError(f"user {actor.user_id} is not a member of tenant {tenant_id}")
    if not allowed(role, action, target):
        raise PermissionDeniedError(refusal(role, action, target))
    return role


def owner_count(conn: Connection, tenant_id: uuid.UUID) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM registry.user_tenants WHERE tenant_id = %s AND role = 'owner'",
        (tenant_id,),
    ).fetchone()
    assert row is not None
    return int(str(row["n"]))


def list_members(db: Database, tenant_id: uuid.UUID | str, actor: Actor) -> list[Member]:
    tid = parse_tenant_id(tenant_id)
    with db.tenant(tid) as conn:
        authorize(conn, tid, actor, Action.LIST_MEMBERS)
        rows = conn.execute(
            "SELECT m.user_id, u.email, m.role, m.joined_at, m.last_active "
            "FROM registry.user_tenants m JOIN registry.users u ON u.id = m.user_id "
            "WHERE m.tenant_id = %s ORDER BY m.joined_at, u.email",
            (tid,),
        ).fetchall()
    return [
        Member(
            uuid.UUID(str(r["user_id"])),
            str(r["email"]),
            MemberRole(str(r["role"])),
            r["joined_at"],  # type: ignore[arg-type]
            r["last_active"],  # type: ignore[arg-type]
        )
        for r in rows
    ]


def _target_role(conn: Connection, tenant: LockedTenant, user_id: uuid.UUID) -> MemberRole:
    role = role_of(conn, tenant.id, user_id)
    if role is None:
        raise NotFoundError(f"member of tenant {tenant.slug}:", user_id)
    return role


def set_role(
    db: Database,
    tenant_id: uuid.UUID | str,
    actor: Actor,
    user_id: uuid.UUID | str,
    role: MemberRole,
) -> MemberRole:
    """Change a member's role; returns the previous one. Both the current and the new role
    must be ones the actor manages; demoting the last owner is refused."""
    tid = parse_tenant_id(tenant_id)
    uid = parse_uuid(user_id, "member user id")
    with db.tenant(tid) as conn:
        tenant = lock_tenant(conn, tid)
        current = _target_role(conn, tenant, uid)
        authorize(conn, tenant, actor, Action.SET_ROLE, current)
        authorize(conn, tenant, actor, Action.SET_ROLE, role)
        if current == role:
            return current
        if current is MemberRole.OWNER and owner_count(conn, tid) <= 1:
            raise LastOwnerError(tenant.slug, f"make the last owner a {role}")
        conn.execute(
            "UPDATE registry.user_tenants SET role = %s WHERE tenant_id = %s AND user_id = %s",
            (role.value, tid, uid),
        )
        audit.record(
            conn,
            tid,
            actor.name,
            "member.set_role",
            f"user:{uid}",
            {"from": current.value, "to": role.value},
        )
    return current


def remove_member(
    db: Database, tenant_id: uuid.UUID | str, actor: Actor, user_id: uuid.UUID | str
) -> MemberRole:
    """Remove a member (the actor must manage the member's role); returns the role it had."""
    tid = parse_tenant_id(tenant_id)
    uid = parse_uuid(user_id, "member user id")
    with db.tenant(tid) as conn:
        tenant = lock_tenant(conn, tid)
        current = _target_role(conn, tenant, uid)
        authorize(conn, tenant, actor, Action.REMOVE_MEMBER, current)
        return _delete_membership(conn, tenant, actor, uid, current, "member.remove")


def leave(db: Database, tenant_id: uuid.UUID | str, user_id: uuid.UUID | str) -> MemberRole:
    """A member leaves the tenant; the last owner cannot."""
    tid = parse_tenant_id(tenant_id)
    uid = parse_uuid(user_id, "member user id")
    with db.tenant(tid) as conn:
        tenant = lock_tenant(conn, tid)
        current = _target_role(conn, tenant, uid)
        return _delete_membership(conn, tenant, Actor.member(uid), uid, current, "member.leave")


def _delete_membership(
    conn: Connection,
    tenant: LockedTenant,
    actor: Actor,
    user_id: uuid.UUID,
    current: MemberRole,
    action: str,
) -> MemberRole:
    if current is MemberRole.OWNER and owner_count(conn, tenant.id) <= 1:
        verb = "leave" if action == "member.leave" else "remove the last owner"
        raise LastOwnerError(tenant.slug, verb)
    conn.execute(
        "DELETE FROM registry.user_tenants WHERE tenant_id = %s AND user_id = %s",
        (tenant.id, user_id),
    )
    audit.record(conn, tenant.id, actor.name, action, f"user:{user_id}", {"role": current.value})
    return current


def user_by_email(db: Database, email: str) -> uuid.UUID:
    """The platform-wide user with this e-mail (control plane); `NotFoundError` if none."""
    address = validate_email_address(email, field="user email")
    with db.platform() as conn:
        row = conn.execute("SELECT id FROM registry.users WHERE email = %s", (address,)).fetchone()
    if row is None:
        raise NotFoundError("user", address)
    return uuid.UUID(str(row["id"]))
