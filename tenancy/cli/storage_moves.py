"""`tenancy tenants storage-move status|resume`: the storage moves plan changes start."""

from __future__ import annotations

import uuid

import typer

from tenancy.cli.context import JsonOption, console, err_console, open_database, print_json
from tenancy.object_store import S3ObjectStore, object_store_from_env
from tenancy.settings import Settings
from tenancy.storage_move import (
    STEPS,
    MoveTargets,
    StorageMove,
    StorageMoveError,
    complete_without_copy,
    find_move,
    run_move,
)

app = typer.Typer(
    help="Storage moves (shared prefix <-> dedicated bucket) that plan changes start.",
    no_args_is_help=True,
)
MoveArgument = typer.Argument(..., help="Move id, or a tenant id or slug (its latest move).")
LOCAL = "local object store: one directory tree for both storage models, nothing to copy"


def move_targets() -> MoveTargets | None:
    """The configured S3 bucket and client, or None for the local directory store."""
    store = object_store_from_env(Settings.from_env().run_dir)
    if isinstance(store, S3ObjectStore):
        return MoveTargets(store.client, store.bucket)
    return None


def drive(move_id: uuid.UUID, actor: str) -> StorageMove:
    """Run (or resume) the move to its end, or to where it has to wait."""
    targets = move_targets()
    with open_database() as db:
        if targets is None:
            return complete_without_copy(db, move_id, LOCAL, actor)
        return run_move(db, move_id, targets, actor=actor)


def print_move(move: StorageMove, as_json: bool) -> None:
    if as_json:
        print_json(move.to_json())
        return
    console.print(
        f"storage move {move.id}: {move.source.model} -> {move.target.model} ({move.state})",
        highlight=False,
    )
    for step in STEPS:
        record = move.steps.get(step)
        if record is None:
            state = "pending"
        elif record["finished_at"] is None:
            state = f"started {record['started_at']:%Y-%m-%d %H:%M:%S}, not finished"
        else:
            state = f"done {record['detail']}"
        console.print(f"  {step}: {state}", highlight=False, soft_wrap=True)


def resume_or_explain(move_id: uuid.UUID, as_json: bool) -> None:
    """Drive the move; when it has to wait, say why and how to resume, and exit 1."""
    try:
        move = drive(move_id, "cli")
    except StorageMoveError as exc:
        err_console.print(
            f"[red]storage move waiting:[/red] {exc}; then `tenancy tenants storage-move "
            f"resume {move_id}`",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from exc
    print_move(move, as_json)
    if move.state == "blocked_by_hold":
        err_console.print(
            "the old location is kept while the tenant is on legal hold; resume after release",
            highlight=False,
        )


@app.command()
def status(key: str = MoveArgument, as_json: bool = JsonOption) -> None:
    """Show a move's state and each step's record."""
    with open_database() as db:
        print_move(find_move(db, key), as_json)


@app.command()
def resume(key: str = MoveArgument, as_json: bool = JsonOption) -> None:
    """Run the move's unfinished steps; safe to repeat after any interruption."""
    with open_database() as db:
        move = find_move(db, key)
    resume_or_explain(move.id, as_json)
