"""`tenancy tenants suspend|reactivate|delete|restore|change-plan|purge|hold|release|sync`."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import redis
import typer

from tenancy.cli import storage_moves
from tenancy.cli.context import JsonOption, console, err_console, open_database, print_json
from tenancy.cli.exports import WarehouseOption, print_export, run_export
from tenancy.devstack.stack import LocalStack
from tenancy.lifecycle import DESTRUCTIVE, Outcome, Transition
from tenancy.lifecycle_runtime import apply_runtime_state
from tenancy.object_store import object_store_from_env
from tenancy.purge import PurgeTargets, data_plane_admin_from_env, finish_purge, kms_from_env
from tenancy.redis_connect import cluster_mode, connect
from tenancy.registry import get_tenant, list_tenants
from tenancy.settings import Settings
from tenancy.storage_move import StorageMoveError
from tenancy.tenant import TenantStatus
from tenancy.transitions import TransitionResult, apply_transition
from tenancy.usage_warehouse import resolve

KeyArgument = typer.Argument(..., help="Tenant id or slug.")
DryRunOption = typer.Option(False, "--dry-run", help="Check the transition; change nothing.")
YesOption = typer.Option(False, "--yes", help="Do not ask for confirmation.")


def redis_client(settings: Settings | None = None) -> redis.Redis:
    """The configured Redis (a cluster client with TENANCY_REDIS_CLUSTER=true, so status keys
    and ACL users reach every node), or the local stack's."""
    settings = settings or Settings.from_env()
    url = settings.redis_url or LocalStack(settings.run_dir).up().redis_url
    return connect(
        url, cluster=cluster_mode(os.environ), socket_timeout=10, socket_connect_timeout=10
    )


def purge_targets(warehouse: Path | None) -> PurgeTargets:
    """Storage, Redis, warehouse and (with TENANCY_KMS=aws) KMS, as configured."""
    settings = Settings.from_env()
    kms = kms_from_env()
    return PurgeTargets(
        store=object_store_from_env(settings.run_dir),
        redis=redis_client(settings),
        warehouse=resolve(settings, file=warehouse),
        kms=kms,
        data_plane_admin_url=data_plane_admin_from_env(settings),
    )


def _confirm(slug: str, transition: Transition) -> None:
    typed = typer.prompt(f"{transition} cannot be undone by a command; type {slug!r} to confirm")
    if typed.strip() != slug:
        err_console.print(f"[red]not confirmed[/red]: typed {typed!r}, expected {slug!r}")
        raise typer.Exit(1)


def run(
    key: str,
    transition: Transition,
    *,
    as_json: bool,
    dry_run: bool = False,
    yes: bool = False,
    hold_output: bool = False,
    **options: Any,
) -> tuple[TransitionResult, dict[str, Any]]:
    """Check, confirm, apply, then bring Redis in line with the registry; print the outcome."""
    with open_database() as db:
        if transition in DESTRUCTIVE and not (dry_run or yes):
            _confirm(get_tenant(db, key).slug, transition)
        result = apply_transition(db, key, transition, actor="cli", dry_run=dry_run, **options)
    data = result.to_json()
    if result.applied:
        client = redis_client()
        try:
            data["runtime"] = apply_runtime_state(client, result.tenant).to_json()
        finally:
            client.close()
    if as_json and not hold_output:
        print_json(data)
    elif not as_json:
        _print(result, data.get("runtime"))
    return result, data


def _print(result: TransitionResult, runtime: dict[str, Any] | None) -> None:
    plan, slug = result.plan, result.tenant.slug
    if result.dry_run:
        console.print(
            f"dry run: {plan.transition} {slug} would go {plan.from_status} -> {plan.to_status} "
            f"({plan.outcome}); nothing changed",
            highlight=False,
        )
        return
    if plan.outcome is Outcome.BLOCKED_BY_HOLD:
        console.print(
            f"{plan.transition} {slug}: blocked by legal hold ({result.tenant.legal_hold_reason}); "
            f"nothing was touched (audit seq {result.audit_seq})",
            highlight=False,
        )
        return
    effects = ", ".join(f"{k}: {v}" for k, v in result.effects.items())
    console.print(
        f"{plan.transition} {slug}: {plan.from_status} -> {plan.to_status} "
        f"(audit seq {result.audit_seq}){'; ' + effects if effects else ''}",
        highlight=False,
    )
    if runtime is not None:
        console.print(
            f"request path: {runtime['status']}; redis user: {runtime['redis_user']}",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    """Add the lifecycle commands to the `tenants` group."""
    app.add_typer(storage_moves.app, name="storage-move")

    @app.command()
    def suspend(
        key: str = KeyArgument,
        reason: str = typer.Option(..., help="Why (shown to the owners and in the audit trail)."),
        dry_run: bool = DryRunOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Suspend: the request path refuses the tenant, its agents stop, owners are told."""
        run(key, Transition.SUSPEND, as_json=as_json, dry_run=dry_run, reason=reason)

    @app.command()
    def reactivate(
        key: str = KeyArgument, dry_run: bool = DryRunOption, as_json: bool = JsonOption
    ) -> None:
        """Reactivate a suspended tenant: requests and the agents the suspension stopped resume."""
        run(key, Transition.REACTIVATE, as_json=as_json, dry_run=dry_run)

    @app.command()
    def delete(
        key: str = KeyArgument,
        reason: str = typer.Option(..., help="Why (shown to the owners and in the audit trail)."),
        dry_run: bool = DryRunOption,
        yes: bool = YesOption,
        warehouse: Path | None = WarehouseOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Soft delete: like a suspension, restorable for 30 days, then due for purge. An export
        of the tenant is made at once, and its owners are told where."""
        result, data = run(
            key,
            Transition.DELETE,
            as_json=as_json,
            dry_run=dry_run,
            yes=yes,
            reason=reason,
            hold_output=True,
        )
        if not result.applied:
            if as_json:
                print_json(data)
            return
        try:
            exported = run_export(str(result.tenant.id), warehouse)
        except Exception as exc:
            err_console.print(
                f"[red]error:[/red] {result.tenant.slug} is deleted, but its export failed: {exc}; "
                f"run `tenancy tenants export {result.tenant.slug}`",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from exc
        if as_json:
            print_json({**data, "export": exported.to_json()})
        else:
            print_export(exported, as_json=False)

    @app.command()
    def restore(
        key: str = KeyArgument, dry_run: bool = DryRunOption, as_json: bool = JsonOption
    ) -> None:
        """Undo a soft delete within 30 days; the tenant returns to active (or suspended)."""
        run(key, Transition.RESTORE, as_json=as_json, dry_run=dry_run)

    @app.command("change-plan")
    def change_plan(
        key: str = KeyArgument,
        plan: str = typer.Argument(..., help="The new plan (free, pro, enterprise)."),
        dry_run: bool = DryRunOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Upgrade or downgrade; `tenancy stacks generate` then carries it to the stack. A
        change between a shared prefix and a dedicated bucket starts a storage move (copy,
        verify, switch, catch up, remove the old location), run here until done or until it
        has to wait (for the stack to create the bucket, or a legal hold to be released)."""
        result, data = run(
            key,
            Transition.CHANGE_PLAN,
            as_json=as_json,
            dry_run=dry_run,
            plan=plan,
            hold_output=True,
        )
        move_id = result.effects.get("storage_move_id")
        if move_id is None:
            if as_json:
                print_json(data)
            return
        if not as_json:
            storage_moves.resume_or_explain(uuid.UUID(move_id), as_json=False)
            return
        try:
            move = storage_moves.drive(uuid.UUID(move_id), "cli")
        except StorageMoveError as exc:
            print_json({**data, "storage_move": {"id": move_id, "waiting": str(exc)}})
            raise typer.Exit(1) from exc
        print_json({**data, "storage_move": move.to_json()})

    @app.command()
    def purge(
        key: str = KeyArgument,
        force: bool = typer.Option(
            False, "--force", help="Purge before the 30 days are over (never under legal hold)."
        ),
        dry_run: bool = DryRunOption,
        yes: bool = YesOption,
        warehouse: Path | None = WarehouseOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Hard delete a soft-deleted tenant: rows, then its KMS key disabled and scheduled for
        deletion, objects (every version), its dedicated bucket, its Postgres schema and role,
        Redis keys and warehouse rows. Under legal hold, record the block instead. Run again on
        a purged tenant to finish steps an interruption left."""
        with open_database() as db:
            tenant = get_tenant(db, key)
        data: dict[str, Any] = {}
        if tenant.status is not TenantStatus.PURGED or dry_run:
            result, data = run(
                key,
                Transition.PURGE,
                as_json=as_json,
                dry_run=dry_run,
                yes=yes,
                force=force,
                hold_output=True,
            )
            if not result.applied:
                if as_json:
                    print_json(data)
                return
            tenant = result.tenant
        targets = purge_targets(warehouse)
        try:
            with open_database() as db:
                steps = finish_purge(db, tenant, targets)
        finally:
            targets.redis.close()
        if as_json:
            print_json({**data, "tenant": tenant.to_json(), "steps": steps})
            return
        for step, record in steps.items():
            console.print(
                f"  {step}: {json.dumps(record['detail'])}", highlight=False, soft_wrap=True
            )
        console.print(f"{tenant.slug}: purge complete", highlight=False)

    @app.command()
    def hold(
        key: str = KeyArgument,
        reason: str = typer.Option(..., help="The matter the hold is for."),
        dry_run: bool = DryRunOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Put the tenant on legal hold: no purge or retention sweep touches its data."""
        run(key, Transition.HOLD, as_json=as_json, dry_run=dry_run, reason=reason)

    @app.command()
    def release(
        key: str = KeyArgument, dry_run: bool = DryRunOption, as_json: bool = JsonOption
    ) -> None:
        """Lift the legal hold; deadlines that passed meanwhile apply at the next purge or sweep."""
        run(key, Transition.RELEASE, as_json=as_json, dry_run=dry_run)

    @app.command()
    def sync(
        key: str | None = typer.Argument(None, help="Tenant id or slug (default: every tenant)."),
        as_json: bool = JsonOption,
    ) -> None:
        """Make Redis say what the registry says (status for the request path, Redis user)."""
        with open_database() as db:
            tenants = [get_tenant(db, key)] if key else list_tenants(db)
        client = redis_client()
        try:
            states = {t.slug: apply_runtime_state(client, t).to_json() for t in tenants}
        finally:
            client.close()
        if as_json:
            print_json(states)
        else:
            for slug, state in states.items():
                console.print(f"{slug}: {state['status']}, redis user {state['redis_user']}")
