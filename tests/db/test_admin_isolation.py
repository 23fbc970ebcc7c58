"""Attacks on tenant administration: a member of tenant A, through the library and through the
request path's own database role bound to A, goes after tenant B's invitations, roles,
settings and overrides. Every attempt must fail or see nothing, and B must be unchanged."""

from __future__ import annotations

import json
from dataclasses import dataclass

import psycopg
import pytest

from tenancy.admin_errors import InvitationError, PermissionDeniedError
from tenancy.db.session import Database
from tenancy.feature_overrides import set_override
from tenancy.invitations import IssuedInvitation, accept, invite, list_pending, resend, revoke
from tenancy.lifecycle import Transition
from tenancy.members import Actor, remove_member, set_role
from tenancy.registry import NewTenant, add_member
from tenancy.tenant import MemberRole
from tenancy.tenant_settings import get_settings, update_settings
from tenancy.transitions import apply_transition
from tests.db.factories import make_tenant


@dataclass
class World:
    a: NewTenant
    b: NewTenant
    mallory: Actor  # an owner of A
    b_invitation: IssuedInvitation
    b_member: object


@pytest.fixture
def world(db: Database) -> World:
    a, b = make_tenant(db, "tenant-a"), make_tenant(db, "tenant-b")
    b_member = add_member(db, b.tenant.id, "bob@b.example.com", MemberRole.MEMBER)
    issued = invite(db, b.tenant.id, Actor.member(b.owner_id), "new@b.example.com")
    set_override(db, "tenant-b", "sso", True, reason="pilot")
    update_settings(
        db, b.tenant.id, Actor.member(b.owner_id), {"customizations.primary_color": "#000000"}
    )
    return World(a, b, Actor.member(a.owner_id), issued, b_member)


def snapshot(superuser: psycopg.Connection, tenant_id: object) -> str:
    rows = [
        superuser.execute(sql, (tenant_id,)).fetchall()
        for sql in (
            "SELECT user_id::text, role FROM registry.user_tenants WHERE tenant_id = %s ORDER BY 1",
            "SELECT id::text, state, token_hash, expires_at::text FROM registry.invitations "
            "WHERE tenant_id = %s ORDER BY 1",
            "SELECT settings::text FROM registry.tenants WHERE id = %s",
            "SELECT feature, granted FROM registry.feature_overrides WHERE tenant_id = %s",
        )
    ]
    return repr(rows)


def test_library_calls_against_another_tenant_are_refused(
    db: Database, world: World, superuser: psycopg.Connection
) -> None:
    before = snapshot(superuser, world.b.tenant.id)
    b, mallory = world.b.tenant.id, world.mallory
    attempts = [
        lambda: list_pending(db, b, mallory),
        lambda: get_settings(db, b, mallory),
        lambda: update_settings(db, b, mallory, {"customizations.primary_color": "#ffffff"}),
        lambda: set_role(db, b, mallory, world.b.owner_id, MemberRole.VIEWER),
        lambda: remove_member(db, b, mallory, world.b_member),
        lambda: invite(db, b, mallory, "spy@a.example.com", MemberRole.OWNER),
        lambda: revoke(db, b, mallory, world.b_invitation.invitation.id),
        lambda: resend(db, b, mallory, world.b_invitation.invitation.id),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDeniedError, match="is not a member of tenant"):
            attempt()
    # B's invitation through A: the id is unknown there, so it is a 404, not a hint
    with pytest.raises(LookupError):
        revoke(db, world.a.tenant.id, mallory, world.b_invitation.invitation.id)
    assert snapshot(superuser, world.b.tenant.id) == before


def test_an_invitation_of_a_cannot_be_bent_into_b(
    db: Database, world: World, superuser: psycopg.Connection
) -> None:
    """Mallory invites herself to A, then swaps the id for B's invitation: the secret does not
    match B's hash. Guessing B's secret fails the same way."""
    mine = invite(db, world.a.tenant.id, world.mallory, "mallory2@a.example.com")
    my_secret = mine.token.split(".")[1]
    b_id = world.b_invitation.invitation.id
    for forged in (f"{b_id}.{my_secret}", f"{b_id}.{'A' * 43}", f"{b_id}."):
        with pytest.raises(InvitationError, match="token is not valid"):
            accept(db, forged)
    _, joined = accept(db, mine.token)
    members_of_b = superuser.execute(
        "SELECT count(*) FROM registry.user_tenants WHERE tenant_id = %s AND user_id = %s",
        (world.b.tenant.id, joined),
    ).fetchone()
    assert members_of_b == (0,)


def test_the_request_path_role_bound_to_a_cannot_reach_b(
    db: Database, world: World, superuser: psycopg.Connection
) -> None:
    before = snapshot(superuser, world.b.tenant.id)
    b = world.b.tenant.id
    with db.tenant(world.a.tenant.id) as conn:
        assert conn.execute("SELECT current_user").fetchone() == {"current_user": "tenancy_app"}
        for table in ("invitations", "feature_overrides"):
            seen = conn.execute(
                f"SELECT count(*) AS n FROM registry.{table} WHERE tenant_id = %s", (b,)
            ).fetchone()
            assert seen == {"n": 0}, table
        assert (
            conn.execute("SELECT settings FROM registry.tenants WHERE id = %s", (b,)).fetchall()
            == []
        )
        changed = conn.execute(
            "UPDATE registry.invitations SET state = 'revoked', resolved_at = now() "
            "WHERE tenant_id = %s",
            (b,),
        )
        assert changed.rowcount == 0
        changed = conn.execute(
            "UPDATE registry.user_tenants SET role = 'viewer' WHERE tenant_id = %s", (b,)
        )
        assert changed.rowcount == 0
        changed = conn.execute("UPDATE registry.tenants SET settings = '{}' WHERE id = %s", (b,))
        assert changed.rowcount == 0
    attacks = [
        (
            "INSERT INTO registry.invitations (tenant_id, email, role, token_hash, invited_by, "
            "created_at, expires_at) VALUES (%s, 'spy@a.example.com', 'owner', "
            "sha256('x'), 'mallory', now(), now() + interval '1 day')",
            (b,),
        ),
        (
            "INSERT INTO registry.notification_outbox (tenant_id, kind, recipient, subject, "
            "body, message_id, created_at, next_attempt_at) VALUES (%s, 'invitation', "
            "'victim@b.example.com', 's', 'b', 'm1', now(), now())",
            (b,),
        ),
        (  # its own tenant, but a kind it may not send
            "INSERT INTO registry.notification_outbox (tenant_id, kind, recipient, subject, "
            "body, message_id, created_at, next_attempt_at) VALUES (%s, 'suspended', "
            "'victim@b.example.com', 's', 'b', 'm2', now(), now())",
            (world.a.tenant.id,),
        ),
        (
            "INSERT INTO registry.feature_overrides (tenant_id, feature, granted, reason, set_by, "
            "set_at) VALUES (%s, 'sso', true, 'self-service', 'mallory', now())",
            (world.a.tenant.id,),
        ),
        ("UPDATE registry.tenants SET plan = 'enterprise' WHERE id = %s", (world.a.tenant.id,)),
    ]
    for sql, params in attacks:
        with (
            pytest.raises(psycopg.errors.InsufficientPrivilege),
            db.tenant(world.a.tenant.id) as conn,
        ):
            conn.execute(sql, params)
    assert snapshot(superuser, world.b.tenant.id) == before
    settings = superuser.execute("SELECT settings FROM registry.tenants WHERE id = %s", (b,))
    assert json.loads(json.dumps(settings.fetchone()[0]))["customizations"] == {  # type: ignore[index]
        "primary_color": "#000000"
    }


def test_a_purge_removes_invitations_and_overrides(
    db: Database, world: World, superuser: psycopg.Connection
) -> None:
    a = world.a.tenant.id
    invite(db, a, world.mallory, "someone@a.example.com")
    set_override(db, "tenant-a", "sso", True, reason="pilot")
    apply_transition(db, "tenant-a", Transition.DELETE, reason="closed")
    apply_transition(db, "tenant-a", Transition.PURGE, force=True)
    for table in ("invitations", "feature_overrides"):
        left = superuser.execute(
            f"SELECT count(*) FROM registry.{table} WHERE tenant_id = %s", (a,)
        ).fetchone()
        assert left == (0,), table
    kept = superuser.execute(
        "SELECT count(*) FROM registry.invitations WHERE tenant_id = %s", (world.b.tenant.id,)
    ).fetchone()
    assert kept == (1,), "another tenant's invitations are untouched"
