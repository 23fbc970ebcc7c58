"""Create the registry's database and its three roles; needs a superuser (or CREATEROLE) URL.

Roles are cluster-wide; bootstrapping a second database on the same cluster reuses them.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

OWNER_ROLE = "tenancy_owner"
APP_ROLE = "tenancy_app"
PLATFORM_ROLE = "tenancy_platform"
RUNTIME_ROLES = (APP_ROLE, PLATFORM_ROLE)


@dataclass(frozen=True)
class RegistryUrls:
    """Connection strings for the migration owner, the request path and the control plane."""

    owner: str
    app: str
    platform: str


def _ensure_role(conn: psycopg.Connection, role: str, password: str) -> None:
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    verb = sql.SQL("ALTER ROLE") if exists else sql.SQL("CREATE ROLE")
    conn.execute(
        sql.SQL(
            "{} {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD {}"
        ).format(verb, sql.Identifier(role), sql.Literal(password))
    )


def bootstrap(superuser_url: str, dbname: str, passwords: dict[str, str]) -> RegistryUrls:
    """Create (or update) the roles and the database `dbname` owned by the migration role."""
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        for role in (OWNER_ROLE, *RUNTIME_ROLES):
            _ensure_role(conn, role, passwords[role])
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(dbname), sql.Identifier(OWNER_ROLE)
                )
            )
        conn.execute(
            sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(dbname))
        )
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}, {}").format(
                sql.Identifier(dbname), *(sql.Identifier(r) for r in RUNTIME_ROLES)
            )
        )
    return RegistryUrls(
        owner=role_url(superuser_url, OWNER_ROLE, passwords[OWNER_ROLE], dbname),
        app=role_url(superuser_url, APP_ROLE, passwords[APP_ROLE], dbname),
        platform=role_url(superuser_url, PLATFORM_ROLE, passwords[PLATFORM_ROLE], dbname),
    )


def role_url(base_url: str, user: str, password: str, dbname: str) -> str:
    """`base_url` with its user, password and database replaced."""
    params = conninfo_to_dict(base_url)
    params.update(user=user, password=password, dbname=dbname)
    return make_conninfo(**params)  # type: ignore[arg-type]
