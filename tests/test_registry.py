"""Creating and finding tenants through the registry API and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import psycopg
import pytest
from typer.testing import CliRunner

from tenancy.agents import get_agent
from tenancy.cli.main import app
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.errors import InvalidInputError, NotFoundError, TenantExistsError, UnknownPlanError
from tenancy.membership import belongs_to_tenant
from tenancy.registry import create_tenant, get_tenant, list_tenants
from tenancy.tenant import TenantStatus
from tests.db.factories import make_agent, make_tenant


def row_counts(superuser: psycopg.Connection) -> dict[str, int]:
    tables = ("tenants", "users", "user_tenants", "audit_log")
    return {
        t: superuser.execute(f"SELECT count(*) FROM registry.{t}").fetchone()[0]  # type: ignore[index]
        for t in tables
    }


def test_create_tenant_writes_tenant_owner_membership_and_audit(
    db: Database, superuser: psycopg.Connection
) -> None:
    created = create_tenant(
        db,
        name="Acme Corp",
        domain="acme.example.com",
        plan="pro",
        owner_email="Boss@Acme.example.com",
    )
    tenant = created.tenant
    assert (tenant.slug, tenant.plan, tenant.status) == ("acme-corp", "pro", TenantStatus.ACTIVE)
    assert tenant.stack_name == "tenant-acme-corp"
    assert belongs_to_tenant(db, created.owner_id, tenant.id)
    role = superuser.execute(
        "SELECT m.role, u.email FROM registry.user_tenants m JOIN registry.users u ON u.id = m.user_id "
        "WHERE m.tenant_id = %s",
        (tenant.id,),
    ).fetchall()
    assert role == [("owner", "boss@acme.example.com")]
    entry = superuser.execute(
        "SELECT action, details->>'plan' FROM registry.audit_log WHERE tenant_id = %s", (tenant.id,)
    ).fetchall()
    assert entry == [("tenant.create", "pro")]
    assert get_tenant(db, "acme-corp") == tenant == get_tenant(db, str(tenant.id))
    assert list_tenants(db) == [tenant]
    assert list_tenants(db, TenantStatus.SUSPENDED) == []


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("slug", {"name": "Other", "domain": "other.example.com", "slug": "acme"}),
        ("domain", {"name": "Other", "domain": "acme.example.com"}),
    ],
)
def test_duplicates_are_refused_and_leave_nothing_behind(
    db: Database, superuser: psycopg.Connection, field: str, kwargs: dict[str, str]
) -> None:
    make_tenant(db, "acme")
    before = row_counts(superuser)
    with pytest.raises(TenantExistsError, match=f"a tenant with {field} .* already exists"):
        create_tenant(db, plan="free", owner_email="new-person@other.example.com", **kwargs)
    assert row_counts(superuser) == before  # the new owner user was rolled back too


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"plan": "platinum"}, UnknownPlanError, "unknown plan 'platinum'"),
        ({"owner_email": "nobody"}, InvalidInputError, "owner email is 'nobody'"),
        (
            {"domain": "*.evil.com"},
            InvalidInputError,
            "domain is '\\*.evil.com'; expected a single host",
        ),
        ({"domain": "UPPER.example.com"}, InvalidInputError, "expected lowercase"),
        ({"name": "  "}, InvalidInputError, "name is '  '"),
        ({"slug": "x"}, InvalidInputError, "slug is 'x'"),
    ],
)
def test_bad_input_is_rejected_before_anything_is_written(
    db: Database,
    superuser: psycopg.Connection,
    kwargs: dict[str, str],
    error: type[Exception],
    message: str,
) -> None:
    args = {
        "name": "Fine",
        "domain": "fine.example.com",
        "plan": "pro",
        "owner_email": "a@fine.example.com",
    }
    before = row_counts(superuser)
    with pytest.raises(error, match=message):
        create_tenant(db, **{**args, **kwargs})
    assert row_counts(superuser) == before


def test_get_agent_is_scoped_to_the_asking_tenant(db: Database) -> None:
    a = make_tenant(db, "alpha").tenant.id
    b = make_tenant(db, "bravo").tenant.id
    agent = make_agent(db, b)
    assert get_agent(db, agent.id, b) == agent
    with pytest.raises(NotFoundError, match=f"agent {agent.id} not found"):
        get_agent(db, agent.id, a)
    with pytest.raises(InvalidInputError, match='agent id is "\' OR 1=1 --"'):
        get_agent(db, "' OR 1=1 --", a)


def test_membership_is_per_tenant(db: Database) -> None:
    a = make_tenant(db, "alpha")
    b = make_tenant(db, "bravo")
    assert belongs_to_tenant(db, a.owner_id, a.tenant.id)
    assert not belongs_to_tenant(db, a.owner_id, b.tenant.id)
    assert not belongs_to_tenant(db, uuid.uuid4(), a.tenant.id)


def test_unknown_tenant_lookup(db: Database) -> None:
    with pytest.raises(NotFoundError, match="tenant nobody-here not found"):
        get_tenant(db, "nobody-here")


def test_cli_create_list_show(cli_env: RegistryUrls) -> None:
    runner = CliRunner()
    created = runner.invoke(
        app,
        [
            "tenants",
            "create",
            "--name",
            "Globex",
            "--domain",
            "globex.example.com",
            "--plan",
            "enterprise",
            "--owner-email",
            "hank@globex.example.com",
            "--json",
        ],
    )
    assert created.exit_code == 0, created.output
    data = json.loads(created.output)
    assert data["slug"] == "globex" and data["plan"] == "enterprise"
    listed = json.loads(runner.invoke(app, ["tenants", "list", "--json"]).output)
    assert [t["id"] for t in listed] == [data["id"]]
    shown = json.loads(runner.invoke(app, ["tenants", "show", "globex", "--json"]).output)
    assert shown["owners"] == ["hank@globex.example.com"]
    assert "isolation holds" in runner.invoke(app, ["db", "check"]).output


def test_cli_errors_are_one_line_and_exit_1(registry: RegistryUrls) -> None:
    env = {
        **os.environ,
        "TENANCY_DATABASE_URL": registry.owner,
        "TENANCY_APP_DATABASE_URL": registry.app,
        "TENANCY_PLATFORM_DATABASE_URL": registry.platform,
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tenancy.cli.main",
            "tenants",
            "create",
            "--name",
            "X Corp",
            "--domain",
            "bad_domain.example.com",
            "--plan",
            "pro",
            "--owner-email",
            "a@b.example.com",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: domain is 'bad_domain.example.com'; expected labels of 1-63 letters, digits or "
        "inner hyphens (label 'bad_domain' is not)"
    ]


def test_settings_must_be_all_or_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from tenancy.errors import ConfigurationError
    from tenancy.settings import Settings

    with pytest.raises(
        ConfigurationError, match="TENANCY_DATABASE_URL set but TENANCY_APP_DATABASE_URL"
    ):
        Settings.from_env({"TENANCY_DATABASE_URL": "postgresql://x"})


def test_add_member(db: Database, superuser: psycopg.Connection) -> None:
    from tenancy.registry import add_member
    from tenancy.tenant import MemberRole

    tenant = make_tenant(db, "acme").tenant
    user = add_member(db, tenant.id, "Dev@Acme.example.com", MemberRole.ADMIN)
    assert belongs_to_tenant(db, user, tenant.id)
    with pytest.raises(
        InvalidInputError,
        match=r"member email is 'dev@acme\.example\.com'; expected someone not yet",
    ):
        add_member(db, tenant.id, "dev@acme.example.com")
    with pytest.raises(NotFoundError, match=r"tenant .* not found"):
        add_member(db, uuid.uuid4(), "x@y.example.com")
    actions = superuser.execute("SELECT action FROM registry.audit_log ORDER BY seq").fetchall()
    assert actions == [("tenant.create",), ("member.add",)]


def test_cli_bootstrap_creates_a_usable_registry(
    postgres: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenancy.devstack.postgres import PostgresServer

    assert isinstance(postgres, PostgresServer)
    from tests.conftest import ROLE_PASSWORDS

    # Roles are cluster-wide: keep the passwords the other tests' registries use.
    monkeypatch.setenv("TENANCY_OWNER_PASSWORD", ROLE_PASSWORDS["tenancy_owner"])
    monkeypatch.setenv("TENANCY_APP_PASSWORD", ROLE_PASSWORDS["tenancy_app"])
    monkeypatch.setenv("TENANCY_PLATFORM_PASSWORD", ROLE_PASSWORDS["tenancy_platform"])
    result = CliRunner().invoke(
        app,
        ["db", "bootstrap", "--superuser-url", postgres.superuser_url, "--database", "boot_test"],
    )
    assert result.exit_code == 0, result.output
    urls = json.loads(result.stdout[result.stdout.index("{") :])
    assert ROLE_PASSWORDS["tenancy_app"] in urls["TENANCY_APP_DATABASE_URL"]
    with Database(urls["TENANCY_APP_DATABASE_URL"], urls["TENANCY_PLATFORM_DATABASE_URL"]) as db:
        created = create_tenant(
            db,
            name="Boot",
            domain="boot.example.com",
            plan="free",
            owner_email="o@boot.example.com",
        )
        assert get_tenant(db, "boot").id == created.tenant.id
    with psycopg.connect(urls["TENANCY_DATABASE_URL"]) as conn:
        from tenancy.db.isolation_audit import isolation_problems

        assert isolation_problems(conn) == []
    with psycopg.connect(postgres.superuser_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE boot_test WITH (FORCE)")


def test_long_hyphenated_slugs_are_looked_up_and_uuid_shaped_ones_refused(db: Database) -> None:
    slug = "the-very-long-company-name-of-acme-x"  # 36 characters, hyphens: not an id
    assert len(slug) == 36
    created = create_tenant(
        db,
        name="Long",
        domain="long.example.com",
        plan="pro",
        owner_email="owner@long.example.com",
        slug=slug,
    )
    assert get_tenant(db, slug).id == created.tenant.id
    assert get_tenant(db, str(created.tenant.id).upper()).id == created.tenant.id
    with pytest.raises(InvalidInputError, match="a slug that is not shaped like a UUID"):
        create_tenant(
            db,
            name="Shady",
            domain="shady.example.com",
            plan="pro",
            owner_email="owner@shady.example.com",
            slug=str(created.tenant.id),
        )
