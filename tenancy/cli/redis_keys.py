"""`tenancy redis`: maintenance of the platform's Redis keys."""

from __future__ import annotations

import typer

from tenancy.cli.context import console, err_console
from tenancy.cli.lifecycle import redis_client
from tenancy.redis_key_migration import migrate_enforcement_keys

app = typer.Typer(help="Maintenance of the platform's Redis keys.", no_args_is_help=True)


@app.command("migrate-keys")
def migrate_keys() -> None:
    """Rename enforcement keys (status, quota state, rate limits, metered counters) to their
    hash-tagged names; run once when upgrading an existing install, before the new code
    serves requests. Exits 1 when a key could not be renamed because its new name exists."""
    result = migrate_enforcement_keys(redis_client())
    console.print(f"{result.renamed} keys renamed", highlight=False)
    for key in result.conflicts:
        err_console.print(
            f"{key}: its hash-tagged name exists already; left as is",
            highlight=False,
            soft_wrap=True,
        )
    if result.conflicts:
        raise typer.Exit(1)
