"""Sweeps of the usage warehouse: rows by category on every warehouse kind, and the CLI's plan
on the default lake and sweep of the one given."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tenancy.cli.main import app
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.lifecycle import Transition
from tenancy.transitions import apply_transition
from tenancy.usage_warehouse import open_warehouse
from tests.db.factories import make_tenant
from tests.retention.sweeper import NOW, SECOND, sweeper
from tests.warehouses import KINDS, warehouse_at


@pytest.mark.parametrize("kind", KINDS)
def test_warehouse_rows_by_category(db: Database, tmp_path: Path, kind: str) -> None:
    acme = make_tenant(db, "acme").tenant
    globex = make_tenant(db, "globex").tenant  # active: its old rows stay
    apply_transition(db, "acme", Transition.DELETE, reason="closing", now=NOW - timedelta(days=8))
    where = warehouse_at(kind, tmp_path)
    with open_warehouse(where) as conn:
        conn.execute(
            "CREATE TABLE usage_events (tenant_id UUID, metric VARCHAR, occurred_at TIMESTAMP)"
        )
        for tenant in (acme, globex):
            for metric in ("api_call", "agent_execution", "storage_bytes_added"):
                for age in (timedelta(days=7) + SECOND, timedelta(days=7)):
                    conn.execute(
                        "INSERT INTO usage_events VALUES (?, ?, ?)",
                        [str(tenant.id), metric, (NOW - age).replace(tzinfo=None)],
                    )

    def left() -> dict[str, list[tuple[str, int]]]:
        with open_warehouse(where, read_only=True) as conn:
            found = conn.execute(
                "SELECT tenant_id, metric, count(*) FROM usage_events GROUP BY ALL ORDER BY 2"
            ).fetchall()
        slugs = {str(acme.id): "acme", str(globex.id): "globex"}
        out: dict[str, list[tuple[str, int]]] = {}
        for tenant_id, metric, n in found:
            out.setdefault(slugs[str(tenant_id)], []).append((metric, n))
        return out

    before = left()
    planned = sweeper(db, tmp_path, None, warehouse=kind).sweep(NOW, "r0", dry_run=True)
    counts = {
        r.category: r.count
        for r in planned
        if r.target.startswith("warehouse") and r.slug == "acme"
    }
    assert counts == {"logs": 1, "agent_executions": 1}
    assert left() == before, "a dry run deletes nothing"
    rows = sweeper(db, tmp_path, None, warehouse=kind).sweep(NOW, "r1")
    counts = {
        r.category: r.count for r in rows if r.target.startswith("warehouse") and r.slug == "acme"
    }
    assert counts == {"logs": 1, "agent_executions": 1}
    after = left()
    assert after["acme"] == [("agent_execution", 1), ("api_call", 1), ("storage_bytes_added", 2)]
    assert (
        after["globex"]
        == before["globex"]
        == [
            ("agent_execution", 2),
            ("api_call", 2),
            ("storage_bytes_added", 2),
        ]
    )


def test_cli_plans_on_the_default_lake_and_sweeps_the_one_given(
    cli_env: RegistryUrls, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENANCY_PROFILE", "local")
    monkeypatch.setenv("TENANCY_RUN_DIR", str(tmp_path))
    now = datetime.now(UTC)
    acme = make_tenant(db, "acme").tenant
    apply_transition(db, "acme", Transition.DELETE, reason="closing", now=now - timedelta(days=9))
    lake = warehouse_at("lake", tmp_path)  # <run dir>/warehouse: the local default
    with open_warehouse(lake) as conn:
        conn.execute(
            "CREATE TABLE usage_events (tenant_id UUID, metric VARCHAR, occurred_at TIMESTAMP)"
        )
        for age in (timedelta(days=8), timedelta(days=1)):
            conn.execute(
                "INSERT INTO usage_events VALUES (?, 'api_call', ?)",
                [str(acme.id), (now - age).replace(tzinfo=None)],
            )

    def logs(args: list[str]) -> int:
        result = CliRunner().invoke(app, ["retention", *args, "--json"])
        assert result.exit_code == 0, result.output
        return sum(
            r["count"]
            for r in json.loads(result.stdout)
            if r["slug"] == "acme"
            and r["category"] == "logs"
            and r["target"].startswith("warehouse")
        )

    def rows() -> int:
        with open_warehouse(lake, read_only=True) as conn:
            found = conn.execute("SELECT count(*) FROM usage_events").fetchone()
        assert found is not None
        return int(found[0])

    assert logs(["plan"]) == 1 and rows() == 2, "the plan counts on the default lake"
    assert logs(["sweep", "--warehouse", str(tmp_path / "warehouse")]) == 1
    assert rows() == 1, "the expired row is gone, the recent one stays"
