"""Members against a real registry: role changes, removal, leaving, the last-owner rule (also
under two concurrent transactions), and the audit entry of each change."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest

from tenancy.admin_errors import LastOwnerError, PermissionDeniedError
from tenancy.db.session import Database
from tenancy.members import Actor, leave, list_members, remove_member, set_role
from tenancy.registry import add_member
from tenancy.tenant import MemberRole
from tests.db.factories import make_tenant

OWNER, ADMIN, MEMBER, VIEWER = (
    MemberRole.OWNER,
    MemberRole.ADMIN,
    MemberRole.MEMBER,
    MemberRole.VIEWER,
)


def roles(db: Database, tenant_id: uuid.UUID) -> dict[str, str]:
    return {m.email: m.role.value for m in list_members(db, tenant_id, Actor.platform())}


def audit_actions(superuser: psycopg.Connection, tenant_id: uuid.UUID) -> list[tuple[str, str]]:
    rows = superuser.execute(
        "SELECT action, actor FROM registry.audit_log WHERE tenant_id = %s ORDER BY seq",
        (tenant_id,),
    ).fetchall()
    return [(str(a), str(b)) for a, b in rows]


def test_set_role_remove_and_leave_are_audited(db: Database, superuser: psycopg.Connection) -> None:
    acme = make_tenant(db, "acme")
    owner = Actor.member(acme.owner_id)
    admin = add_member(db, acme.tenant.id, "admin@acme.example.com", ADMIN)
    bob = add_member(db, acme.tenant.id, "bob@acme.example.com", MEMBER)
    eve = add_member(db, acme.tenant.id, "eve@acme.example.com", VIEWER)

    assert set_role(db, acme.tenant.id, Actor.member(admin), bob, VIEWER) is MEMBER
    assert remove_member(db, acme.tenant.id, owner, eve) is VIEWER
    assert leave(db, acme.tenant.id, bob) is VIEWER
    assert roles(db, acme.tenant.id) == {
        "owner@acme.example.com": "owner",
        "admin@acme.example.com": "admin",
    }
    assert audit_actions(superuser, acme.tenant.id)[-3:] == [
        ("member.set_role", f"user:{admin}"),
        ("member.remove", f"user:{acme.owner_id}"),
        ("member.leave", f"user:{bob}"),
    ]


def test_admins_cannot_touch_owners_or_admins_nor_make_admins(db: Database) -> None:
    acme = make_tenant(db, "acme")
    admin = Actor.member(add_member(db, acme.tenant.id, "admin@acme.example.com", ADMIN))
    other_admin = add_member(db, acme.tenant.id, "admin2@acme.example.com", ADMIN)
    bob = add_member(db, acme.tenant.id, "bob@acme.example.com", MEMBER)
    with pytest.raises(PermissionDeniedError, match="admin may not set role for role owner"):
        set_role(db, acme.tenant.id, admin, acme.owner_id, MEMBER)
    with pytest.raises(PermissionDeniedError, match="admin may not remove member for role admin"):
        remove_member(db, acme.tenant.id, admin, other_admin)
    with pytest.raises(PermissionDeniedError, match="may not set role for role admin"):
        set_role(db, acme.tenant.id, admin, bob, ADMIN)
    member = Actor.member(bob)
    with pytest.raises(PermissionDeniedError, match="role member manages: nobody"):
        remove_member(db, acme.tenant.id, member, other_admin)
    assert roles(db, acme.tenant.id)["bob@acme.example.com"] == "member"


def test_the_last_owner_can_be_neither_demoted_removed_nor_leave(db: Database) -> None:
    acme = make_tenant(db, "acme")
    platform = Actor.platform()
    with pytest.raises(LastOwnerError, match="would leave tenant acme without an owner"):
        set_role(db, acme.tenant.id, Actor.member(acme.owner_id), acme.owner_id, ADMIN)
    with pytest.raises(LastOwnerError, match="cannot remove the last owner"):
        remove_member(db, acme.tenant.id, platform, acme.owner_id)
    with pytest.raises(LastOwnerError, match="cannot leave"):
        leave(db, acme.tenant.id, acme.owner_id)
    second = add_member(db, acme.tenant.id, "second@acme.example.com", OWNER)
    leave(db, acme.tenant.id, acme.owner_id)  # another owner remains: allowed
    with pytest.raises(LastOwnerError):
        set_role(db, acme.tenant.id, Actor.member(second), second, MEMBER)
    assert roles(db, acme.tenant.id) == {"second@acme.example.com": "owner"}


def _wait_for_waiters(superuser: psycopg.Connection, dbname: str, count: int) -> None:
    """Until `count` request-path sessions wait on a lock (advisory or row)."""
    for _ in range(600):
        row = superuser.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
            "AND usename = 'tenancy_app' AND wait_event_type = 'Lock'",
            (dbname,),
        ).fetchone()
        if row is not None and row[0] >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} sessions never waited on a lock")


@pytest.mark.parametrize(
    ("mutual", "refusal"),
    [(True, (LastOwnerError, PermissionDeniedError)), (False, (LastOwnerError,))],
    ids=["each-demotes-the-other", "both-step-down"],
)
def test_two_owners_demoting_at_once_leave_one_owner(
    db: Database,
    superuser: psycopg.Connection,
    mutual: bool,
    refusal: tuple[type[Exception], ...],
) -> None:
    """Two real transactions: the first demotion passes its checks and is held inside its
    UPDATE (a trigger waits on an advisory lock the test holds) until the second has started
    too; only then are both let go. Without the tenant lock the second would also see two
    owners and commit, leaving none. With it, the second sees the first's change: an owner
    who was demoted may no longer demote anyone, and the last owner may not step down."""
    acme = make_tenant(db, "acme")
    a, b = acme.owner_id, add_member(db, acme.tenant.id, "b@acme.example.com", OWNER)
    superuser.execute(
        "CREATE FUNCTION public.hold() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "PERFORM pg_advisory_xact_lock_shared(4242); RETURN NEW; END $$"
    )
    superuser.execute(
        "CREATE TRIGGER hold BEFORE UPDATE ON registry.user_tenants "
        "FOR EACH ROW EXECUTE FUNCTION public.hold()"
    )
    superuser.execute("SELECT pg_advisory_lock(4242)")
    outcomes: dict[str, object] = {}

    def demote(name: str, actor: uuid.UUID, target: uuid.UUID) -> None:
        try:
            outcomes[name] = set_role(db, acme.tenant.id, Actor.member(actor), target, MEMBER)
        except Exception as exc:
            outcomes[name] = exc

    threads = [
        threading.Thread(target=demote, args=("a", a, b if mutual else a)),
        threading.Thread(target=demote, args=("b", b, a if mutual else b)),
    ]
    for thread in threads:
        thread.start()
    dbname = str(superuser.info.dbname)
    _wait_for_waiters(superuser, dbname, 2)
    superuser.execute("SELECT pg_advisory_unlock(4242)")
    for thread in threads:
        thread.join(timeout=60)

    refused = [o for o in outcomes.values() if isinstance(o, refusal)]
    assert len(outcomes) == 2 and len(refused) == 1, outcomes
    owners = [email for email, role in roles(db, acme.tenant.id).items() if role == "owner"]
    assert len(owners) == 1
