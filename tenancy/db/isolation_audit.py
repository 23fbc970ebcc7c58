"""Read the database catalog and list every way tenant isolation could fail to hold.

Run by the tests and by `tenancy db check`: the runtime roles must be plain roles that own
nothing, and every table that holds tenant rows must have RLS enabled, forced and policed.
"""

from __future__ import annotations

from typing import Any

import psycopg

from tenancy.db.bootstrap import APP_ROLE, RUNTIME_ROLES

#: Tables in `registry` that deliberately hold no tenant rows, with the reason.
GLOBAL_TABLES = {
    "registry.users": "platform-wide identities; membership lives in tenant-scoped user_tenants",
}
#: Tables whose tenant column is not called tenant_id.
TENANT_KEY_COLUMNS = {"registry.tenants": "id"}


def isolation_problems(conn: psycopg.Connection[Any]) -> list[str]:
    """One line per defect; an empty list means the catalog enforces isolation."""
    problems: list[str] = []
    for role in RUNTIME_ROLES:
        row = conn.execute(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s",
            (role,),
        ).fetchone()
        if row is None:
            problems.append(f"role {role} does not exist")
            continue
        for flag, value in zip(
            ("SUPERUSER", "BYPASSRLS", "CREATEROLE", "CREATEDB"), row, strict=True
        ):
            if value:
                problems.append(f"role {role} has {flag}; expected a plain login role")
        owned = conn.execute(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relowner = (SELECT oid FROM pg_roles WHERE rolname = %s) "
            "UNION ALL SELECT 'schema ' || nspname FROM pg_namespace "
            "WHERE nspowner = (SELECT oid FROM pg_roles WHERE rolname = %s)",
            (role, role),
        ).fetchall()
        problems.extend(f"role {role} owns {name}; expected to own nothing" for (name,) in owned)
        problems.extend(_role_settings(conn, role))
    tables = conn.execute(
        "SELECT n.nspname || '.' || c.relname, c.relrowsecurity, c.relforcerowsecurity, "
        "  EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid "
        "          AND a.attname = 'tenant_id' AND NOT a.attisdropped) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') "
        "  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
        "  AND (n.nspname = 'registry' OR EXISTS (SELECT 1 FROM pg_attribute a "
        "       WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)) "
        "ORDER BY 1"
    ).fetchall()
    for name, enabled, forced, has_tenant_id in tables:
        if name in GLOBAL_TABLES and not has_tenant_id:
            continue
        if not has_tenant_id and name not in TENANT_KEY_COLUMNS:
            problems.append(
                f"table {name} has no tenant_id column and is not listed in GLOBAL_TABLES"
            )
            continue
        if not enabled:
            problems.append(f"table {name}: row-level security is not enabled")
        if not forced:
            problems.append(
                f"table {name}: row-level security is not forced (the owner bypasses it)"
            )
        policy = conn.execute(
            "SELECT bool_and(qual IS NOT NULL AND (with_check IS NOT NULL OR cmd = 'SELECT')) "
            "FROM pg_policies WHERE schemaname || '.' || tablename = %s AND %s = ANY(roles)",
            (name, APP_ROLE),
        ).fetchone()
        if policy is None or policy[0] is None:
            problems.append(f"table {name}: no row-level security policy for {APP_ROLE}")
        elif not policy[0]:
            problems.append(f"table {name}: a policy for {APP_ROLE} lacks USING or WITH CHECK")
    return problems


def _role_settings(conn: psycopg.Connection[Any], role: str) -> list[str]:
    """Defaults stored for a runtime role. The role can set these itself (`ALTER ROLE ... SET`),
    so none are expected: the pools pin what they need as startup options instead."""
    rows = conn.execute(
        "SELECT coalesce(d.datname, 'all databases'), unnest(s.setconfig) "
        "FROM pg_db_role_setting s LEFT JOIN pg_database d ON d.oid = s.setdatabase "
        "WHERE s.setrole = (SELECT oid FROM pg_roles WHERE rolname = %s) ORDER BY 1, 2",
        (role,),
    ).fetchall()
    return [
        f"role {role} has the default {setting} ({where}); expected no role-level settings "
        "(a runtime role can set its own, e.g. a 1ms statement_timeout for every session)"
        for where, setting in rows
    ]
