"""Invitations by e-mail: invite, accept, decline, revoke, resend, list the pending ones.

A token is `<invitation id>.<secret>`; only SHA-256 of the 32-byte secret is stored, and the
secret is compared with `hmac.compare_digest` after looking the invitation up by its id, so
the comparison takes the same time however much of a guess is right. A token works once: an
accepted, declined, revoked or expired invitation refuses it, and a resend replaces the
secret, so the previous token stops working.

Inviting, revoking, resending and listing run in the tenant's transaction (row-level security
confines them), with the tenant row locked so that the user limit, which counts members plus
pending invitations, holds under concurrent invitations. Accepting and declining run on the
control plane: the invitee is not a member of anything yet, and only the control plane may
add a membership.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from psycopg import errors as pg_errors

from tenancy import audit
from tenancy.admin_errors import InvitationError, UserLimitError
from tenancy.admin_mail import invitation_message
from tenancy.db.session import Connection, Database
from tenancy.errors import InvalidInputError, NotFoundError
from tenancy.member_permissions import Action
from tenancy.members import Actor, LockedTenant, authorize, lock_tenant
from tenancy.notifications import enqueue_message
from tenancy.plans import PlanCatalog, default_catalog
from tenancy.registry import user_id_for
from tenancy.tenant import MemberRole
from tenancy.validation import parse_tenant_id, parse_uuid, validate_email_address

DEFAULT_TTL = timedelta(days=7)
_COLUMNS = "id, tenant_id, email, role, invited_by, created_at, expires_at, sent_count, state"


@dataclass(frozen=True)
class Invitation:
    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    role: MemberRole
    invited_by: str
    created_at: datetime
    expires_at: datetime
    sent_count: int
    state: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Invitation:
        return cls(**{**row, "role": MemberRole(row["role"])})

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "tenant_id": str(self.tenant_id),
            "email": self.email,
            "role": self.role.value,
            "invited_by": self.invited_by,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "sent_count": self.sent_count,
            "state": self.state,
        }


@dataclass(frozen=True)
class IssuedInvitation:
    """An invitation and its token; the token goes out by e-mail and is not kept anywhere."""

    invitation: Invitation
    token: str


def _new_secret() -> tuple[str, bytes]:
    secret = secrets.token_urlsafe(32)  # 32 random bytes
    return secret, hashlib.sha256(secret.encode()).digest()


def _parse_token(token: str) -> tuple[uuid.UUID, str]:
    ident, _, secret = token.strip().partition(".")
    try:
        return uuid.UUID(ident), secret
    except ValueError:
        raise InvitationError("token is malformed; expected `<id>.<secret>` as e-mailed") from None


def users_in_use(conn: Connection, tenant_id: uuid.UUID, now: datetime) -> int:
    """Members plus invitations still pending and not expired: what the user limit counts."""
    row = conn.execute(
        "SELECT (SELECT count(*) FROM registry.user_tenants WHERE tenant_id = %s) "
        " + (SELECT count(*) FROM registry.invitations WHERE tenant_id = %s "
        "    AND state = 'pending' AND expires_at > %s) AS n",
        (tenant_id, tenant_id, now),
    ).fetchone()
    assert row is not None
    return int(str(row["n"]))


def _check_limit(
    conn: Connection, tenant: LockedTenant, catalog: PlanCatalog, now: datetime, adding: int
) -> None:
    limit = catalog.get(tenant.plan).effective_limits(tenant.limit_overrides)["users"]
    in_use = users_in_use(conn, tenant.id, now)
    if limit.maximum is not None and in_use + adding > limit.maximum:
        raise UserLimitError(tenant.slug, tenant.plan, limit.maximum, in_use)


def invite(
    db: Database,
    tenant_id: uuid.UUID | str,
    actor: Actor,
    email: str,
    role: MemberRole = MemberRole.MEMBER,
    *,
    ttl: timedelta = DEFAULT_TTL,
    now: datetime | None = None,
    catalog: PlanCatalog | None = None,
) -> IssuedInvitation:
    """Invite `email` into `role`; queues the e-mail and an audit entry in the same
    transaction. Refused over the user limit, for a member, or for a role the actor does not
    manage."""
    tid = parse_tenant_id(tenant_id)
    address = validate_email_address(email, field="invitee email")
    if ttl <= timedelta(0):
        raise InvalidInputError("invitation lifetime", ttl, "a positive duration")
    at = now or datetime.now(UTC)
    secret, digest = _new_secret()
    with db.tenant(tid) as conn:
        tenant = lock_tenant(conn, tid)
        authorize(conn, tenant, actor, Action.INVITE, role)
        member = conn.execute(
            "SELECT 1 FROM registry.user_tenants m JOIN registry.users u ON u.id = m.user_id "
            "WHERE m.tenant_id = %s AND u.email = %s",
            (tid, address),
        ).fetchone()
        if member is not None:
            raise InvalidInputError("invitee email", address, "someone not yet a member")
        conn.execute(
            "UPDATE registry.invitations SET state = 'expired', resolved_at = %s "
            "WHERE tenant_id = %s AND email = %s AND state = 'pending' AND expires_at <= %s",
            (at, tid, address, at),
        )
        _check_limit(conn, tenant, catalog or default_catalog(), at, adding=1)
        try:
            row = conn.execute(
                "INSERT INTO registry.invitations (tenant_id, email, role, token_hash, "
                "invited_by, created_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                f"RETURNING {_COLUMNS}",
                (tid, address, role.value, digest, actor.name, at, at + ttl),
            ).fetchone()
        except pg_errors.UniqueViolation:
            raise InvalidInputError(
                "invitee email", address, "no pending invitation already (resend that one)"
            ) from None
        assert row is not None
        invitation = Invitation.from_row(row)
        token = f"{invitation.id}.{secret}"
        _send(conn, tenant, invitation, token, at)
        audit.record(
            conn,
            tid,
            actor.name,
            "invitation.create",
            f"invitation:{invitation.id}",
            {"email": address, "role": role.value, "expires_at": invitation.expires_at.isoformat()},
        )
    return IssuedInvitation(invitation, token)


def _send(
    conn: Connection, tenant: LockedTenant, invitation: Invitation, token: str, now: datetime
) -> None:
    subject, body = invitation_message(
        tenant.name, tenant.slug, invitation.role.value, token, invitation.expires_at
    )
    enqueue_message(conn, tenant.id, "invitation", invitation.email, subject, body, now)


def _pending_for_admin(
    conn: Connection, tenant: LockedTenant, actor: Actor, invitation_id: uuid.UUID, action: Action
) -> Invitation:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM registry.invitations WHERE id = %s AND tenant_id = %s",
        (invitation_id, tenant.id),
    ).fetchone()
    if row is None:
        raise NotFoundError("invitation", invitation_id)
    invitation = Invitation.from_row(row)
    authorize(conn, tenant, actor, action, invitation.role)
    if invitation.state != "pending":
        raise InvitationError(f"{invitation_id} is {invitation.state}; expected a pending one")
    return invitation


def revoke(
    db: Database, tenant_id: uuid.UUID | str, actor: Actor, invitation_id: uuid.UUID | str
) -> Invitation:
    tid = parse_tenant_id(tenant_id)
    iid = parse_uuid(invitation_id, "invitation id")
    at = datetime.now(UTC)
    with db.tenant(tid) as conn:
        tenant = lock_tenant(conn, tid)
        invitation = _pending_for_admin(conn, tenant, actor, iid, Action.REVOKE_INVITATION)
        conn.execute(
            "UPDATE registry.invitations SET state = 'revoked', resolved_at = %s WHERE id = %s",
            (at, iid),
        )
        audit.record(
            conn,
            tid,
            actor.name,
            "invitation.revoke",
            f"invitation:{iid}",
            {"email": invitation.email},
        )
    return invitation


def resend(
    db: Database,
    tenant_id: uuid.UUID | str,
    actor: Actor,
    invitation_id: uuid.UUID | str,
    *,
    ttl: timedelta = DEFAULT_TTL,
    now: datetime | None = None,
    catalog: PlanCatalog | None = None,
) -> IssuedInvitation:
    """Send a pending invitation again with a new token and a new expiry; the old token stops
    working. An expired invitation can be resent if the user limit still has room."""
    tid = parse_tenant_id(tenant_id)
    iid = parse_uuid(invitation_id, "invitation id")
    at = now or datetime.now(UTC)
    secret, digest = _new_secret()
    with db.tenant(tid) as conn:
        tenant = lock_tenant(conn, tid)
        invitation = _pending_for_admin(conn, tenant, actor, iid, Action.RESEND_INVITATION)
        if invitation.expires_at <= at:  # no longer counted: it needs room again
            _check_limit(conn, tenant, catalog or default_catalog(), at, adding=1)
        row = conn.execute(
            "UPDATE registry.invitations SET token_hash = %s, expires_at = %s, "
            f"sent_count = sent_count + 1 WHERE id = %s RETURNING {_COLUMNS}",
            (digest, at + ttl, iid),
        ).fetchone()
        assert row is not None
        invitation = Invitation.from_row(row)
        token = f"{iid}.{secret}"
        _send(conn, tenant, invitation, token, at)
        audit.record(
            conn,
            tid,
            actor.name,
            "invitation.resend",
            f"invitation:{iid}",
            {"email": invitation.email, "expires_at": invitation.expires_at.isoformat()},
        )
    return IssuedInvitation(invitation, token)


def list_pending(
    db: Database, tenant_id: uuid.UUID | str, actor: Actor, now: datetime | None = None
) -> list[Invitation]:
    """Pending invitations, expired ones included (their `expires_at` says so), oldest first."""
    tid = parse_tenant_id(tenant_id)
    with db.tenant(tid) as conn:
        authorize(conn, tid, actor, Action.LIST_INVITATIONS)
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM registry.invitations WHERE tenant_id = %s "
            "AND state = 'pending' ORDER BY created_at, email",
            (tid,),
        ).fetchall()
    return [Invitation.from_row(r) for r in rows]


def _redeem(conn: Connection, token: str, at: datetime) -> Invitation:
    """The pending invitation `token` opens, locked; refuses anything else with one reason
    that does not tell a wrong secret from an unknown id."""
    invitation_id, secret = _parse_token(token)
    row = conn.execute(
        f"SELECT {_COLUMNS}, token_hash FROM registry.invitations WHERE id = %s FOR UPDATE",
        (invitation_id,),
    ).fetchone()
    given = hashlib.sha256(secret.encode()).digest()
    # an unknown id still costs a comparison, so timing does not tell the two apart
    stored = hashlib.sha256(b"").digest() if row is None else bytes(cast(bytes, row["token_hash"]))
    if row is None or not hmac.compare_digest(given, stored):
        raise InvitationError("token is not valid")
    invitation = Invitation.from_row({k: v for k, v in row.items() if k != "token_hash"})
    if invitation.state != "pending":
        raise InvitationError(f"was already {invitation.state}; a token works once")
    if invitation.expires_at <= at:
        raise InvitationError(
            f"expired at {invitation.expires_at.isoformat()}; ask for it to be resent"
        )
    return invitation


def accept(
    db: Database,
    token: str,
    *,
    now: datetime | None = None,
    catalog: PlanCatalog | None = None,
) -> tuple[Invitation, uuid.UUID]:
    """Join the tenant the token invites to; returns the invitation and the new member's id."""
    at = now or datetime.now(UTC)
    with db.platform() as conn:
        invitation = _redeem(conn, token, at)
        tenant = lock_tenant(conn, invitation.tenant_id)
        user_id = user_id_for(conn, invitation.email)
        if conn.execute(
            "SELECT 1 FROM registry.user_tenants WHERE tenant_id = %s AND user_id = %s",
            (tenant.id, user_id),
        ).fetchone():
            raise InvalidInputError("invitee email", invitation.email, "someone not yet a member")
        # This invitation was counted while pending; a limit lowered since is still enforced.
        _check_limit(conn, tenant, catalog or default_catalog(), at, adding=0)
        conn.execute(
            "INSERT INTO registry.user_tenants (tenant_id, user_id, role) VALUES (%s, %s, %s)",
            (tenant.id, user_id, invitation.role.value),
        )
        _resolve(conn, invitation, "accepted", at)
        audit.record(
            conn,
            tenant.id,
            f"user:{user_id}",
            "invitation.accept",
            f"invitation:{invitation.id}",
            {"email": invitation.email, "role": invitation.role.value},
        )
    return invitation, user_id


def decline(db: Database, token: str, *, now: datetime | None = None) -> Invitation:
    at = now or datetime.now(UTC)
    with db.platform() as conn:
        invitation = _redeem(conn, token, at)
        _resolve(conn, invitation, "declined", at)
        audit.record(
            conn,
            invitation.tenant_id,
            invitation.email,
            "invitation.decline",
            f"invitation:{invitation.id}",
            {"email": invitation.email},
        )
    return invitation


def _resolve(conn: Connection, invitation: Invitation, state: str, at: datetime) -> None:
    conn.execute(
        "UPDATE registry.invitations SET state = %s, resolved_at = %s WHERE id = %s",
        (state, at, invitation.id),
    )


__all__ = [
    "Invitation",
    "IssuedInvitation",
    "accept",
    "decline",
    "invite",
    "list_pending",
    "resend",
    "revoke",
    "users_in_use",
]
