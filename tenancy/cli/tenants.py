"""`tenancy tenants`: register and look up tenants."""

from __future__ import annotations

import typer
from rich.table import Table

from tenancy.cli import exports, lifecycle, tenant_admin
from tenancy.cli.context import JsonOption, console, open_database, print_json
from tenancy.registry import create_tenant, get_tenant, list_tenants, owner_emails
from tenancy.tenant import Tenant, TenantStatus

app = typer.Typer(help="Register and look up tenants.", no_args_is_help=True)


def tenant_table(tenants: list[Tenant], title: str = "Tenants") -> Table:
    table = Table(title=title)
    for column in ("slug", "id", "plan", "status", "domain", "created"):
        table.add_column(column)
    for t in tenants:
        table.add_row(
            t.slug,
            str(t.id),
            t.plan,
            t.status.value,
            t.domain or "",
            t.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        )
    return table


@app.command()
def create(
    name: str = typer.Option(..., help="Display name."),
    domain: str = typer.Option(..., help="The tenant's domain (RFC 1123, lowercase)."),
    plan: str = typer.Option(..., help="A plan of the catalog: free, pro or enterprise."),
    owner_email: str = typer.Option(..., help="Email of the owner user."),
    slug: str | None = typer.Option(None, help="Stack-safe short name (default: from name)."),
    as_json: bool = JsonOption,
) -> None:
    """Create a tenant, its owner and an audit entry in one transaction."""
    with open_database() as db:
        created = create_tenant(
            db, name=name, domain=domain, plan=plan, owner_email=owner_email, slug=slug, actor="cli"
        )
    if as_json:
        print_json({**created.tenant.to_json(), "owner_id": str(created.owner_id)})
    else:
        console.print(tenant_table([created.tenant], title="Created"))


@app.command("list")
def list_(
    status: TenantStatus | None = typer.Option(None, help="Only tenants in this status."),
    as_json: bool = JsonOption,
) -> None:
    """List tenants, oldest first."""
    with open_database() as db:
        tenants = list_tenants(db, status)
    if as_json:
        print_json([t.to_json() for t in tenants])
    else:
        console.print(tenant_table(tenants))


@app.command()
def show(
    key: str = typer.Argument(..., help="Tenant id or slug."), as_json: bool = JsonOption
) -> None:
    """Show one tenant with its owners."""
    with open_database() as db:
        tenant = get_tenant(db, key)
        owners = owner_emails(db, tenant.id)
    if as_json:
        print_json({**tenant.to_json(), "owners": owners})
        return
    table = Table(show_header=False, title=tenant.slug)
    for field, value in {**tenant.to_json(), "owners": ", ".join(owners)}.items():
        table.add_row(field, str(value))
    console.print(table)


lifecycle.register(app)
exports.register(app)
tenant_admin.register(app)
