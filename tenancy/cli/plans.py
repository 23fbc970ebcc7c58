"""`tenancy plans`: inspect and validate the plan catalog."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from tenancy.cli.context import JsonOption, console, err_console, print_json
from tenancy.errors import PlanCatalogError
from tenancy.limits import LIMIT_KEYS
from tenancy.plans import default_plans_dir, load_catalog

app = typer.Typer(help="Inspect and validate the plan catalog.", no_args_is_help=True)


@app.command()
def check(
    directory: Path = typer.Argument(None, help="Catalog directory (default: plans/)."),
    as_json: bool = JsonOption,
) -> None:
    """Validate every plan file; print the catalog, or one line per problem and exit 1."""
    try:
        catalog = load_catalog(directory or default_plans_dir())
    except PlanCatalogError as exc:
        if as_json:
            print_json({"ok": False, "problems": exc.problems})
        else:
            for problem in exc.problems:
                err_console.print(problem, markup=False, highlight=False, soft_wrap=True)
            err_console.print(f"[red]{len(exc.problems)} problem(s) in {exc.directory}[/red]")
        raise typer.Exit(1) from None
    if as_json:
        print_json({"ok": True, "plans": [plan.model_dump(mode="json") for plan in catalog]})
        return
    plans = list(catalog)
    table = Table(title=f"Plan catalog ({catalog.directory})")
    table.add_column("", no_wrap=True)
    for plan in plans:
        table.add_column(plan.name, justify="right")
    for key in LIMIT_KEYS:
        table.add_row(key, *(str(plan.limits.get(key)) for plan in plans))
    table.add_row(
        "rate limit/min",
        *(f"{p.rate_limit.requests_per_minute} +{p.rate_limit.burst}" for p in plans),
    )
    table.add_row(
        "k8s cpu / memory", *(f"{p.kubernetes.cpu} / {p.kubernetes.memory}" for p in plans)
    )
    table.add_row("k8s pods", *(str(p.kubernetes.pods) for p in plans))
    table.add_row(
        "base price/month",
        *(f"{p.pricing.base_monthly_cents / 100:.2f} {p.pricing.currency}" for p in plans),
    )
    table.add_row(
        "overage",
        *(
            ", ".join(f"{m.split('_')[0]} {o.cents}c/{o.per}" for m, o in p.pricing.overage.items())
            or "none"
            for p in plans
        ),
    )
    table.add_row("storage", *(p.storage.model for p in plans))
    table.add_row("features", *(str(len(p.features)) for p in plans))
    console.print(table)
