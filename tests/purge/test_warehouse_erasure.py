"""A purge erases the tenant's warehouse rows beneath the lake's snapshots too: after a crash
between the delete and the rewrite, and in the quarantine that names the tenant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tenancy.db.session import Database
from tenancy.lifecycle import Transition
from tenancy.purge import finish_purge, purge_steps
from tenancy.transitions import apply_transition
from tenancy.usage_warehouse import open_warehouse
from tests.purge.traces import T0, lake_places_holding


def test_a_purge_interrupted_after_its_warehouse_delete_leaves_no_file_holding_the_rows(
    db: Database, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows' delete commits, then the process dies before the files are rewritten: the
    run that finishes the step finds nothing left to delete, and must still rewrite them."""
    import tenancy.purge

    targets = world["targets"]
    acme = world["tenants"]["acme"]
    apply_transition(db, acme.id, Transition.DELETE, reason="closing", now=T0)
    purged = apply_transition(db, acme.id, Transition.PURGE, force=True, now=T0)
    real = tenancy.purge.erase_deleted

    def killed(*args: Any) -> int:
        raise KeyboardInterrupt("killed after the delete committed")

    monkeypatch.setattr(tenancy.purge, "erase_deleted", killed)
    with pytest.raises(KeyboardInterrupt):
        finish_purge(db, purged.tenant, targets)
    assert purge_steps(db, acme.id)["warehouse"]["finished_at"] is None
    monkeypatch.setattr(tenancy.purge, "erase_deleted", real)
    done = finish_purge(db, purged.tenant, targets)
    assert done["warehouse"]["finished_at"] is not None
    assert lake_places_holding(world["warehouse"], acme.id) == [], "nor beneath the snapshots"


def test_a_purge_erases_the_tenants_quarantined_entries(
    db: Database, world: dict[str, Any]
) -> None:
    """A quarantined entry keeps the event's fields (tenant id, endpoint, ...) as JSON text:
    an entry naming the purged tenant goes with the tenant, beneath the snapshots too."""
    targets, where = world["targets"], world["warehouse"]
    acme, globex = world["tenants"]["acme"], world["tenants"]["globex"]
    with open_warehouse(where) as conn:
        conn.execute(
            "CREATE TABLE usage_quarantine (entry_id VARCHAR, fields VARCHAR, reason VARCHAR, "
            "batch_id BIGINT, quarantined_at TIMESTAMP, code VARCHAR, raw_base64 VARCHAR, "
            "stream VARCHAR)"
        )
        for n, tenant in enumerate((acme, globex)):
            fields = json.dumps({"tenant": str(tenant.id), "endpoint": "/secret", "qty": "-1"})
            conn.execute(
                "INSERT INTO usage_quarantine "
                "VALUES (?, ?, 'qty is -1', 1, now(), 'bad', NULL, 'shard-0')",
                [f"{n}-0", fields],
            )
        conn.execute(
            "CREATE TABLE ingest_errors "
            "(entry_id VARCHAR, error VARCHAR, failed_at TIMESTAMP, stream VARCHAR)"
        )
        conn.execute(
            "INSERT INTO ingest_errors VALUES ('0-0', 'qty: rejected', now(), 'shard-0'), "
            "('1-0', 'qty: rejected', now(), 'shard-0'), (?, ?, now(), 'shard-0'), "
            # Another shard's stream handed out acme's entry id to one of globex's entries.
            "('0-0', 'globex: rejected', now(), 'shard-1')",
            ["2-0", f"bad row for tenant {acme.id}"],
        )
    apply_transition(db, acme.id, Transition.DELETE, reason="closing", now=T0)
    purged = apply_transition(db, acme.id, Transition.PURGE, force=True, now=T0)
    finish_purge(db, purged.tenant, targets)
    with open_warehouse(where, read_only=True) as conn:
        left = [r[0] for r in conn.execute("SELECT fields FROM usage_quarantine").fetchall()]
        errors = conn.execute("SELECT entry_id, stream FROM ingest_errors ORDER BY ALL").fetchall()
    assert [str(acme.id) in f for f in left] == [False], "globex's entry alone is kept"
    assert errors == [("0-0", "shard-1"), ("1-0", "shard-0")], (
        "the errors of acme's entry and those naming acme are gone, globex's are not"
    )
    if where.lake is not None:
        files = [p for p in Path(where.lake.data).rglob("*.parquet") if "delete" not in p.name]
        holding = [
            p.name
            for p in files
            if p.parent.name in ("usage_quarantine", "ingest_errors")
            and duckdb.execute(
                "SELECT count(*) FROM read_parquet(?) t WHERE contains(t::VARCHAR, ?)",
                [str(p), str(acme.id)],
            ).fetchall()[0][0]
        ]
        assert holding == [], "no data file still holds the entry"
