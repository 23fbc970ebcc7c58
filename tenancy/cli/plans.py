"""`tenancy plans`: inspect and validate the plan catalog."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from tenancy.cli.context import JsonOption, console, err_console, open_database, print_json
from tenancy.entitlements import catalog_features
from tenancy.errors import PlanCatalogError
from tenancy.feature_overrides import stored_feature_names
from tenancy.feature_refs import feature_refs, unknown_refs
from tenancy.limits import LIMIT_KEYS
from tenancy.plans import PlanCatalog, default_plans_dir, load_catalog

app = typer.Typer(help="Inspect and validate the plan catalog.", no_args_is_help=True)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _check_feature_names(catalog: PlanCatalog, code_root: Path, registry: bool) -> None:
    """Raise `PlanCatalogError` for every feature named in code or the registry but in no plan."""
    known = catalog_features(catalog)
    problems = unknown_refs(feature_refs(code_root), known)
    if registry:
        with open_database() as db:
            stored = stored_feature_names(db)
        problems += [
            f"registry: tenant {slug}: {place} names feature `{feature}`, which is in no plan"
            for slug, feature, place in stored
            if feature not in known
        ]
    if problems:
        raise PlanCatalogError(str(catalog.directory), problems)


@app.command()
def check(
    directory: Path = typer.Argument(None, help="Catalog directory (default: plans/)."),
    as_json: bool = JsonOption,
    code_root: Path = typer.Option(
        PROJECT_ROOT, help="Project whose code is scanned for feature names."
    ),
    registry: bool = typer.Option(
        False, "--registry", help="Also check the feature names stored in the registry."
    ),
) -> None:
    """Validate every plan file, and every feature name used in code (and with --registry, in
    overrides and settings) against the plans; print the catalog, or one line per problem and
    exit 1."""
    try:
        catalog = load_catalog(directory or default_plans_dir())
        _check_feature_names(catalog, code_root, registry)
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
