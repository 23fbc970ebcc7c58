"""`tenancy tenants settings get|set`: a tenant's typed settings (features, integrations,
customizations), validated on write."""

from __future__ import annotations

import json
from typing import Any

import typer

from tenancy.cli.context import JsonOption, console, open_database, print_json
from tenancy.errors import InvalidInputError
from tenancy.members import Actor, user_by_email
from tenancy.registry import get_tenant
from tenancy.tenant_settings import get_settings, update_settings

app = typer.Typer(help="A tenant's settings: features, integrations, customizations.")
AsOption = typer.Option(None, "--as", help="Act as this member (e-mail); default: operator.")


def _value(text: str) -> Any:
    """JSON when it parses (true, 3, {"a": 1}), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _pair(raw: str) -> tuple[str, Any]:
    key, sep, value = raw.partition("=")
    if not sep or not key:
        raise InvalidInputError("setting", raw, "KEY=VALUE such as customizations.locale=en-US")
    return key, _value(value)


@app.command()
def get(
    key: str = typer.Argument(..., help="Tenant id or slug."),
    as_email: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Print the tenant's settings."""
    with open_database() as db:
        tenant = get_tenant(db, key)
        actor = (
            Actor.platform("cli") if as_email is None else Actor.member(user_by_email(db, as_email))
        )
        settings = get_settings(db, tenant.id, actor)
    if as_json:
        print_json(settings)
    else:
        console.print_json(json.dumps(settings))


@app.command("set")
def set_(
    key: str = typer.Argument(..., help="Tenant id or slug."),
    pairs: list[str] = typer.Argument(
        ..., help="KEY=VALUE pairs, e.g. customizations.locale=en-US features.sso=true"
    ),
    unset: list[str] = typer.Option([], "--unset", help="Remove this key (repeatable)."),
    as_email: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Change settings; the whole document is validated and nothing is stored on error."""
    changes: dict[str, Any] = dict(_pair(p) for p in pairs)
    changes.update({k: None for k in unset})
    with open_database() as db:
        tenant = get_tenant(db, key)
        actor = (
            Actor.platform("cli") if as_email is None else Actor.member(user_by_email(db, as_email))
        )
        settings = update_settings(db, tenant.id, actor, changes)
    if as_json:
        print_json(settings.to_data())
    else:
        console.print(f"settings of {tenant.slug} updated: {', '.join(changes)}")


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="settings")
