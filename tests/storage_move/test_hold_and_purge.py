"""A storage move meets a legal hold (only the removal of the old location waits) and a purge
(the open move is closed and its object ledger dropped)."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from tenancy.db.session import Database
from tenancy.errors import TenancyError
from tenancy.lifecycle import RESTORE_WINDOW, Transition
from tenancy.object_store import tenant_prefix
from tenancy.storage_location import dedicated_bucket_name
from tenancy.storage_move import MoveTargets, StorageMoveError, run_move
from tenancy.transitions import apply_transition
from tests.storage_move.buckets import current, make_bucket, versions


def test_a_legal_hold_blocks_only_the_removal(
    db: Database, superuser: psycopg.Connection, world: dict[str, Any]
) -> None:
    s3, shared = world["s3"], world["shared"]
    mover = world["tenants"]["mover"]
    prefix = tenant_prefix(mover.id)
    expected = current(s3, shared, prefix)
    make_bucket(s3, dedicated_bucket_name(mover.slug), versioned=True)
    result = apply_transition(db, mover.id, Transition.CHANGE_PLAN, plan="enterprise")
    move_id = uuid.UUID(result.effects["storage_move_id"])
    with pytest.raises(TenancyError, match="storage move to dedicated_bucket still open"):
        apply_transition(db, mover.id, Transition.CHANGE_PLAN, plan="free")
    apply_transition(db, mover.id, Transition.HOLD, reason="litigation 42")

    deleted = f"{prefix}documents/1.txt"
    second_runs: list[str] = []

    def tenant_deletes_after_verify(step: str, phase: str) -> None:
        if (step, phase) == ("copy", "started"):
            with pytest.raises(StorageMoveError, match="another run of this move") as refused:
                run_move(db, move_id, MoveTargets(s3, shared))
            second_runs.append(str(refused.value))
        if (step, phase) == ("verify", "finished"):
            s3.delete_object(Bucket=shared, Key=deleted)

    move = run_move(db, move_id, MoveTargets(s3, shared), checkpoint=tenant_deletes_after_verify)
    assert move.state == "blocked_by_hold" and len(second_runs) == 1, "one run at a time"
    assert "remove_old" not in move.steps and move.steps["switch"]["finished_at"] is not None
    assert move.steps["catch_up"]["detail"]["deleted_at_source_kept_for_hold"] == 1
    target = current(s3, dedicated_bucket_name(mover.slug), prefix)
    assert target[deleted] == expected.pop(deleted), "under hold, a deletion is not carried over"
    assert current(s3, shared, prefix) == expected, "the old location is untouched"
    actions = [
        r[0]
        for r in superuser.execute(
            "SELECT action FROM registry.audit_log WHERE tenant_id = %s ORDER BY seq", (mover.id,)
        ).fetchall()
    ]
    assert "tenant.storage_move.blocked_by_hold" in actions

    apply_transition(db, mover.id, Transition.RELEASE)
    move = run_move(db, move_id, MoveTargets(s3, shared))
    assert move.state == "done" and versions(s3, shared, prefix) == {}
    assert current(s3, dedicated_bucket_name(mover.slug), prefix) == target


def test_a_purge_closes_the_open_move_and_drops_its_object_ledger(
    db: Database, superuser: psycopg.Connection, world: dict[str, Any]
) -> None:
    s3, shared = world["s3"], world["shared"]
    mover = world["tenants"]["mover"]
    make_bucket(s3, dedicated_bucket_name(mover.slug), versioned=True)
    result = apply_transition(db, mover.id, Transition.CHANGE_PLAN, plan="enterprise")
    move_id = uuid.UUID(result.effects["storage_move_id"])

    class Stop(Exception):
        pass

    def stop_after_copy(step: str, phase: str) -> None:
        if (step, phase) == ("verify", "started"):
            raise Stop

    with pytest.raises(Stop):
        run_move(db, move_id, MoveTargets(s3, shared), checkpoint=stop_after_copy)

    def ledger() -> tuple[str, int]:
        state = superuser.execute(
            "SELECT state FROM registry.storage_moves WHERE id = %s", (move_id,)
        ).fetchone()
        objects = superuser.execute(
            "SELECT count(*) FROM registry.storage_move_objects WHERE move_id = %s", (move_id,)
        ).fetchone()
        assert state is not None and objects is not None
        return str(state[0]), int(objects[0])

    assert ledger() == ("running", 5), "the copy recorded every object of the tenant"
    deleted = apply_transition(db, mover.id, Transition.DELETE, reason="closing")
    with pytest.raises(StorageMoveError, match="tenant is deleted"):
        run_move(db, move_id, MoveTargets(s3, shared))
    apply_transition(db, mover.id, Transition.PURGE, now=deleted.tenant.deleted_at + RESTORE_WINDOW)
    assert ledger() == ("done", 0), "closed, and no object keys or digests of the tenant left"
