"""The lakehouse's data files, kept compact."""

from datetime import timedelta

import dagster as dg
from pydantic import Field

from pipelines.lib import lake_maintenance
from pipelines.resources import UsageWarehouse


class LakehouseUpkeepConfig(dg.Config):
    """How much history the upkeep keeps (launchpad-editable)."""

    keep_snapshots_hours: int = Field(
        default=168,
        ge=1,
        description="Snapshots younger than this stay readable (time travel, runs still "
        "reading them); older ones are expired and the files only they used are deleted.",
    )


@dg.asset(group_name="warehouse")
def lakehouse_files(
    config: LakehouseUpkeepConfig, warehouse_db: UsageWarehouse
) -> dg.MaterializeResult:
    """The lakehouse's Parquet files after upkeep: small adjacent files merged, snapshots older
    than the kept window expired, and files no live snapshot references deleted. Nothing to do
    on a single DuckDB file warehouse."""
    if warehouse_db.lake() is None:
        return dg.MaterializeResult(metadata={"skipped": "the warehouse is a single DuckDB file"})
    with warehouse_db.connection() as conn:
        upkeep = lake_maintenance.maintain(conn, timedelta(hours=config.keep_snapshots_hours))
    return dg.MaterializeResult(
        metadata={
            "data_files_before": upkeep.files_before,
            "data_files_after": upkeep.files_after,
            "tables_merged": upkeep.tables_merged,
            "snapshots_expired": upkeep.snapshots_expired,
            "files_deleted": upkeep.files_deleted,
            "orphaned_files_deleted": upkeep.orphans_deleted,
        }
    )
