"""Invitations against a real registry and a real SMTP server: the token arrives by e-mail,
works once, expires, is replaced by a resend; the user limit counts pending invitations."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tenancy.admin_errors import InvitationError, PermissionDeniedError, UserLimitError
from tenancy.db.session import Database
from tenancy.invitations import accept, decline, invite, list_pending, resend, revoke, users_in_use
from tenancy.members import Actor, list_members
from tenancy.notification_sender import OutboxSender
from tenancy.registry import add_member
from tenancy.tenant import MemberRole
from tests.db.factories import make_tenant
from tests.test_notifications import MailServer

NOW = datetime.now(UTC)


@pytest.fixture
def mail() -> Iterator[MailServer]:
    server = MailServer()
    server.start()
    yield server
    server.stop()


def delivered_token(db: Database, mail: MailServer, to: str) -> str:
    OutboxSender(db, mail.settings()).send_due()
    bodies = [
        m.get_payload(decode=True).decode()
        for m in mail.inbox.messages
        if m["To"] == to and "invited" in m["Subject"]
    ]
    assert bodies, f"no invitation delivered to {to}"
    found = re.search(r"Your invitation code: (\S+)", bodies[-1])
    assert found is not None
    return found.group(1)


def test_an_invitation_is_mailed_accepted_once_and_audited(
    db: Database, mail: MailServer, superuser: psycopg.Connection
) -> None:
    acme = make_tenant(db, "acme")
    owner = Actor.member(acme.owner_id)
    issued = invite(db, acme.tenant.id, owner, "Bob@Example.com", MemberRole.ADMIN)
    token = delivered_token(db, mail, "bob@example.com")
    assert token == issued.token
    stored = superuser.execute(
        "SELECT token_hash FROM registry.invitations WHERE id = %s", (issued.invitation.id,)
    ).fetchone()
    assert stored is not None and token.split(".")[1].encode() not in bytes(stored[0])

    body = superuser.execute(
        "SELECT state, body FROM registry.notification_outbox WHERE kind = 'invitation'"
    ).fetchone()
    assert body is not None and body[0] == "sent" and token not in body[1], "scrubbed once sent"
    assert "Your invitation code: (removed after delivery)" in body[1]

    invitation, bob = accept(db, token)
    assert any(m.user_id == bob for m in list_members(db, acme.tenant.id, owner))
    assert invitation.role is MemberRole.ADMIN
    members = {m.email: m.role.value for m in list_members(db, acme.tenant.id, owner)}
    assert members["bob@example.com"] == "admin"
    with pytest.raises(InvitationError, match="was already accepted; a token works once"):
        accept(db, token)
    actions = superuser.execute(
        "SELECT action FROM registry.audit_log WHERE tenant_id = %s ORDER BY seq",
        (acme.tenant.id,),
    ).fetchall()
    assert [a[0] for a in actions][-2:] == ["invitation.create", "invitation.accept"]
    assert list_pending(db, acme.tenant.id, owner) == []


def test_forged_expired_declined_and_revoked_tokens_are_refused(db: Database) -> None:
    acme = make_tenant(db, "acme")
    owner = Actor.member(acme.owner_id)
    issued = invite(db, acme.tenant.id, owner, "bob@example.com", now=NOW - timedelta(days=8))
    ident, secret = issued.token.split(".")
    with pytest.raises(InvitationError, match="token is not valid"):
        accept(db, f"{ident}.{secret[:-1]}x" if secret[-1] != "x" else f"{ident}.{secret[:-1]}y")
    with pytest.raises(InvitationError, match="token is not valid"):
        accept(db, f"{uuid.uuid4()}.{secret}")
    with pytest.raises(InvitationError, match="malformed"):
        accept(db, "not-a-token")
    with pytest.raises(InvitationError, match=r"expired at .*; ask for it to be resent"):
        accept(db, issued.token)

    carol = invite(db, acme.tenant.id, owner, "carol@example.com")
    decline(db, carol.token)
    with pytest.raises(InvitationError, match="was already declined"):
        accept(db, carol.token)
    dave = invite(db, acme.tenant.id, owner, "dave@example.com")
    revoke(db, acme.tenant.id, owner, dave.invitation.id)
    with pytest.raises(InvitationError, match="was already revoked"):
        accept(db, dave.token)


def test_a_resend_rotates_the_token(db: Database, mail: MailServer) -> None:
    acme = make_tenant(db, "acme")
    owner = Actor.member(acme.owner_id)
    first = invite(db, acme.tenant.id, owner, "bob@example.com", now=NOW - timedelta(days=8))
    again = resend(db, acme.tenant.id, owner, first.invitation.id)
    assert again.invitation.sent_count == 2 and again.invitation.expires_at > NOW
    assert delivered_token(db, mail, "bob@example.com") == again.token
    with pytest.raises(InvitationError, match="token is not valid"):
        accept(db, first.token)
    accept(db, again.token)


def test_roles_limit_who_invites_whom(db: Database) -> None:
    acme = make_tenant(db, "acme")
    admin = Actor.member(add_member(db, acme.tenant.id, "admin@acme.example.com", MemberRole.ADMIN))
    viewer = Actor.member(add_member(db, acme.tenant.id, "v@acme.example.com", MemberRole.VIEWER))
    with pytest.raises(PermissionDeniedError, match="admin may not invite for role owner"):
        invite(db, acme.tenant.id, admin, "x@example.com", MemberRole.OWNER)
    with pytest.raises(PermissionDeniedError, match="viewer may not invite"):
        invite(db, acme.tenant.id, viewer, "x@example.com", MemberRole.VIEWER)
    with pytest.raises(PermissionDeniedError, match="viewer may not list invitations"):
        list_pending(db, acme.tenant.id, viewer)
    invite(db, acme.tenant.id, admin, "x@example.com", MemberRole.VIEWER)
    with pytest.raises(ValueError, match="no pending invitation already"):
        invite(db, acme.tenant.id, admin, "x@example.com", MemberRole.MEMBER)
    with pytest.raises(ValueError, match="someone not yet a member"):
        invite(db, acme.tenant.id, admin, "v@acme.example.com", MemberRole.MEMBER)


def test_the_user_limit_counts_pending_invitations(db: Database) -> None:
    """The free plan allows 5 users: the owner plus 4 invitations fill it; an expired
    invitation frees its seat; the refusal names the limit."""
    acme = make_tenant(db, "acme", plan="free")
    owner = Actor.member(acme.owner_id)
    old = invite(db, acme.tenant.id, owner, "old@example.com", now=NOW - timedelta(days=8))
    for n in range(4):
        invite(db, acme.tenant.id, owner, f"u{n}@example.com")
    with db.tenant(acme.tenant.id) as conn:
        assert users_in_use(conn, acme.tenant.id, NOW) == 5
    with pytest.raises(UserLimitError, match=r"`users` is 5 on plan free .* 5 are members or"):
        invite(db, acme.tenant.id, owner, "one-too-many@example.com")
    with pytest.raises(UserLimitError):
        resend(db, acme.tenant.id, owner, old.invitation.id)  # expired: needs a seat again
    revoke(db, acme.tenant.id, owner, list_pending(db, acme.tenant.id, owner)[1].id)
    invite(db, acme.tenant.id, owner, "now-fits@example.com")


def test_concurrent_invitations_never_pass_the_limit(db: Database) -> None:
    """Eight threads invite at once into a tenant with one seat left: exactly one wins."""
    acme = make_tenant(db, "acme", plan="free")
    owner = Actor.member(acme.owner_id)
    for n in range(3):
        invite(db, acme.tenant.id, owner, f"u{n}@example.com")
    start = threading.Barrier(8)
    results: list[object] = []

    def attempt(n: int) -> None:
        start.wait()
        try:
            results.append(invite(db, acme.tenant.id, owner, f"racer{n}@example.com"))
        except UserLimitError as exc:
            results.append(exc)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(not isinstance(r, UserLimitError) for r in results) == 1
    assert len(results) == 8
    with db.tenant(acme.tenant.id) as conn:
        assert users_in_use(conn, acme.tenant.id, NOW) == 5
