"""`tenancy tenants features`: what a tenant is entitled to, and per-tenant overrides."""

from __future__ import annotations

import typer

from tenancy.cli.context import JsonOption, console, open_database, print_json
from tenancy.entitlements import catalog_features, entitled_features, tenant_overrides
from tenancy.feature_overrides import set_override
from tenancy.plans import default_catalog
from tenancy.registry import get_tenant

app = typer.Typer(help="A tenant's features: its plan's, with overrides.", no_args_is_help=True)
ReasonOption = typer.Option(..., "--reason", help="Why (kept in the audit trail).")


@app.command()
def show(
    key: str = typer.Argument(..., help="Tenant id or slug."), as_json: bool = JsonOption
) -> None:
    """Every feature of the catalog and whether the tenant has it (and why)."""
    catalog = default_catalog()
    with open_database() as db:
        tenant = get_tenant(db, key)
        overrides = tenant_overrides(db, tenant.id)
    plan = catalog.get(tenant.plan)
    entitled = entitled_features(plan, overrides)
    rows = [
        {
            "feature": f,
            "available": f in entitled,
            "source": ("override" if f in overrides else "plan" if f in plan.features else ""),
        }
        for f in sorted(catalog_features(catalog) | set(overrides))
    ]
    if as_json:
        print_json({"tenant": tenant.slug, "plan": plan.name, "features": rows})
        return
    for r in rows:
        mark = "yes" if r["available"] else "no "
        console.print(
            f"{mark} {r['feature']} {('(' + str(r['source']) + ')') if r['source'] else ''}"
        )


def _change(key: str, feature: str, granted: bool | None, reason: str, as_json: bool) -> None:
    with open_database() as db:
        overrides = set_override(db, key, feature, granted, reason=reason, actor="cli")
    if as_json:
        print_json({"overrides": overrides})
    else:
        console.print(f"overrides of {key}: {overrides or 'none'}")


@app.command()
def grant(
    key: str = typer.Argument(..., help="Tenant id or slug."),
    feature: str = typer.Argument(..., help="A feature of the plan catalog."),
    reason: str = ReasonOption,
    as_json: bool = JsonOption,
) -> None:
    """Grant a feature the tenant's plan does not include."""
    _change(key, feature, True, reason, as_json)


@app.command()
def withdraw(
    key: str = typer.Argument(..., help="Tenant id or slug."),
    feature: str = typer.Argument(..., help="A feature of the plan catalog."),
    reason: str = ReasonOption,
    as_json: bool = JsonOption,
) -> None:
    """Withdraw a feature the tenant's plan includes."""
    _change(key, feature, False, reason, as_json)


@app.command()
def clear(
    key: str = typer.Argument(..., help="Tenant id or slug."),
    feature: str = typer.Argument(..., help="A feature of the plan catalog."),
    reason: str = ReasonOption,
    as_json: bool = JsonOption,
) -> None:
    """Remove the override: the plan decides again."""
    _change(key, feature, None, reason, as_json)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="features")
