"""Read the database catalog and list every way tenant isolation could fail to hold.

Run by the tests and by `tenancy db check`: the runtime roles must be plain roles that own
nothing and carry no settings, every table that holds tenant rows must have RLS enabled,
forced and policed, a table seen through memberships must be policed through them, and a
global table must have had every column reviewed and show no personal data to the request
path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg

from tenancy.db.bootstrap import APP_ROLE, RUNTIME_ROLES


@dataclass(frozen=True)
class GlobalTable:
    """A table with no tenant rows: why, and the columns that were reviewed for personal data."""

    reason: str
    columns: tuple[str, ...]


#: Tables in `registry` that deliberately hold no tenant rows. None today: users are seen
#: through memberships (below).
GLOBAL_TABLES: dict[str, GlobalTable] = {}
#: Tables without a tenant column whose rows a tenant sees through its memberships.
MEMBERSHIP_SCOPED = {"registry.users": "registry.user_tenants"}
#: Tables whose tenant column is not called tenant_id.
TENANT_KEY_COLUMNS = {"registry.tenants": "id"}
#: Column names that suggest personal data; a column comment containing "personal" counts too.
PERSONAL_DATA = re.compile(
    r"e_?mail|phone|mobile|address|name|birth|ssn|passport|iban|card|ip_?addr", re.IGNORECASE
)


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
            problems.extend(_global_table(conn, name, GLOBAL_TABLES[name]))
            continue
        if name in MEMBERSHIP_SCOPED and not has_tenant_id:
            problems.extend(_membership_scoped(conn, name, enabled, forced))
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


def _global_table(conn: psycopg.Connection[Any], name: str, spec: GlobalTable) -> list[str]:
    """Every column reviewed; none that looks personal readable by the request path."""
    problems = []
    columns = conn.execute(
        "SELECT a.attname, coalesce(col_description(a.attrelid, a.attnum), ''), "
        "  has_column_privilege(%s, a.attrelid, a.attnum, 'SELECT') "
        "FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0 "
        "AND NOT a.attisdropped ORDER BY a.attnum",
        (APP_ROLE, name),
    ).fetchall()
    for column, comment, readable in columns:
        if column not in spec.columns:
            problems.append(
                f"table {name}: column {column} of a global table was not reviewed for personal "
                "data; expected it in GLOBAL_TABLES[...].columns"
            )
        personal = PERSONAL_DATA.search(column) or "personal" in comment.lower()
        if personal and readable:
            problems.append(
                f"table {name}: column {column} looks like personal data and {APP_ROLE} can read "
                "it for every tenant; expected a policy through memberships (like registry.users) "
                "or no grant"
            )
    return problems


def _membership_scoped(
    conn: psycopg.Connection[Any], name: str, enabled: bool, forced: bool
) -> list[str]:
    """RLS forced, and every request-path policy goes through the membership table."""
    problems = []
    membership = MEMBERSHIP_SCOPED[name]
    if not enabled:
        problems.append(f"table {name}: row-level security is not enabled")
    if not forced:
        problems.append(f"table {name}: row-level security is not forced (the owner bypasses it)")
    policies = conn.execute(
        "SELECT policyname, coalesce(qual, ''), coalesce(with_check, ''), cmd FROM pg_policies "
        "WHERE schemaname || '.' || tablename = %s AND %s = ANY(roles) ORDER BY 1",
        (name, APP_ROLE),
    ).fetchall()
    if not policies:
        problems.append(f"table {name}: no row-level security policy for {APP_ROLE}")
    short = membership.split(".", 1)[1]
    for policy, qual, check, cmd in policies:
        for clause, text in (("USING", qual), ("WITH CHECK", check)):
            if clause == "WITH CHECK" and cmd == "SELECT":
                continue
            if short not in text or "current_tenant_id()" not in text:
                problems.append(
                    f"table {name}: policy {policy} ({clause}) does not go through {membership} "
                    "for the current tenant"
                )
    return problems
