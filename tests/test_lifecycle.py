"""Lifecycle transitions against the real registry and Redis, through the API and the CLI."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from typer.testing import CliRunner

from tenancy import redis_acl
from tenancy.audit import verify
from tenancy.cli.main import app
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.devstack.redis import RedisServer
from tenancy.lifecycle import RESTORE_WINDOW, IllegalTransitionError, Outcome, Transition
from tenancy.lifecycle_runtime import apply_runtime_state
from tenancy.registry import add_member, get_tenant
from tenancy.storage_move import StorageMoveError
from tenancy.tenant import MemberRole, TenantStatus
from tenancy.tenant_status import TenantStatusStore, status_key
from tenancy.transitions import apply_transition, deletion_record
from tests.db.factories import make_agent, make_document, make_tenant

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def audit_actions(superuser: psycopg.Connection, tenant_id: uuid.UUID) -> list[str]:
    rows = superuser.execute(
        "SELECT action FROM registry.audit_log WHERE tenant_id = %s ORDER BY seq", (tenant_id,)
    ).fetchall()
    return [r[0] for r in rows]


def agent_states(superuser: psycopg.Connection, tenant_id: uuid.UUID) -> list[str]:
    rows = superuser.execute(
        "SELECT status FROM registry.agents WHERE tenant_id = %s ORDER BY id", (tenant_id,)
    ).fetchall()
    return [r[0] for r in rows]


def outbox(superuser: psycopg.Connection, tenant_id: uuid.UUID) -> list[tuple[str, str]]:
    rows = superuser.execute(
        "SELECT kind, recipient FROM registry.notification_outbox WHERE tenant_id = %s "
        "AND kind <> 'welcome' ORDER BY id",
        (tenant_id,),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def test_suspend_and_reactivate(db: Database, superuser: psycopg.Connection) -> None:
    acme = make_tenant(db, "acme").tenant
    running, idle, stopped = (make_agent(db, acme.id) for _ in range(3))
    superuser.execute("UPDATE registry.agents SET status = 'running' WHERE id = %s", (running.id,))
    superuser.execute("UPDATE registry.agents SET status = 'stopped' WHERE id = %s", (stopped.id,))

    result = apply_transition(db, "acme", Transition.SUSPEND, reason="unpaid invoice", actor="ops")
    assert result.tenant.status is TenantStatus.SUSPENDED
    assert result.tenant.suspension_reason == "unpaid invoice"
    assert result.effects["agents_stopped"] == 2
    assert set(agent_states(superuser, acme.id)) == {"stopped"}
    entry = superuser.execute(
        "SELECT actor, details FROM registry.audit_log WHERE tenant_id = %s AND action = %s",
        (acme.id, "tenant.suspend"),
    ).fetchone()
    assert entry is not None and entry[0] == "ops" and entry[1]["reason"] == "unpaid invoice"
    assert outbox(superuser, acme.id) == [("suspended", "owner@acme.example.com")]

    back = apply_transition(db, acme.id, Transition.REACTIVATE)
    assert back.tenant.status is TenantStatus.ACTIVE and back.tenant.suspension_reason is None
    assert back.effects["agents_restarted"] == 2
    states = dict(
        superuser.execute(
            "SELECT id, status FROM registry.agents WHERE tenant_id = %s", (acme.id,)
        ).fetchall()
    )
    assert states == {running.id: "idle", idle.id: "idle", stopped.id: "stopped"}, (
        "only the agents the suspension stopped come back"
    )
    assert audit_actions(superuser, acme.id)[-2:] == ["tenant.suspend", "tenant.reactivate"]


def test_illegal_transitions_name_the_state_and_write_nothing(
    db: Database, superuser: psycopg.Connection
) -> None:
    acme = make_tenant(db, "acme").tenant
    before = audit_actions(superuser, acme.id)
    for transition in (Transition.REACTIVATE, Transition.RESTORE, Transition.PURGE):
        with pytest.raises(
            IllegalTransitionError, match=f"cannot {transition} tenant 'acme': it is active"
        ):
            apply_transition(db, "acme", transition)
    apply_transition(db, "acme", Transition.DELETE, reason="closing")
    with pytest.raises(
        IllegalTransitionError, match="cannot suspend tenant 'acme': it is deleted; expected active"
    ):
        apply_transition(db, "acme", Transition.SUSPEND, reason="x")
    with pytest.raises(IllegalTransitionError, match="it is deleted; expected active or suspended"):
        apply_transition(db, "acme", Transition.CHANGE_PLAN, plan="free")
    assert audit_actions(superuser, acme.id) == [*before, "tenant.delete"]
    assert get_tenant(db, "acme").status is TenantStatus.DELETED


def test_delete_restore_within_the_window_keeps_state(
    db: Database, superuser: psycopg.Connection
) -> None:
    acme = make_tenant(db, "acme").tenant
    make_agent(db, acme.id)
    apply_transition(db, "acme", Transition.SUSPEND, reason="abuse", now=T0)
    deleted = apply_transition(db, "acme", Transition.DELETE, reason="closing", now=T0)
    assert deleted.tenant.deleted_at == T0 and deleted.tenant.suspension_reason == "abuse"
    assert [k for k, _ in outbox(superuser, acme.id)] == ["suspended", "deleted"]
    restored = apply_transition(
        db, "acme", Transition.RESTORE, now=T0 + RESTORE_WINDOW - timedelta(seconds=1)
    )
    assert restored.tenant.status is TenantStatus.SUSPENDED and restored.tenant.deleted_at is None
    assert agent_states(superuser, acme.id) == ["stopped"], "restored into suspension"
    apply_transition(db, "acme", Transition.REACTIVATE)
    assert agent_states(superuser, acme.id) == ["idle"]

    apply_transition(db, "acme", Transition.DELETE, reason="closing", now=T0)
    with pytest.raises(IllegalTransitionError, match="expected a restore before"):
        apply_transition(db, "acme", Transition.RESTORE, now=T0 + RESTORE_WINDOW)


def test_change_plan_is_audited_and_names_a_storage_move(
    db: Database, superuser: psycopg.Connection
) -> None:
    make_tenant(db, "acme", plan="pro")
    make_tenant(db, "globex", plan="enterprise")
    up = apply_transition(db, "acme", Transition.CHANGE_PLAN, plan="enterprise")
    assert up.tenant.plan == "enterprise" and up.tenant.status is TenantStatus.ACTIVE
    assert up.plan.details["storage_move"] == "shared_prefix->dedicated_bucket"
    assert "storage_move_id" in up.effects
    with pytest.raises(StorageMoveError, match="storage move to dedicated_bucket still open"):
        apply_transition(db, "acme", Transition.CHANGE_PLAN, plan="pro")
    down = apply_transition(db, "globex", Transition.CHANGE_PLAN, plan="pro")
    assert down.plan.details["storage_move"] == "dedicated_bucket->shared_prefix"
    free = apply_transition(db, "globex", Transition.CHANGE_PLAN, plan="free")
    assert free.plan.details["storage_move"] is None and "storage_move_id" not in free.effects
    assert audit_actions(superuser, up.tenant.id)[-1:] == ["tenant.change-plan"]
    assert audit_actions(superuser, down.tenant.id)[-2:] == ["tenant.change-plan"] * 2


def test_dry_run_changes_nothing(db: Database, superuser: psycopg.Connection) -> None:
    acme = make_tenant(db, "acme").tenant
    result = apply_transition(db, "acme", Transition.SUSPEND, reason="x", dry_run=True)
    assert result.dry_run and result.plan.to_status is TenantStatus.SUSPENDED
    assert get_tenant(db, "acme") == acme
    assert audit_actions(superuser, acme.id) == ["tenant.create"]


def purge_fixture(db: Database) -> tuple[Any, Any, uuid.UUID]:
    acme = make_tenant(db, "acme").tenant
    globex = make_tenant(db, "globex").tenant
    shared = add_member(db, acme.id, "both@example.com", MemberRole.ADMIN)
    add_member(db, globex.id, "both@example.com", MemberRole.MEMBER)
    for t in (acme, globex):
        make_agent(db, t.id)
        make_document(db, t.id)
    return acme, globex, shared


def snapshot(superuser: psycopg.Connection, tenant_id: uuid.UUID) -> dict[str, list[Any]]:
    tables = {
        "tenants": "id",
        "agents": "tenant_id",
        "documents": "tenant_id",
        "user_tenants": "tenant_id",
        "audit_log": "tenant_id",
    }
    return {
        table: superuser.execute(
            f"SELECT * FROM registry.{table} WHERE {column} = %s ORDER BY 1, 2", (tenant_id,)
        ).fetchall()
        for table, column in tables.items()
    }


def test_purge_removes_one_tenant_and_leaves_a_deletion_record(
    db: Database, superuser: psycopg.Connection
) -> None:
    acme, globex, shared = purge_fixture(db)
    other_before = snapshot(superuser, globex.id)
    apply_transition(db, "acme", Transition.DELETE, reason="closing", now=T0)
    with pytest.raises(IllegalTransitionError, match="expected a purge from"):
        apply_transition(
            db, "acme", Transition.PURGE, now=T0 + RESTORE_WINDOW - timedelta(seconds=1)
        )

    result = apply_transition(db, "acme", Transition.PURGE, now=T0 + RESTORE_WINDOW, actor="ops")
    assert result.tenant.status is TenantStatus.PURGED
    assert result.tenant.purged_at == T0 + RESTORE_WINDOW
    assert result.effects["removed"] == {
        "documents": 1,
        "agents": 1,
        "agent_executions": 0,
        "memberships": 2,
        "users": 1,
    }
    after = snapshot(superuser, acme.id)
    assert after["agents"] == after["documents"] == after["user_tenants"] == []
    tomb = get_tenant(db, acme.id)
    assert (tomb.name, tomb.domain, tomb.slug) == ("purged tenant", None, "acme")
    emails = {r[0] for r in superuser.execute("SELECT email FROM registry.users").fetchall()}
    assert "owner@acme.example.com" not in emails and "both@example.com" in emails
    assert any(
        r[0] == shared for r in superuser.execute("SELECT id FROM registry.users").fetchall()
    )
    assert snapshot(superuser, globex.id) == other_before, "another tenant's rows are untouched"

    record = deletion_record(db, acme.id)
    assert record is not None
    assert record["removed"] == result.effects["removed"] and record["actor"] == "ops"
    assert record["forced"] is False and record["audit_head_seq"] == result.audit_seq
    assert audit_actions(superuser, acme.id)[-1] == "tenant.purge", "audit trail kept (90 days)"
    assert outbox(superuser, acme.id)[-1] == ("purged", "owner@acme.example.com")
    assert verify(db).ok
    with pytest.raises(IllegalTransitionError, match="it is purged"):
        apply_transition(db, "acme", Transition.RESTORE)


def test_purge_under_legal_hold_is_recorded_and_touches_nothing(
    db: Database, superuser: psycopg.Connection
) -> None:
    acme, _, _ = purge_fixture(db)
    apply_transition(db, "acme", Transition.DELETE, reason="closing", now=T0)
    apply_transition(db, "acme", Transition.HOLD, reason="litigation 42")
    before = snapshot(superuser, acme.id)
    for force in (False, True):
        blocked = apply_transition(
            db, "acme", Transition.PURGE, force=force, now=T0 + timedelta(days=400)
        )
        assert blocked.plan.outcome is Outcome.BLOCKED_BY_HOLD and not blocked.applied
    after = snapshot(superuser, acme.id)
    assert after["audit_log"][:-2] == before["audit_log"]
    assert {k: v for k, v in after.items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"
    }
    assert audit_actions(superuser, acme.id)[-2:] == ["tenant.purge.blocked_by_hold"] * 2
    assert deletion_record(db, acme.id) is None
    # The database refuses too, whoever calls it.
    with (
        db.platform() as conn,
        pytest.raises(
            psycopg.errors.CheckViolation, match="is deleted and on legal hold; expected"
        ),
    ):
        conn.execute("SELECT registry.purge_tenant_rows(%s)", (acme.id,))
    apply_transition(db, "acme", Transition.RELEASE)
    purged = apply_transition(db, "acme", Transition.PURGE, now=T0 + timedelta(days=400))
    assert purged.tenant.status is TenantStatus.PURGED


def test_forced_early_purge_is_marked_forced(db: Database) -> None:
    acme = make_tenant(db, "acme").tenant
    apply_transition(db, "acme", Transition.DELETE, reason="closing", now=T0)
    apply_transition(db, "acme", Transition.PURGE, force=True, now=T0 + timedelta(hours=1))
    record = deletion_record(db, acme.id)
    assert record is not None and record["forced"] is True


def tenant_login(server: RedisServer, tenant_id: uuid.UUID) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1",
        port=server.port,
        username=redis_acl.username(tenant_id),
        password="tenant-secret",
        retry=Retry(NoBackoff(), 0),  # a killed or refused login shows at once, not after backoff
    )


def test_suspension_reaches_the_request_path_and_redis_user_at_once(
    db: Database, redis_client: redis.Redis, redis_server: RedisServer
) -> None:
    acme = make_tenant(db, "acme").tenant
    # The tenant's ACL user, as its stack creates it, and a connection logged in as it.
    name = redis_acl.username(acme.id)
    redis_acl.set_user(redis_client, name, "tenant-secret", redis_acl.acl_rules(acme.id))
    tenant_conn = tenant_login(redis_server, acme.id)
    tenant_conn.ping()
    store = TenantStatusStore(redis_client)

    suspended = apply_transition(db, "acme", Transition.SUSPEND, reason="unpaid")
    state = apply_runtime_state(redis_client, suspended.tenant)
    assert state.redis_user == "disabled"
    assert store.get(acme.id) == ("suspended", "unpaid")
    with pytest.raises(redis.ConnectionError):
        tenant_conn.ping()  # its open connection was killed, not just future logins refused
    relogin = tenant_login(redis_server, acme.id)
    with pytest.raises(redis.AuthenticationError):
        relogin.ping()

    active = apply_transition(db, "acme", Transition.REACTIVATE)
    assert apply_runtime_state(redis_client, active.tenant).redis_user == "enabled"
    assert store.get(acme.id) == ("active", None)
    assert relogin.ping()
    relogin.close()
    tenant_conn.close()

    apply_transition(db, "acme", Transition.DELETE, reason="closing")
    purged = apply_transition(db, "acme", Transition.PURGE, force=True)
    assert apply_runtime_state(redis_client, purged.tenant).redis_user == "deleted"
    assert redis_acl.get_user(redis_client, name) is None


@pytest.fixture
def lifecycle_env(
    cli_env: RegistryUrls,
    redis_server: RedisServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """The `tenancy` command on this test's registry and Redis, with storage under tmp_path."""
    monkeypatch.setenv("TENANCY_REDIS_URL", redis_server.url)
    monkeypatch.setenv("TENANCY_RUN_DIR", str(tmp_path))
    return tmp_path


def test_every_transition_publishes_its_status(
    lifecycle_env: Path, db: Database, redis_client: redis.Redis
) -> None:
    acme = make_tenant(db, "acme").tenant
    store = TenantStatusStore(redis_client)
    runner = CliRunner()

    def cli(*args: str, input: str | None = None) -> dict[str, Any]:
        result = runner.invoke(app, ["tenants", *args, "--json"], input=input)
        assert result.exit_code == 0, result.output
        return dict(json.loads(result.stdout))

    steps: list[tuple[list[str], tuple[str, str | None]]] = [
        (["suspend", "acme", "--reason", "unpaid"], ("suspended", "unpaid")),
        (["reactivate", "acme"], ("active", None)),
        (["change-plan", "acme", "enterprise"], ("active", None)),
        (["hold", "acme", "--reason", "case 7"], ("active", None)),
        (["release", "acme"], ("active", None)),
        (["delete", "acme", "--reason", "closing", "--yes"], ("deleted", "deleted")),
        (["restore", "acme"], ("active", None)),
        (["delete", "acme", "--reason", "closing", "--yes"], ("deleted", "deleted")),
        (["purge", "acme", "--force", "--yes"], ("purged", "purged")),
    ]
    for args, expected in steps:
        redis_client.delete(status_key(acme.id))
        data = cli(*args)
        assert data["outcome"] == "applied" and data["runtime"]["status"] == expected[0], args
        assert store.get(acme.id) == expected, args


def test_cli_confirmation_dry_run_and_errors(lifecycle_env: Path, db: Database) -> None:
    make_tenant(db, "acme")
    runner = CliRunner()
    refused = runner.invoke(app, ["tenants", "delete", "acme", "--reason", "x"], input="acne\n")
    assert refused.exit_code == 1 and "not confirmed" in refused.output
    assert get_tenant(db, "acme").status is TenantStatus.ACTIVE

    dry = runner.invoke(app, ["tenants", "delete", "acme", "--reason", "x", "--dry-run"])
    assert dry.exit_code == 0 and "would go active -> deleted" in dry.output
    assert get_tenant(db, "acme").status is TenantStatus.ACTIVE

    done = runner.invoke(app, ["tenants", "delete", "acme", "--reason", "x"], input="acme\n")
    assert done.exit_code == 0 and "active -> deleted" in done.output
    assert get_tenant(db, "acme").status is TenantStatus.DELETED

    early = runner.invoke(app, ["tenants", "purge", "acme", "--yes"])
    assert early.exit_code == 1
    assert "cannot purge tenant 'acme': it is deleted since" in str(early.exception)
