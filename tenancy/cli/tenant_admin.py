"""The `tenants` subcommands of tenant administration: `settings` and `features`."""

from __future__ import annotations

import typer

from tenancy.cli import features, settings


def register(parent: typer.Typer) -> None:
    settings.register(parent)
    features.register(parent)
