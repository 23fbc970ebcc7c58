"""`tenancy db`: schema migrations of the registry."""

from __future__ import annotations

import typer

from tenancy.cli.context import console, err_console, registry_urls
from tenancy.db.migrate import migrate as apply_migrations

app = typer.Typer(
    help="Registry database: bootstrap, migrations, isolation audit.", no_args_is_help=True
)


@app.command()
def migrate() -> None:
    """Apply pending migrations to TENANCY_DATABASE_URL (as the migration owner)."""
    applied = apply_migrations(registry_urls().owner)
    console.print(
        f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else "")
    )


@app.command()
def check() -> None:
    """Audit the catalog and the pools: plain runtime roles owning nothing and carrying no
    settings, RLS forced on every tenant table, no personal data in a global table, and a pool
    reset that leaves no session state."""
    import psycopg

    from tenancy.db.isolation_audit import isolation_problems
    from tenancy.db.session import reset_session
    from tenancy.db.session_audit import session_state_problems

    urls = registry_urls()
    with psycopg.connect(urls.owner) as conn:
        problems = isolation_problems(conn)
    problems += session_state_problems(urls.owner, reset_session)
    for role, url in (("request path", urls.app), ("control plane", urls.platform)):
        try:
            psycopg.connect(url, connect_timeout=10).close()
        except psycopg.OperationalError as exc:
            problems.append(f"cannot log in as the {role} role: {str(exc).strip()}")
    for problem in problems:
        err_console.print(problem, markup=False, soft_wrap=True)
    if problems:
        raise typer.Exit(1)
    console.print(
        "isolation holds: runtime roles are plain, every tenant table has RLS forced, "
        "pooled connections are reset to no session state"
    )


@app.command()
def bootstrap(
    superuser_url: str = typer.Option(
        ...,
        envvar="TENANCY_SUPERUSER_URL",
        help="A superuser (or CREATEROLE + CREATEDB) connection.",
    ),
    database: str = typer.Option("tenancy", help="Database to create for the registry."),
) -> None:
    """Create the three roles and the registry database, then migrate it; prints the URLs as JSON.

    Passwords come from TENANCY_OWNER_PASSWORD, TENANCY_APP_PASSWORD and
    TENANCY_PLATFORM_PASSWORD, or are generated. Run it again to rotate them.
    """
    import os
    import secrets

    from tenancy.cli.context import print_json
    from tenancy.db.bootstrap import APP_ROLE, OWNER_ROLE, PLATFORM_ROLE
    from tenancy.db.bootstrap import bootstrap as create_registry

    env = {
        OWNER_ROLE: "TENANCY_OWNER_PASSWORD",
        APP_ROLE: "TENANCY_APP_PASSWORD",
        PLATFORM_ROLE: "TENANCY_PLATFORM_PASSWORD",
    }
    passwords = {
        role: os.environ.get(var) or secrets.token_urlsafe(24) for role, var in env.items()
    }
    urls = create_registry(superuser_url, database, passwords)
    applied = apply_migrations(urls.owner)
    err_console.print(
        f"registry {database}: {len(applied)} migration(s) applied; the URLs below hold secrets"
    )
    print_json(
        {
            "TENANCY_DATABASE_URL": urls.owner,
            "TENANCY_APP_DATABASE_URL": urls.app,
            "TENANCY_PLATFORM_DATABASE_URL": urls.platform,
        }
    )
