"""`tenancy retention`: check the policy, show what the next sweep deletes, run a sweep."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from tenancy.audit_anchor_config import anchoring
from tenancy.cli.context import JsonOption, console, err_console, open_database, print_json
from tenancy.cli.exports import WarehouseOption
from tenancy.object_store import object_store_from_env
from tenancy.retention import Sweeper, SweepRow
from tenancy.retention_policy import RetentionPolicyError, load_policy
from tenancy.settings import Settings
from tenancy.usage_warehouse import resolve

app = typer.Typer(help="Retention by tenant status: policy, plan and sweep.", no_args_is_help=True)
PolicyOption = typer.Option(None, "--policy", help="Policy file (default policies/retention.yaml).")


@app.command()
def check(path: Path | None = typer.Argument(None, help="Policy file.")) -> None:
    """Print the retention table, or one line per problem and exit 1."""
    try:
        policy = load_policy(path)
    except RetentionPolicyError as exc:
        for problem in exc.problems:
            err_console.print(f"{exc.path}: {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    table = Table(title=str(policy.path))
    table.add_column("status")
    for category in policy.targets:
        table.add_column(category)
    for status, row in policy.retention.items():
        table.add_row(status.value, *(f"{d.days} d" if d else "indefinite" for d in row.values()))
    console.print(table)
    for category, targets in policy.targets.items():
        console.print(f"{category}: " + "; ".join(t.describe() for t in targets), highlight=False)


def _sweeper(policy: Path | None, warehouse: Path | None) -> tuple[Settings, Sweeper]:
    settings = Settings.from_env()
    return settings, Sweeper(
        open_database(settings),
        load_policy(policy),
        object_store_from_env(settings.run_dir),
        resolve(settings, file=warehouse),
        anchoring(),
    )


def _print(rows: list[SweepRow], title: str) -> None:
    table = Table(title=title)
    for column in ("tenant", "status", "category", "target", "outcome", "cutoff", "rows"):
        table.add_column(column)
    for r in rows:
        cutoff = r.cutoff.strftime("%Y-%m-%d %H:%M:%S") if r.cutoff else ""
        table.add_row(r.slug, r.status, r.category, r.target, r.outcome, cutoff, str(r.count))
    console.print(table)


@app.command()
def plan(
    policy: Path | None = PolicyOption,
    warehouse: Path | None = WarehouseOption,
    as_json: bool = JsonOption,
) -> None:
    """What the next sweep would delete, per tenant, category and target; deletes nothing."""
    _, sweeper = _sweeper(policy, warehouse)
    try:
        rows = sweeper.sweep(datetime.now(UTC), run_id="plan", dry_run=True)
    finally:
        sweeper.db.close()
    if as_json:
        print_json([r.to_json() for r in rows])
    else:
        _print(rows, "Retention plan (nothing deleted)")


@app.command()
def sweep(
    policy: Path | None = PolicyOption,
    warehouse: Path | None = WarehouseOption,
    as_json: bool = JsonOption,
) -> None:
    """Delete what has expired now (the daily `retention_sweep` asset does the same)."""
    _, sweeper = _sweeper(policy, warehouse)
    now = datetime.now(UTC)
    try:
        rows = sweeper.sweep(now, run_id=f"cli-{now:%Y%m%dT%H%M%SZ}")
    finally:
        sweeper.db.close()
    if as_json:
        print_json([r.to_json() for r in rows])
    else:
        _print(rows, "Retention sweep")
