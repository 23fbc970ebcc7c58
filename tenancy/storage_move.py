"""A plan change that moves the tenant's storage: copy, verify, switch, catch up, remove.

The move is a ledger (`registry.storage_moves` and its steps), started in the transaction of
the plan change and run step by step, each step written before and after its side effect, so
a run that stops anywhere resumes where it stopped, and nothing is copied twice or lost:

1. `copy`: every object under `tenants/<id>/` to the target bucket, streamed and hashed;
2. `verify`: every copy listed at the target with its size and read back to its SHA-256;
3. `switch`: a last catch-up pass, then the registry's location for the tenant becomes the
   target (one transaction with its ledger entry and audit entry); until then the source is
   the tenant's location, and after it, until the removal, readers fall back to the source;
4. `catch_up`: what the tenant wrote (or deleted) at the source between copy and switch;
5. `remove_old`: the source's objects, versions and delete markers, and a dedicated source
   bucket itself; under legal hold this step records `blocked_by_hold` and touches nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from tenancy import audit
from tenancy.db.session import Connection, Database
from tenancy.errors import NotFoundError
from tenancy.plans import PlanCatalog
from tenancy.registry import get_tenant
from tenancy.storage_location import DEDICATED, StorageLocation, current_location, record_location
from tenancy.storage_move_steps import (
    MoveWork,
    StorageMoveError,
    as_json,
    catch_up_step,
    copy_step,
    remove_old_step,
    verify_step,
)
from tenancy.tenant import TENANT_COLUMNS, Tenant

STEPS = ("copy", "verify", "switch", "catch_up", "remove_old")
#: Called at each step boundary with (step, "started" | "finished"), and with (step, "object")
#: after each object written or removal pass: where tests stop a run to prove it resumes.
Checkpoint = Callable[[str, str], None]

__all__ = [
    "STEPS",
    "StorageMove",
    "StorageMoveError",
    "complete_without_copy",
    "find_move",
    "run_move",
    "start_move",
]


@dataclass(frozen=True)
class StorageMove:
    id: uuid.UUID
    tenant_id: uuid.UUID
    source: StorageLocation
    target: StorageLocation
    state: str
    created_at: datetime
    finished_at: datetime | None
    steps: dict[str, dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "tenant_id": str(self.tenant_id),
            "source": self.source.to_json(),
            "target": self.target.to_json(),
            "state": self.state,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "steps": {
                step: {k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.items()}
                for step, r in self.steps.items()
            },
        }


@dataclass(frozen=True)
class MoveTargets:
    """The S3 client that reaches both buckets and the shared bucket's name."""

    client: Any
    shared_bucket: str


def start_move(
    conn: Connection,
    tenant: Tenant,
    to_model: str,
    actor: str,
    at: datetime,
    catalog: PlanCatalog | None = None,
) -> uuid.UUID | None:
    """In the plan change's transaction: pin the tenant's current location and open a move
    to `to_model`; None when the tenant is there already. Refused while another is open."""
    open_move = conn.execute(
        "SELECT id, to_model FROM registry.storage_moves WHERE tenant_id = %s AND state <> 'done'",
        (tenant.id,),
    ).fetchone()
    if open_move is not None:
        if open_move["to_model"] == to_model:
            return None  # the open move goes there already
        raise StorageMoveError(
            uuid.UUID(str(open_move["id"])),
            f"tenant {tenant.slug!r} has this storage move to {open_move['to_model']} still "
            f"open; finish it (`tenancy tenants storage-move resume {open_move['id']}`) "
            f"before a plan change to {to_model}",
        )
    source = current_location(conn, tenant, catalog)
    if source.model == to_model:
        return None
    target = StorageLocation.for_model(to_model, tenant)
    record_location(conn, tenant, source, at)
    move_id = uuid.uuid4()
    conn.execute(
        "INSERT INTO registry.storage_moves (id, tenant_id, from_model, from_bucket, to_model, "
        "to_bucket, prefix, actor, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            move_id,
            tenant.id,
            source.model,
            source.bucket,
            target.model,
            target.bucket,
            source.prefix,
            actor,
            at,
        ),
    )
    return move_id


def find_move(db: Database, key: str) -> StorageMove:
    """A move by its id, or the latest move of a tenant (id or slug)."""
    with db.platform() as conn:
        move_id: object = None
        try:
            move_id = uuid.UUID(key)
            row = conn.execute(
                "SELECT id FROM registry.storage_moves WHERE id = %s", (move_id,)
            ).fetchone()
        except ValueError:
            row = None
        if row is None:
            tenant = get_tenant(db, key)
            row = conn.execute(
                "SELECT id FROM registry.storage_moves WHERE tenant_id = %s "
                "ORDER BY created_at DESC LIMIT 1",
                (tenant.id,),
            ).fetchone()
            if row is None:
                raise NotFoundError("storage move of tenant", key)
        return _load(conn, uuid.UUID(str(row["id"])))


def _load(conn: Connection, move_id: uuid.UUID) -> StorageMove:
    row = conn.execute("SELECT * FROM registry.storage_moves WHERE id = %s", (move_id,)).fetchone()
    if row is None:
        raise NotFoundError("storage move", str(move_id))
    steps = conn.execute(
        "SELECT step, started_at, finished_at, detail FROM registry.storage_move_steps "
        "WHERE move_id = %s",
        (move_id,),
    ).fetchall()
    prefix = str(row["prefix"])

    def bucket(value: object) -> str | None:
        return None if value is None else str(value)

    return StorageMove(
        uuid.UUID(str(row["id"])),
        uuid.UUID(str(row["tenant_id"])),
        StorageLocation(str(row["from_model"]), bucket(row["from_bucket"]), prefix),
        StorageLocation(str(row["to_model"]), bucket(row["to_bucket"]), prefix),
        str(row["state"]),
        cast(datetime, row["created_at"]),
        cast("datetime | None", row["finished_at"]),
        {str(s["step"]): {k: v for k, v in s.items() if k != "step"} for s in steps},
    )


def _started(db: Database, move: StorageMove, step: str) -> None:
    with db.platform() as conn:
        conn.execute(
            "INSERT INTO registry.storage_move_steps (move_id, tenant_id, step, started_at) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (move_id, step) DO UPDATE "
            "SET started_at = EXCLUDED.started_at",
            (move.id, move.tenant_id, step, datetime.now(UTC)),
        )


def _finish(conn: Connection, move: StorageMove, step: str, detail: dict[str, Any]) -> None:
    conn.execute(
        "UPDATE registry.storage_move_steps SET finished_at = %s, detail = %s "
        "WHERE move_id = %s AND step = %s",
        (datetime.now(UTC), as_json(detail), move.id, step),
    )


def _switch(db: Database, move: StorageMove, actor: str, sync: dict[str, Any]) -> None:
    """The location, the ledger and the audit trail change together or not at all."""
    with db.platform() as conn:
        row = conn.execute(
            f"SELECT {TENANT_COLUMNS} FROM registry.tenants WHERE id = %s FOR UPDATE",
            (move.tenant_id,),
        ).fetchone()
        assert row is not None
        tenant = Tenant.from_row(row)
        at = datetime.now(UTC)
        record_location(conn, tenant, move.target, at)
        detail = {"from": move.source.to_json(), "to": move.target.to_json(), "sync": sync}
        _finish(conn, move, "switch", detail)
        audit.record(
            conn, tenant.id, actor, "tenant.storage_move.switch", f"storage-move:{move.id}", detail
        )


def _held(db: Database, move: StorageMove, actor: str) -> bool:
    """On legal hold: record the block (state and audit entry) and say so."""
    with db.platform() as conn:
        row = conn.execute(
            "SELECT legal_hold, legal_hold_reason FROM registry.tenants WHERE id = %s FOR UPDATE",
            (move.tenant_id,),
        ).fetchone()
        assert row is not None
        if not row["legal_hold"]:
            return False
        conn.execute(
            "UPDATE registry.storage_moves SET state = 'blocked_by_hold' WHERE id = %s", (move.id,)
        )
        audit.record(
            conn,
            move.tenant_id,
            actor,
            "tenant.storage_move.blocked_by_hold",
            f"storage-move:{move.id}",
            {"step": "remove_old", "hold_reason": row["legal_hold_reason"]},
        )
    return True


def run_move(
    db: Database,
    move_id: uuid.UUID,
    targets: MoveTargets,
    *,
    actor: str = "platform",
    checkpoint: Checkpoint | None = None,
) -> StorageMove:
    """Run the move's unfinished steps in order; returns the move as the ledger has it.

    Safe to run again at any time, including after a crash at any point of any step.
    """
    mark = checkpoint or (lambda step, phase: None)
    # One run per move at a time: the lock lives as long as this connection's transaction,
    # so a run that dies (even by SIGKILL) releases it.
    with db.platform() as guard:
        locked = guard.execute(
            "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0)) AS ok",
            (f"storage-move:{move_id}",),
        ).fetchone()
        if not (locked and locked["ok"]):
            raise StorageMoveError(move_id, "another run of this move is in progress")
        return _run_locked(db, move_id, targets, actor, mark)


def _run_locked(
    db: Database, move_id: uuid.UUID, targets: MoveTargets, actor: str, mark: Checkpoint
) -> StorageMove:
    with db.platform() as conn:
        move = _load(conn, move_id)
        if move.state == "done":
            return move
        status = conn.execute(
            "SELECT status FROM registry.tenants WHERE id = %s", (move.tenant_id,)
        ).fetchone()
        if status is not None and status["status"] in ("deleted", "purged"):
            raise StorageMoveError(
                move.id,
                f"tenant is {status['status']}; a deleted tenant's move resumes after a "
                "restore, and a purge closes it",
            )
        conn.execute(
            "UPDATE registry.storage_moves SET state = 'running' WHERE id = %s", (move.id,)
        )
    for step in STEPS:
        if move.steps.get(step, {}).get("finished_at") is not None:
            continue
        if step == "remove_old" and _held(db, move, actor):
            with db.platform() as conn:
                return _load(conn, move.id)
        _started(db, move, step)
        mark(step, "started")
        work = MoveWork(
            db,
            targets.client,
            move.id,
            move.source.bucket_name(targets.shared_bucket),
            move.target.bucket_name(targets.shared_bucket),
            move.source.prefix,
            move.tenant_id,
            lambda step=step: mark(step, "object"),  # type: ignore[misc]
        )
        if step == "switch":
            # What the tenant wrote since the verification, brought over just before readers
            # and writers are sent to the target.
            _switch(db, move, actor, catch_up_step(work))
        else:
            detail = _run_step(work, step, move)
            with db.platform() as conn:
                _finish(conn, move, step, detail)
        mark(step, "finished")
        with db.platform() as conn:
            move = _load(conn, move.id)
    with db.platform() as conn:
        conn.execute(
            "UPDATE registry.storage_moves SET state = 'done', finished_at = %s WHERE id = %s",
            (datetime.now(UTC), move.id),
        )
        audit.record(
            conn,
            move.tenant_id,
            actor,
            "tenant.storage_move.done",
            f"storage-move:{move.id}",
            {k: r.get("detail", {}) for k, r in move.steps.items()},
        )
        return _load(conn, move.id)


def complete_without_copy(db: Database, move_id: uuid.UUID, why: str, actor: str) -> StorageMove:
    """Close a move whose object store has no buckets (the local profile's directory, where
    both models are the same `tenants/<id>/` tree): nothing to copy, the location switches."""
    with db.platform() as conn:
        move = _load(conn, move_id)
        if move.state == "done":
            return move
        row = conn.execute(
            f"SELECT {TENANT_COLUMNS} FROM registry.tenants WHERE id = %s FOR UPDATE",
            (move.tenant_id,),
        ).fetchone()
        assert row is not None
        at = datetime.now(UTC)
        record_location(conn, Tenant.from_row(row), move.target, at)
        for step in STEPS:
            conn.execute(
                "INSERT INTO registry.storage_move_steps (move_id, tenant_id, step, started_at, "
                "finished_at, detail) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (move_id, step) "
                "DO UPDATE SET finished_at = EXCLUDED.finished_at, detail = EXCLUDED.detail",
                (move.id, move.tenant_id, step, at, at, as_json({"skipped": why})),
            )
        conn.execute(
            "UPDATE registry.storage_moves SET state = 'done', finished_at = %s WHERE id = %s",
            (at, move.id),
        )
        audit.record(
            conn,
            move.tenant_id,
            actor,
            "tenant.storage_move.done",
            f"storage-move:{move.id}",
            {"skipped": why},
        )
        return _load(conn, move.id)


def _run_step(work: MoveWork, step: str, move: StorageMove) -> dict[str, Any]:
    if step == "copy":
        return copy_step(work)
    if step == "verify":
        return verify_step(work)
    if step == "catch_up":
        return catch_up_step(work)
    return remove_old_step(work, move.source.model == DEDICATED)


def readable_locations(db: Database, tenant: Tenant) -> list[StorageLocation]:
    """Where to read the tenant's objects, in order: its location, then, while a move is past
    its switch and before its removal, the source (objects the catch-up has yet to bring)."""
    with db.platform() as conn:
        first = current_location(conn, tenant)
        row = conn.execute(
            "SELECT m.id FROM registry.storage_moves m JOIN registry.storage_move_steps s "
            "ON s.move_id = m.id AND s.step = 'switch' AND s.finished_at IS NOT NULL "
            "WHERE m.tenant_id = %s AND m.state <> 'done'",
            (tenant.id,),
        ).fetchone()
        if row is None:
            return [first]
        move = _load(conn, uuid.UUID(str(row["id"])))
    return [first, move.source]
