"""The two shapes of usage warehouse the core reads, for tests that run on both."""

from __future__ import annotations

from pathlib import Path

from tenancy.usage_warehouse import WarehouseLocation

#: The embedded DuckLake (the local default) and the single DuckDB file (TENANCY_WAREHOUSE_PATH).
KINDS = ("lake", "file")


def warehouse_at(kind: str, root: Path) -> WarehouseLocation:
    if kind == "lake":
        return WarehouseLocation.local_lake(root / "warehouse")
    return WarehouseLocation.single_file(root / "usage.duckdb")
