"""`tenancy audit`: check the audit trail's hash chains."""

from __future__ import annotations

import typer

from tenancy.audit import verify as verify_chain
from tenancy.cli.context import JsonOption, console, err_console, open_database, print_json
from tenancy.validation import parse_tenant_id

app = typer.Typer(help="Audit trail.", no_args_is_help=True)


@app.command()
def verify(
    tenant: str | None = typer.Option(None, help="Only this tenant id."),
    as_json: bool = JsonOption,
) -> None:
    """Recompute every hash chain; report the first broken entry and exit 1 if there is one."""
    tid = parse_tenant_id(tenant) if tenant else None
    with open_database() as db:
        report = verify_chain(db, tid)
    if as_json:
        broken = report.broken
        print_json(
            {
                "ok": report.ok,
                "tenants": report.tenants,
                "entries": report.entries,
                "broken": None if broken is None else vars(broken),
            }
        )
    elif report.broken is None:
        console.print(
            f"audit trail intact: {report.entries} entries across {report.tenants} tenant(s)"
        )
    else:
        b = report.broken
        err_console.print(
            f"[red]audit trail broken[/red] at tenant {b.tenant_id} seq {b.seq}: {b.reason}"
        )
    if not report.ok:
        raise typer.Exit(1)
