"""The retention tests' clock and policy, and a `Sweeper` over a throwaway store and warehouse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tenancy.audit_anchor_config import Anchoring
from tenancy.db.session import Database
from tenancy.object_store import LocalObjectStore
from tenancy.retention import Sweeper
from tenancy.retention_policy import load_policy
from tests.warehouses import warehouse_at

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
POLICY = load_policy()


def sweeper(
    db: Database,
    tmp_path: Path,
    anchoring: Anchoring | None,
    batch: int = 1000,
    warehouse: str = "lake",
) -> Sweeper:
    return Sweeper(
        db,
        POLICY,
        LocalObjectStore(tmp_path / "objects"),
        warehouse_at(warehouse, tmp_path),
        anchoring,
        batch,
    )
