"""`tenancy dashboards`: the Grafana dashboards as code.

Plugged into the `tenancy` command through the `tenancy.cli` entry point; the dashboard SDK is
imported only when a dashboards command runs, so other commands do not pay for it.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(help="Grafana dashboards as code: generate, check.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)


@app.callback()
def dashboards() -> None:
    """Grafana dashboards as code: generate, check."""


@app.command()
def generate(
    check: bool = typer.Option(
        False, "--check", help="Write nothing; exit 1 naming every stale or extra file."
    ),
    directory: Path | None = typer.Option(
        None, help="Where the dashboard JSON lives (default: policies/dashboards)."
    ),
) -> None:
    """Write policies/dashboards/<uid>.json from the builders (per tenant, all tenants,
    resource utilization, cost)."""
    from policies.observability.files import DASHBOARDS_DIR
    from policies.observability.files import generate as generate_files

    directory = directory or DASHBOARDS_DIR
    report = generate_files(directory, check=check)
    if check:
        problems = [f"{n} is out of date" for n in report.stale]
        problems += [f"{n} is made by no builder" for n in report.extra]
        for problem in problems:
            err_console.print(f"{directory}/{problem}", highlight=False, soft_wrap=True)
        if problems:
            err_console.print("run `tenancy dashboards generate` and commit the result")
            raise typer.Exit(1)
        console.print(f"{len(report.unchanged)} dashboard(s) up to date")
        return
    console.print(
        f"wrote {len(report.written)}, removed {len(report.extra)}, "
        f"unchanged {len(report.unchanged)}",
        highlight=False,
    )
