"""`tenancy tenants export|verify-export`: a tenant's bundle, and its check against the manifest."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import typer

from tenancy.cli.context import JsonOption, console, err_console, open_database, print_json
from tenancy.export_bundle import ExportResult, export_tenant, recorded_export
from tenancy.export_manifest import VerifyReport, verify_bundle
from tenancy.object_store import object_store_from_env
from tenancy.registry import get_tenant
from tenancy.settings import Settings
from tenancy.storage_location import tenant_store
from tenancy.usage_warehouse import resolve

WarehouseOption = typer.Option(
    None,
    "--warehouse",
    help=(
        "The usage warehouse: a DuckDB file, or an embedded lake's directory (holding catalog.ducklake); default from TENANCY_WAREHOUSE_*, local profile <run dir>/warehouse/."
    ),
)
_BUNDLE = re.compile(r"^tenants/(?P<tenant>[0-9a-f-]{36})/exports/(?P<export>[0-9A-Z]+)/?$")


def run_export(key: str, warehouse: Path | None, actor: str = "cli") -> ExportResult:
    settings = Settings.from_env()
    store = object_store_from_env(settings.run_dir)
    with open_database(settings) as db:
        store = tenant_store(db, get_tenant(db, key), store)
        return export_tenant(
            db, store, key, warehouse=resolve(settings, file=warehouse), actor=actor
        )


def print_export(result: ExportResult, as_json: bool) -> None:
    if as_json:
        print_json(result.to_json())
        return
    console.print(
        f"exported {result.files} files ({result.bytes} bytes) to {result.location}\n"
        f"manifest SHA-256 {result.manifest_sha256}",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    @app.command()
    def export(
        key: str = typer.Argument(..., help="Tenant id or slug."),
        warehouse: Path | None = WarehouseOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Write the tenant's bundle (registry rows, audit chain, usage, objects) and manifest
        under its exports/ location; the owners are told where it is."""
        print_export(run_export(key, warehouse), as_json)

    @app.command("verify-export")
    def verify_export(
        bundle: str = typer.Argument(..., help="tenants/<id>/exports/<export id>/"),
        manifest_sha256: str | None = typer.Option(
            None, help="Expected manifest digest (default: the one the audit trail recorded)."
        ),
        as_json: bool = JsonOption,
    ) -> None:
        """Check every file of a bundle against its manifest, and the manifest against the
        digest recorded when it was made; exit 1 naming each altered, missing or extra file."""
        match = _BUNDLE.fullmatch(bundle)
        if match is None:
            err_console.print(
                f"[red]error:[/red] bundle is {bundle!r}; expected tenants/<id>/exports/<export id>/"
            )
            raise typer.Exit(1)
        settings = Settings.from_env()
        expected = manifest_sha256
        if expected is None:
            with open_database(settings) as db:
                recorded = recorded_export(db, uuid.UUID(match["tenant"]), match["export"])
            if recorded is None:
                report = VerifyReport(bundle, problems=["no such export in the audit trail"])
                _print(report, as_json)
                raise typer.Exit(1)
            expected = str(recorded["manifest_sha256"])
        report = verify_bundle(object_store_from_env(settings.run_dir), bundle, expected)
        _print(report, as_json)
        if not report.ok:
            raise typer.Exit(1)


def _print(report: VerifyReport, as_json: bool) -> None:
    if as_json:
        print_json(report.to_json())
        return
    for problem in report.problems:
        err_console.print(f"[red]{problem}[/red]", highlight=False, soft_wrap=True)
    verdict = "intact" if report.ok else f"{len(report.problems)} problem(s)"
    console.print(
        f"{report.location}: {verdict}, {report.files} files", highlight=False, soft_wrap=True
    )
