"""Entry point: `tenancy <group> <command>`; every command has --help."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import typer

from tenancy.cli import (
    audit,
    db,
    dev,
    domains,
    notifications,
    plans,
    redis_keys,
    retention,
    tenants,
)
from tenancy.cli import members as members_cli
from tenancy.cli.context import err_console
from tenancy.cli.demo import demo
from tenancy.errors import TenancyError

app = typer.Typer(
    help="CodexOS tenancy: tenant registry, plan catalog and per-tenant isolation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(plans.app, name="plans")
app.add_typer(db.app, name="db")
app.add_typer(tenants.app, name="tenants")
app.add_typer(audit.app, name="audit")
app.add_typer(dev.app, name="dev")
app.add_typer(notifications.app, name="notifications")
app.add_typer(retention.app, name="retention")
app.add_typer(members_cli.app, name="members")
app.add_typer(domains.app, name="domains")
app.add_typer(redis_keys.app, name="redis")
app.command()(demo)

# Packages that build on the core (the Pulumi program, the pipeline) add command groups through
# the `tenancy.cli` entry point; the core itself never imports them.
for _plugin in entry_points(group="tenancy.cli"):
    app.add_typer(_plugin.load(), name=_plugin.name)


def main() -> None:
    """Run the CLI; a TenancyError becomes a one-line message and exit status 1."""
    try:
        app()
    except TenancyError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
