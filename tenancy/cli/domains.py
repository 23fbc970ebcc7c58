"""`tenancy domains`: claim a custom domain, prove it by DNS, list and release claims."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.table import Table

from tenancy.cli.context import JsonOption, console, err_console, open_database, print_json
from tenancy.dns_check import CheckResult
from tenancy.domain_model import HELD, Domain
from tenancy.domain_names import display_name
from tenancy.domain_settings import DomainSettings
from tenancy.domains import (
    add_domain,
    list_domains,
    recheck_open,
    remove_domain,
    verify_domain,
)
from tenancy.errors import TenancyError

app = typer.Typer(help="Custom domains: ownership by DNS TXT record.", no_args_is_help=True)


@contextmanager
def _reported() -> Iterator[None]:
    """A refused operation is one line on stderr and exit status 1."""
    try:
        yield
    except TenancyError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


@app.command()
def add(
    tenant: str = typer.Argument(..., help="Tenant id or slug."),
    domain: str = typer.Argument(..., help="Host name (Unicode or xn--; no wildcard)."),
    as_json: bool = JsonOption,
) -> None:
    """Claim DOMAIN for TENANT and print the token to publish (also sent to the owners)."""
    with _reported(), open_database() as db:
        claim = add_domain(db, tenant, domain, DomainSettings.from_env())
    if as_json:
        print_json({**claim.domain.to_json(), "token": claim.token})
        return
    console.print(
        f"Publish this TXT record (valid until {claim.domain.token_expires_at:%Y-%m-%d %H:%M} "
        f"UTC), then run `tenancy domains verify {tenant} {claim.domain.domain}`:\n\n"
        f'  {claim.domain.record_name}  TXT  "{claim.token}"',
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def verify(
    tenant: str = typer.Argument(..., help="Tenant id or slug."),
    domain: str = typer.Argument(..., help="The claimed host name."),
    as_json: bool = JsonOption,
) -> None:
    """Look the token up now; exit 1 unless the domain is proven (verified or active)."""
    with _reported(), open_database() as db:
        outcome = verify_domain(db, tenant, domain, DomainSettings.from_env())
    if as_json:
        print_json(outcome.to_json())
    else:
        detail = outcome.check.detail if outcome.check else "token expired; add it again"
        console.print(
            f"{display_name(outcome.domain.domain)}: {outcome.domain.status.value} ({detail})",
            highlight=False,
            soft_wrap=True,
        )
    if outcome.domain.status not in HELD or (
        outcome.check is not None and outcome.check.result is not CheckResult.MATCH
    ):
        raise typer.Exit(1)


@app.command("list")
def list_(
    tenant: str | None = typer.Option(None, help="Only this tenant (id or slug)."),
    as_json: bool = JsonOption,
) -> None:
    """Every claim, newest first, with its last check."""
    with _reported(), open_database() as db:
        domains = list_domains(db, tenant)
    if as_json:
        print_json([d.to_json() for d in domains])
        return
    console.print(_table(domains))


@app.command()
def remove(
    tenant: str = typer.Argument(..., help="Tenant id or slug."),
    domain: str = typer.Argument(..., help="The claimed host name."),
    as_json: bool = JsonOption,
) -> None:
    """Release the claim; the next `tenancy stacks generate` drops its certificate and route."""
    with _reported(), open_database() as db:
        released = remove_domain(db, tenant, domain)
    if as_json:
        print_json(released.to_json())
    else:
        console.print(f"{released.domain}: released", highlight=False)


@app.command()
def check(as_json: bool = JsonOption) -> None:
    """Re-check every pending and proven domain now (what the hourly schedule runs)."""
    with _reported(), open_database() as db:
        outcomes = recheck_open(db, DomainSettings.from_env())
    if as_json:
        print_json([o.to_json() for o in outcomes])
        return
    for o in outcomes:
        result = o.check.result.value if o.check else "-"
        console.print(
            f"{o.domain.domain}: {o.previous.value} -> {o.domain.status.value} ({result})",
            highlight=False,
        )


def _table(domains: list[Domain]) -> Table:
    table = Table(title="Domains")
    for column in ("domain", "tenant", "status", "last check", "result"):
        table.add_column(column)
    for d in domains:
        checked = f"{d.last_checked_at:%Y-%m-%d %H:%M}" if d.last_checked_at else ""
        table.add_row(
            display_name(d.domain), str(d.tenant_id), d.status.value, checked,
            d.last_detail or "",
        )  # fmt: skip
    return table
