"""`tenancy demo`: the main job on embedded defaults, end to end on throwaway servers."""

from __future__ import annotations

import uuid

import typer
from rich.table import Table

from tenancy.agents import create_agent, get_agent
from tenancy.audit import verify
from tenancy.cli.context import console
from tenancy.cli.tenants import tenant_table
from tenancy.db.session import Database
from tenancy.devstack.stack import DEFAULT_DATABASE, LocalStack
from tenancy.errors import NotFoundError
from tenancy.plans import default_catalog
from tenancy.registry import create_tenant
from tenancy.settings import Settings

# Fixed ids: the stack files committed under infra/stacks/ describe these same tenants, so
# `tenancy stacks generate --check` agrees with a demo registry.
DEMO_TENANTS = (
    (
        uuid.UUID("0b7e4c1a-5f0e-4d5e-9a53-6f1c2d3e4a01"),
        "Acme Free",
        "acme-free.example.com",
        "free",
    ),
    (
        uuid.UUID("1c8f5d2b-6a1f-4e6f-8b64-7a2d3e4f5b02"),
        "Globex Pro",
        "globex-pro.example.com",
        "pro",
    ),
    (
        uuid.UUID("2d906e3c-7b2a-4f7a-9c75-8b3e4f5a6c03"),
        "Initech Enterprise",
        "initech.example.com",
        "enterprise",
    ),
)


def demo() -> None:
    """Build a throwaway registry, create a tenant per plan, and show isolation at work."""
    settings = Settings.from_env()
    stack = LocalStack(settings.run_dir)
    with console.status("starting local PostgreSQL and Redis, migrating a fresh registry"):
        urls = stack.fresh_database(DEFAULT_DATABASE)
    console.print(
        f"registry ready on 127.0.0.1:{stack.postgres.port} (run dir {settings.run_dir}/)"
    )
    catalog = default_catalog()
    with Database(urls.app, urls.platform) as db:
        created = []
        for tenant_id, name, domain, plan in DEMO_TENANTS:
            slug = name.lower().replace(" ", "-")
            new = create_tenant(
                db,
                name=name,
                domain=domain,
                plan=plan,
                owner_email=f"owner@{domain}",
                slug=slug,
                actor="demo",
                catalog=catalog,
                tenant_id=tenant_id,
            )
            created.append(new.tenant)
        console.print(tenant_table(created, title="Tenants, one per plan"))

        limits = Table(title="Effective limits (plan catalog)")
        for column in ("tenant", "users", "agents", "storage GB", "API calls/month", "rate/min"):
            limits.add_column(column)
        for tenant in created:
            tenant_plan = catalog.get(tenant.plan)
            eff = tenant_plan.effective_limits(tenant.limit_overrides)
            limits.add_row(
                tenant.slug,
                str(eff["users"]),
                str(eff["agents"]),
                str(eff["storage_gb"]),
                str(eff["api_calls_per_month"]),
                str(tenant_plan.rate_limit.requests_per_minute),
            )
        console.print(limits)

        agents = {t.slug: create_agent(db, t.id, f"{t.slug}-assistant") for t in created}
        first, second = created[0], created[1]
        try:
            get_agent(db, agents[second.slug].id, first.id)
            leaked = True
        except NotFoundError:
            leaked = False
        verdict = "[red]LEAKED[/red]" if leaked else "[green]not found[/green] (row-level security)"
        console.print(f"{first.slug} asking for {second.slug}'s agent: {verdict}")
        report = verify(db)
        console.print(
            f"audit trail: {report.entries} entries over {report.tenants} tenants, "
            + (
                "[green]chain intact[/green]"
                if report.ok
                else f"[red]broken: {report.broken}[/red]"
            )
        )
    console.print(
        "\nTry: [bold].venv/bin/tenancy tenants list[/bold]   "
        "stop the servers: [bold].venv/bin/tenancy dev down[/bold]"
    )
    if leaked or not report.ok:
        raise typer.Exit(1)
