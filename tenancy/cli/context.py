"""What every command needs: settings, the registry's URLs and a console."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console

from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.devstack.stack import LocalStack
from tenancy.settings import Settings

console = Console()
err_console = Console(stderr=True)

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")


def registry_urls(settings: Settings | None = None) -> RegistryUrls:
    """The configured registry, or the local throwaway one (started on first use)."""
    settings = settings or Settings.from_env()
    if settings.uses_local_registry:
        err_console.print(
            f"[dim]no TENANCY_DATABASE_URL: using the local stack in {settings.run_dir}/[/dim]"
        )
        return LocalStack(settings.run_dir).up().registry
    assert settings.app_database_url and settings.platform_database_url and settings.database_url
    return RegistryUrls(
        settings.database_url, settings.app_database_url, settings.platform_database_url
    )


def open_database(settings: Settings | None = None) -> Database:
    urls = registry_urls(settings)
    return Database(urls.app, urls.platform, max_size=4)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))
