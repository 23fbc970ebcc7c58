"""`tenancy stacks`: per-tenant stack files, offline rendering, guardrail checks, affected stacks.

Plugged into the `tenancy` command through the `tenancy.cli` entry point, so the core
package never imports the Pulumi program.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from infra.errors import InfraError
from infra.stack_files import PROJECT_FILE, PROJECT_ROOT, STACKS_DIR, list_stacks

app = typer.Typer(
    help="Per-tenant Pulumi stacks: generate, render, check, affected.", no_args_is_help=True
)
console = Console()
err_console = Console(stderr=True)
JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON.")


@app.command()
def generate(
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 naming stale stacks."),
    directory: Path = typer.Option(STACKS_DIR, help="Where stack files live."),
) -> None:
    """Write the registry's keys into infra/stacks/Pulumi.tenant-<slug>.yaml, keeping the rest.

    Only the `tenancy:` tenantId/slug/plan/status/domain/verifiedDomains keys are written; secure values,
    encryptionsalt, environment and other keys stay. A purged tenant's file is removed; a file
    the registry knows nothing about is kept and reported (and fails `--check`).
    """
    from infra.stack_files import generate as generate_files
    from tenancy.cli.context import open_database
    from tenancy.domains import served_domains
    from tenancy.registry import list_tenants

    with open_database() as db:
        tenants = list_tenants(db)
        domains = served_domains(db)
    try:
        report = generate_files(tenants, directory, check=check, domains=domains)
    except InfraError as exc:
        err_console.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    for stack in report.unknown:
        err_console.print(
            f"{stack}: no tenant with slug {stack.removeprefix('tenant-')!r} in the registry; "
            "file kept (delete it by hand once its stack is destroyed, or restore the tenant)",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if check:
        if report.out_of_date:
            for stack in report.out_of_date:
                state = "would be removed (purged)" if stack in report.removed else "is out of date"
                err_console.print(f"{stack} {state}", highlight=False)
            err_console.print("run `tenancy stacks generate` and commit the result")
        if report.out_of_date or report.unknown:
            raise typer.Exit(1)
        console.print(f"{len(report.unchanged)} stack file(s) up to date")
        return
    console.print(
        f"wrote {len(report.written)}, removed {len(report.removed)}, "
        f"unchanged {len(report.unchanged)}, kept {len(report.unknown)} unknown"
    )


def _selected(slugs: list[str] | None, directory: Path) -> list[str]:
    stacks = list_stacks(directory)
    if not slugs:
        return stacks
    wanted = [s if s.startswith("tenant-") else f"tenant-{s}" for s in slugs]
    unknown = sorted(set(wanted) - set(stacks))
    if unknown:
        raise InfraError(f"no stack file for {', '.join(unknown)} in {directory}")
    return wanted


def render_stacks(
    stacks: list[str],
    directory: Path,
    project_file: Path,
    *,
    keep_resources: bool,
    workers: int | None,
) -> dict[str, Any]:
    """stack -> Rendered, or the config error that stopped it (nothing else is lost)."""
    from infra.args_parsing import parse_stack_config
    from infra.render_many import render_many
    from infra.stack_files import load_stack_config, tenant_values
    from tenancy.plans import default_catalog

    catalog = default_catalog()
    out: dict[str, Any] = {}
    valid = []
    for stack in stacks:
        config = load_stack_config(stack, directory, project_file)
        try:
            valid.append(
                parse_stack_config(stack, tenant_values(config), catalog, config.get("aws:region"))
            )
        except InfraError as exc:
            out[stack] = exc
    with Progress(console=err_console, transient=True, disable=len(valid) < 5) as progress:
        task = progress.add_task("rendering stacks under Pulumi mocks", total=len(valid))
        rendered_all = render_many(
            valid,
            workers=workers,
            keep_resources=keep_resources,
            on_progress=lambda n: progress.advance(task, n),
        )
    for rendered in rendered_all:
        out[rendered.stack] = rendered
    return dict(sorted(out.items()))


WorkersOption = typer.Option(None, help="Worker processes (default: one per CPU for many stacks).")


@app.command()
def render(
    slugs: list[str] = typer.Argument(None, help="Slugs or stack names (default: all)."),
    as_json: bool = JsonOption,
    directory: Path = typer.Option(STACKS_DIR, help="Where stack files live."),
    workers: int | None = WorkersOption,
) -> None:
    """Run the real program under Pulumi mocks and print each tenant's resource inventory."""
    rendered = render_stacks(
        _selected(slugs, directory), directory, PROJECT_FILE, keep_resources=True, workers=workers
    )
    failed = {s: r for s, r in rendered.items() if isinstance(r, Exception)}
    if as_json:
        typer.echo(
            json.dumps(
                {
                    stack: {"error": str(r)}
                    if isinstance(r, Exception)
                    else [
                        {"type": x.type, "name": x.name, "properties": x.key_properties()}
                        for x in r.resources
                    ]
                    for stack, r in rendered.items()
                },
                indent=2,
                default=str,
            )
        )
    else:
        for stack, result in rendered.items():
            if isinstance(result, Exception):
                continue
            resources = result.resources
            table = Table(title=f"{stack}: {len(resources)} resources")
            table.add_column("type")
            table.add_column("name")
            table.add_column("key properties", overflow="fold")
            for r in resources:
                table.add_row(r.type, r.name, json.dumps(r.key_properties(), default=str))
            console.print(table)
    for error in failed.values():
        err_console.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)


@app.command()
def check(
    slugs: list[str] = typer.Argument(None, help="Slugs or stack names (default: all)."),
    directory: Path = typer.Option(STACKS_DIR, help="Where stack files live."),
    workers: int | None = WorkersOption,
) -> None:
    """Render and run every guardrail; exit 1 naming tenant, resource, policy and remedy."""
    rendered = render_stacks(
        _selected(slugs, directory), directory, PROJECT_FILE, keep_resources=False, workers=workers
    )
    from infra.domain_overlap import overlap_problems

    problems = 0
    for line in overlap_problems(rendered, directory, PROJECT_FILE):
        err_console.print(line, markup=False, highlight=False, soft_wrap=True)
        problems += 1
    for stack, result in rendered.items():
        if isinstance(result, Exception):
            err_console.print(f"{stack}: config error: {result}", highlight=False, soft_wrap=True)
            problems += 1
            continue
        for violation in result.violations or []:
            err_console.print(
                f"{stack}: {violation.resource}: [{violation.policy}] {violation.message}; "
                f"remedy: {violation.remediation}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            problems += 1
    if problems:
        err_console.print(f"[red]{problems} problem(s)[/red] in {len(rendered)} stack(s)")
        raise typer.Exit(1)
    console.print(f"{len(rendered)} stack(s) pass every guardrail")


@app.command()
def affected(
    base: str = typer.Option(..., help="Git ref the change is compared with, e.g. origin/main."),
    as_json: bool = JsonOption,
) -> None:
    """Print the stacks a change affects, one per line (removed stacks are marked)."""
    from infra.affected import affected_stacks

    stacks = affected_stacks(PROJECT_ROOT, base)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {"stack": a.stack, "removed": a.removed, "reasons": list(a.reasons)}
                    for a in stacks
                ],
                indent=2,
            )
        )
        return
    for a in stacks:
        typer.echo(f"{a.stack}{' (removed)' if a.removed else ''}")


@app.command()
def operator(
    repo: str = typer.Option(..., help="Git URL of this repository, as the operator clones it."),
    commit: str | None = typer.Option(None, help="Deploy this commit (40 hex) ..."),
    branch: str | None = typer.Option(None, help="... or follow this branch."),
    namespace: str = typer.Option("tenant-stacks", help="Namespace of the Stack objects."),
    service_account: str = typer.Option("tenant-stacks", help="Workspace pods' account."),
    organization: str | None = typer.Option(None, help="Pulumi Cloud organization, if any."),
    environment: list[str] = typer.Option([], help="ESC environment for every stack."),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 naming stale files."),
    directory: Path | None = typer.Option(None, help="Where to write (default infra/operator)."),
) -> None:
    """Write a Pulumi Kubernetes Operator `Stack` (pulumi.com/v1) per tenant, validated
    against the operator's CRD schema, to infra/operator/<stack>.yaml."""
    from infra.operator_files import OPERATOR_DIR, write_files
    from infra.operator_stacks import OperatorProfile
    from tenancy.cli.context import open_database
    from tenancy.domains import served_domains
    from tenancy.registry import list_tenants

    try:
        profile = OperatorProfile(
            repo,
            commit=commit,
            branch=branch,
            namespace=namespace,
            service_account=service_account,
            organization=organization,
            environments=tuple(environment),
        )
        with open_database() as db:
            tenants = list_tenants(db)
            domains = served_domains(db)
        report = write_files(
            tenants, profile, directory or OPERATOR_DIR, check=check, domains=domains
        )
    except InfraError as exc:
        err_console.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    for stack in report.unknown:
        err_console.print(f"{stack}: not in the registry; file kept", highlight=False)
    if check and (report.out_of_date or report.unknown):
        for stack in report.out_of_date:
            err_console.print(f"{stack} is out of date", highlight=False)
        raise typer.Exit(1)
    console.print(
        f"wrote {len(report.written)}, removed {len(report.removed)}, "
        f"unchanged {len(report.unchanged)}"
    )
