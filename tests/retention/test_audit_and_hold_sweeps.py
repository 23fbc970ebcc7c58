"""Sweeps of the audit trail (a checkpoint verify starts from, anchored entries only) and of a
tenant under legal hold (nothing touched, the refusal reported)."""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tenancy.audit import anchor, verify
from tenancy.audit_anchor import AnchorKey
from tenancy.audit_anchor_config import Anchoring
from tenancy.audit_anchor_store import LocalAnchorStore
from tenancy.db.session import Database
from tenancy.lifecycle import Transition
from tenancy.registry import add_member
from tenancy.transitions import apply_transition
from tests.db.factories import make_document, make_tenant
from tests.retention.sweeper import NOW, sweeper


@pytest.fixture
def anchoring(tmp_path: Path) -> Anchoring:
    return Anchoring(AnchorKey(os.urandom(32)), LocalAnchorStore(tmp_path / "anchors"))


def entries(superuser: psycopg.Connection, tenant_id: uuid.UUID) -> list[tuple[int, datetime]]:
    return [
        (int(r[0]), r[1])
        for r in superuser.execute(
            "SELECT seq, created_at FROM registry.audit_log WHERE tenant_id = %s ORDER BY seq",
            (tenant_id,),
        ).fetchall()
    ]


def test_audit_sweep_leaves_a_checkpoint_that_verify_starts_from(
    db: Database, superuser: psycopg.Connection, tmp_path: Path, anchoring: Anchoring
) -> None:
    acme = make_tenant(db, "acme").tenant
    for i in range(4):
        add_member(db, acme.id, f"m{i}@acme.example.com")
    log = entries(superuser, acme.id)
    assert [s for s, _ in log] == [1, 2, 3, 4, 5]
    at_third = log[2][1] + timedelta(days=2555)  # entry 3 exactly 7 years old: kept

    assert sweeper(db, tmp_path, anchoring, batch=1).sweep(at_third, "r0")  # nothing anchored yet
    assert [s for s, _ in entries(superuser, acme.id)][:1] == [1], "unanchored entries stay"
    anchor(db, anchoring)
    rows = sweeper(db, tmp_path, anchoring, batch=1).sweep(at_third, "r1")
    audit_row = next(r for r in rows if r.category == "audit_trails")
    assert (audit_row.outcome, audit_row.count) == ("deleted", 2)
    assert audit_row.newest == log[1][1] and audit_row.cutoff == at_third - timedelta(days=2555)
    remaining = entries(superuser, acme.id)
    assert remaining[0][0] == 3, "entries 1-2 swept, 3 (exactly at its retention) kept"
    report = verify(db, acme.id, anchoring)
    assert report.ok and report.chains[0].checkpoint_seq == 2, report.chains[0].state
    assert "seq 1-2 swept, verified from its checkpoint" in report.chains[0].state
    assert remaining[-1][0] == 6 and remaining[-1][0] == max(s for s, _ in remaining)

    # Whoever moves the checkpoint (to hide removed entries) is caught by the anchor (seq 5).
    def checkpoint_at(seq: int) -> str:
        superuser.execute(
            "UPDATE registry.audit_checkpoints SET seq = %s WHERE tenant_id = %s", (seq, acme.id)
        )
        return verify(db, acme.id, anchoring).chains[0].state

    assert checkpoint_at(5) == (
        "broken at seq 5: the checkpoint differs from the anchor of "
        f"{anchoring.store.latest(str(acme.id)).anchored_at}"  # type: ignore[union-attr]
    )
    assert "the checkpoint at seq 6 is past the latest anchor (seq 5)" in checkpoint_at(6)
    assert "sequence jumps from 3 to 3" in checkpoint_at(3)
    superuser.execute(
        "UPDATE registry.audit_checkpoints SET seq = 2 WHERE tenant_id = %s", (acme.id,)
    )
    assert verify(db, acme.id, anchoring).ok

    # Everything anchored swept: new entries continue the chain from the checkpoint.
    anchor(db, anchoring)
    sweeper(db, tmp_path, anchoring).sweep(NOW + timedelta(days=9000), "r2")
    apply_transition(db, "acme", Transition.SUSPEND, reason="x")
    assert verify(db, acme.id, anchoring).ok


def test_legal_hold_touches_nothing_and_is_reported(
    db: Database, superuser: psycopg.Connection, tmp_path: Path, anchoring: Anchoring
) -> None:
    acme = make_tenant(db, "acme").tenant
    make_document(db, acme.id)
    anchor(db, anchoring)
    apply_transition(db, "acme", Transition.DELETE, reason="closing")
    apply_transition(db, "acme", Transition.HOLD, reason="case 9")
    before = (
        entries(superuser, acme.id),
        superuser.execute("SELECT * FROM registry.documents").fetchall(),
    )
    rows = sweeper(db, tmp_path, anchoring).sweep(NOW + timedelta(days=9000), "r1")
    assert {r.outcome for r in rows} == {"blocked_by_hold"}
    after_docs = superuser.execute("SELECT * FROM registry.documents").fetchall()
    assert entries(superuser, acme.id)[:-1] == before[0] and after_docs == before[1]
    assert superuser.execute(
        "SELECT DISTINCT outcome FROM registry.retention_runs WHERE run_id = 'r1'"
    ).fetchall() == [("blocked_by_hold",)]
    assert entries(superuser, acme.id)[-1][0] == before[0][-1][0] + 1
    assert superuser.execute(
        "SELECT action FROM registry.audit_log WHERE tenant_id = %s ORDER BY seq DESC LIMIT 1",
        (acme.id,),
    ).fetchone() == ("retention.sweep.blocked_by_hold",)
