"""The usage warehouse as the core reads it: purge, retention sweeps and exports open one
DuckDB file. The pipeline can also write a DuckLake (TENANCY_WAREHOUSE_CATALOG); until the core
reads one, a lake is refused here with an error, never skipped: a purge or sweep that found "no
warehouse" would report rows as removed that the lake still holds."""

from __future__ import annotations

from pathlib import Path

from tenancy.errors import ConfigurationError
from tenancy.settings import Settings

LAKE_VARIABLE = "TENANCY_WAREHOUSE_CATALOG"


def refuse_lakehouse(catalog: str | None) -> None:
    if catalog:
        raise ConfigurationError(
            f"{LAKE_VARIABLE} is set (a DuckLake warehouse), but purge, retention sweeps and "
            "exports read only a single-file warehouse (TENANCY_WAREHOUSE_PATH) so far; "
            f"unset {LAKE_VARIABLE} for these or run them where the warehouse is one file"
        )


def usage_warehouse_file(settings: Settings, given: Path | None = None) -> Path:
    """`given`, else TENANCY_WAREHOUSE_PATH (the pipeline's own setting; local profile:
    `<run dir>/usage.duckdb`); anywhere else a missing setting is an error naming it."""
    refuse_lakehouse((settings.extra or {}).get(LAKE_VARIABLE))
    if given is not None:
        return given
    return settings.path(
        "TENANCY_WAREHOUSE_PATH", "usage.duckdb", "the usage warehouse's DuckDB file"
    )
