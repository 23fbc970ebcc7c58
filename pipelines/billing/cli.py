"""`tenancy billing`: preview, status and reconcile of invoices.

Registered through the `tenancy.cli` entry point: the preview reads the usage warehouse, whose
SQL lives with the pipeline, and the core package never imports the pipeline.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import typer
from rich.table import Table

from pipelines.lib import billing_usage
from tenancy.billing import ledger
from tenancy.billing.build import tenant_lines
from tenancy.billing.gateway import StripeGateway
from tenancy.billing.periods import parse_month
from tenancy.billing.reconcile import reconcile_month
from tenancy.billing.settings import StripeSettings
from tenancy.cli.context import JsonOption, console, err_console, open_database, print_json
from tenancy.cli.exports import WarehouseOption
from tenancy.devstack.stripe_local import local_stripe_url
from tenancy.errors import ConfigurationError
from tenancy.plans import default_catalog
from tenancy.registry import get_tenant
from tenancy.settings import Settings
from tenancy.usage_warehouse import open_warehouse, resolve

app = typer.Typer(help="Invoices: preview, status, reconcile with Stripe.", no_args_is_help=True)
MonthOption = typer.Option(..., "--month", help="The billing month, YYYY-MM (UTC).")


def _cents(value: int | Decimal) -> str:
    return f"{Decimal(value) / 100:,.2f}"


def _gateway() -> StripeGateway:
    settings = Settings.from_env()
    local = local_stripe_url(settings.run_dir) if settings.local else None
    return StripeGateway(StripeSettings.from_env(local_api_base=local))


@app.command()
def preview(
    tenant: str = typer.Argument(..., help="Tenant id or slug."),
    month: str = MonthOption,
    warehouse: Path | None = WarehouseOption,
    lookback: int = typer.Option(3, help="Months back whose final invoices are corrected."),
    as_json: bool = JsonOption,
) -> None:
    """Print the lines that would be invoiced for TENANT's month, corrections included."""
    period = parse_month(month)
    where = resolve(Settings.from_env(), file=warehouse)
    if not where.exists():
        raise ConfigurationError(
            f"no usage warehouse at {where.describe()}; expected one a pipeline run wrote"
        )
    with open_database() as db:
        found = get_tenant(db, tenant)
        frozen = ledger.frozen_periods(db, period, lookback).get(found.id, [])
        with open_warehouse(where, read_only=True) as conn:
            days = billing_usage.month_usage(conn, period).get(found.id, [])
            lines = tenant_lines(
                db,
                default_catalog(),
                found.id,
                period,
                days,
                frozen,
                lambda p: billing_usage.month_usage(conn, p),
            )
    if as_json:
        print_json(
            {
                "tenant": str(found.id),
                "slug": found.slug,
                "month": period.isoformat(),
                "total_cents": sum(x.amount_cents for x in lines),
                "lines": [
                    {
                        "code": x.code,
                        "description": x.description,
                        "quantity": str(x.quantity),
                        "unit_price_cents": str(x.unit_price_cents),
                        "amount_cents": x.amount_cents,
                        "period_start": x.period_start.isoformat(),
                        "period_end": x.period_end.isoformat(),
                        "corrects_period": x.corrects_period.isoformat()
                        if x.corrects_period
                        else None,
                    }
                    for x in lines
                ],
            }
        )
        return
    table = Table(title=f"{found.slug}, {period:%Y-%m} (UTC): what would be invoiced")
    for column in ("code", "description", "quantity", "unit price", "amount", "period", "corrects"):
        table.add_column(column)
    for x in lines:
        table.add_row(
            x.code,
            x.description,
            f"{x.quantity.normalize():f}",
            _cents(x.unit_price_cents),
            _cents(x.amount_cents),
            f"{x.period_start} .. {x.period_end}",
            f"{x.corrects_period:%Y-%m}" if x.corrects_period else "",
        )
    table.add_row("", "total", "", "", _cents(sum(x.amount_cents for x in lines)), "", "")
    console.print(table)


@app.command()
def status(month: str = MonthOption, as_json: bool = JsonOption) -> None:
    """List the month's invoices and their states."""
    period = parse_month(month)
    with open_database() as db:
        invoices = ledger.list_invoices(db, period)
        slugs = {i.tenant_id: get_tenant(db, i.tenant_id).slug for i in invoices}
    if as_json:
        print_json([{**i.__dict__, "slug": slugs[i.tenant_id]} for i in invoices])
        return
    table = Table(title=f"Invoices, {period:%Y-%m} (UTC)")
    for column in ("tenant", "status", "total", "Stripe invoice", "Stripe total", "held because"):
        table.add_column(column)
    for i in invoices:
        table.add_row(
            slugs[i.tenant_id],
            i.status,
            _cents(i.total_cents),
            i.stripe_invoice_id or "",
            _cents(i.stripe_total_cents) if i.stripe_total_cents is not None else "",
            i.hold_reason or "",
        )
    console.print(table)


@app.command()
def reconcile(month: str = MonthOption) -> None:
    """Compare the month's ledger with Stripe; exit 1 naming every difference."""
    period = parse_month(month)
    with open_database() as db:
        differences = reconcile_month(db, _gateway(), period)
    for line in differences:
        err_console.print(f"[red]difference[/red] {line}", highlight=False, soft_wrap=True)
    if differences:
        raise typer.Exit(1)
    console.print(f"{period:%Y-%m}: the ledger and Stripe agree")
