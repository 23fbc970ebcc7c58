"""`tenancy db`: schema migrations of the registry."""

from __future__ import annotations

import typer

from tenancy.cli.context import console, err_console, registry_urls
from tenancy.db.migrate import migrate as apply_migrations

app = typer.Typer(help="Registry database: migrations.", no_args_is_help=True)


@app.command()
def migrate() -> None:
    """Apply pending migrations to TENANCY_DATABASE_URL (as the migration owner)."""
    applied = apply_migrations(registry_urls().owner)
    console.print(
        f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else "")
    )


@app.command()
def check() -> None:
    """Audit the catalog: runtime roles are plain and own nothing, every tenant table has RLS forced."""
    import psycopg

    from tenancy.db.isolation_audit import isolation_problems

    with psycopg.connect(registry_urls().owner) as conn:
        problems = isolation_problems(conn)
    for problem in problems:
        err_console.print(problem, markup=False, soft_wrap=True)
    if problems:
        raise typer.Exit(1)
    console.print("isolation holds: runtime roles are plain, every tenant table has RLS forced")
