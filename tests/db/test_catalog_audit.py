"""The database catalog enforces isolation, and the audit of it notices when it stops doing so."""

from __future__ import annotations

import psycopg
import pytest

from tenancy.db import isolation_audit
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.isolation_audit import isolation_problems


def test_migrated_registry_has_no_isolation_problems(registry: RegistryUrls) -> None:
    with psycopg.connect(registry.owner) as conn:
        assert isolation_problems(conn) == []


def test_a_new_table_without_rls_is_reported(registry: RegistryUrls) -> None:
    with psycopg.connect(registry.owner, autocommit=True) as conn:
        conn.execute("CREATE TABLE registry.invoices (id int, tenant_id uuid)")
        assert isolation_problems(conn) == [
            "table registry.invoices: row-level security is not enabled",
            "table registry.invoices: row-level security is not forced (the owner bypasses it)",
            "table registry.invoices: no row-level security policy for tenancy_app",
        ]
        conn.execute("ALTER TABLE registry.invoices ENABLE ROW LEVEL SECURITY")
        conn.execute("ALTER TABLE registry.invoices FORCE ROW LEVEL SECURITY")
        conn.execute(
            "CREATE POLICY p ON registry.invoices FOR ALL TO tenancy_app "
            "USING (tenant_id = registry.current_tenant_id())"
        )
        # PostgreSQL would reuse USING as the check, but the house rule is to state both.
        assert isolation_problems(conn) == [
            "table registry.invoices: a policy for tenancy_app lacks USING or WITH CHECK"
        ]
        conn.execute(
            "ALTER POLICY p ON registry.invoices WITH CHECK (tenant_id = registry.current_tenant_id())"
        )
        assert isolation_problems(conn) == []


def test_tenant_table_outside_registry_schema_is_found(registry: RegistryUrls) -> None:
    with psycopg.connect(registry.owner, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.stray (tenant_id uuid)")
        assert "table public.stray: row-level security is not enabled" in isolation_problems(conn)


def test_registry_table_without_tenant_column_must_be_declared_global(
    registry: RegistryUrls,
) -> None:
    with psycopg.connect(registry.owner, autocommit=True) as conn:
        conn.execute("CREATE TABLE registry.settings_cache (k text)")
        assert isolation_problems(conn) == [
            "table registry.settings_cache has no tenant_id column and is not listed in GLOBAL_TABLES"
        ]


@pytest.mark.parametrize("flag", ["BYPASSRLS", "SUPERUSER"])
def test_privileged_runtime_role_is_reported(
    registry: RegistryUrls, superuser: psycopg.Connection, flag: str
) -> None:
    superuser.execute(f"ALTER ROLE tenancy_app {flag}")
    try:
        with psycopg.connect(registry.owner) as conn:
            assert (
                f"role tenancy_app has {flag}; expected a plain login role"
                in isolation_problems(conn)
            )
    finally:
        superuser.execute(f"ALTER ROLE tenancy_app NO{flag}")


def test_runtime_role_owning_a_table_is_reported(
    registry: RegistryUrls, superuser: psycopg.Connection
) -> None:
    superuser.execute("CREATE TABLE public.owned_by_app (x int)")
    superuser.execute("ALTER TABLE public.owned_by_app OWNER TO tenancy_platform")
    with psycopg.connect(registry.owner) as conn:
        assert (
            "role tenancy_platform owns public.owned_by_app; expected to own nothing"
            in isolation_problems(conn)
        )


def test_runtime_role_attributes_directly(registry: RegistryUrls) -> None:
    with psycopg.connect(registry.app) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    assert row == (False, False)


def test_role_level_setting_made_by_the_runtime_role_is_reported(
    registry: RegistryUrls, superuser: psycopg.Connection
) -> None:
    with psycopg.connect(registry.app, autocommit=True) as raw:
        raw.execute("ALTER ROLE tenancy_app SET statement_timeout = '1ms'")
    try:
        with psycopg.connect(registry.owner) as conn:
            assert isolation_problems(conn) == [
                "role tenancy_app has the default statement_timeout=1ms (all databases); "
                "expected no role-level settings (a runtime role can set its own, e.g. a 1ms "
                "statement_timeout for every session)"
            ]
    finally:
        superuser.execute("ALTER ROLE tenancy_app RESET ALL")


def test_db_check_command_fails_on_a_role_setting(
    cli_env: RegistryUrls, superuser: psycopg.Connection
) -> None:
    from typer.testing import CliRunner

    from tenancy.cli.main import app

    assert CliRunner().invoke(app, ["db", "check"]).exit_code == 0
    with psycopg.connect(cli_env.app, autocommit=True) as raw:
        raw.execute(f"ALTER ROLE tenancy_app IN DATABASE {raw.info.dbname} SET lock_timeout = 1")
    try:
        result = CliRunner().invoke(app, ["db", "check"])
    finally:
        superuser.execute(f"ALTER ROLE tenancy_app IN DATABASE {superuser.info.dbname} RESET ALL")
    dbname = psycopg.conninfo.conninfo_to_dict(cli_env.app)["dbname"]
    assert result.exit_code == 1
    assert f"role tenancy_app has the default lock_timeout=1 ({dbname})" in result.output


def test_global_table_with_personal_data_is_reported(
    registry: RegistryUrls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        isolation_audit,
        "GLOBAL_TABLES",
        {"registry.contacts": isolation_audit.GlobalTable("newsletter", ("id", "email"))},
    )
    with psycopg.connect(registry.owner, autocommit=True) as conn:
        conn.execute("CREATE TABLE registry.contacts (id int, email text)")
        assert isolation_problems(conn) == [], "personal data the request path cannot read"
        conn.execute("GRANT SELECT ON registry.contacts TO tenancy_app")
        assert isolation_problems(conn) == [
            "table registry.contacts: column email looks like personal data and tenancy_app can "
            "read it for every tenant; expected a policy through memberships (like "
            "registry.users) or no grant"
        ]
        conn.execute("REVOKE SELECT ON registry.contacts FROM tenancy_app")
        conn.execute("ALTER TABLE registry.contacts ADD COLUMN note text")
        conn.execute("COMMENT ON COLUMN registry.contacts.note IS 'personal: free text'")
        conn.execute("GRANT SELECT (note) ON registry.contacts TO tenancy_app")
        assert isolation_problems(conn) == [
            "table registry.contacts: column note of a global table was not reviewed for "
            "personal data; expected it in GLOBAL_TABLES[...].columns",
            "table registry.contacts: column note looks like personal data and tenancy_app can "
            "read it for every tenant; expected a policy through memberships (like "
            "registry.users) or no grant",
        ]


def test_users_without_a_membership_policy_are_reported(registry: RegistryUrls) -> None:
    with psycopg.connect(registry.owner, autocommit=True) as conn:
        conn.execute("DROP POLICY tenant_members ON registry.users")
        assert isolation_problems(conn) == [
            "table registry.users: no row-level security policy for tenancy_app"
        ]
        conn.execute(
            "CREATE POLICY everyone ON registry.users FOR SELECT TO tenancy_app USING (true)"
        )
        assert isolation_problems(conn) == [
            "table registry.users: policy everyone (USING) does not go through "
            "registry.user_tenants for the current tenant"
        ]
        conn.execute("ALTER TABLE registry.users NO FORCE ROW LEVEL SECURITY")
        assert (
            "table registry.users: row-level security is not forced (the owner bypasses it)"
            in isolation_problems(conn)
        )


def test_db_check_command_fails_when_a_runtime_role_cannot_log_in(
    cli_env: RegistryUrls, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `ALTER ROLE tenancy_app PASSWORD ...` by the role itself would leave behind.
    from typer.testing import CliRunner

    from tenancy.cli.main import app
    from tenancy.db.bootstrap import role_url

    dbname = str(psycopg.conninfo.conninfo_to_dict(cli_env.app)["dbname"])
    wrong = role_url(cli_env.app, "tenancy_app", "not-the-password", dbname)
    monkeypatch.setenv("TENANCY_APP_DATABASE_URL", wrong)
    result = CliRunner().invoke(app, ["db", "check"])
    assert result.exit_code == 1
    assert "cannot log in as the request path role" in result.output
    assert "password authentication failed" in result.output
