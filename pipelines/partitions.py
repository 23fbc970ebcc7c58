"""Time partitions, UTC. The tenant is a column, never a partition (10k tenants x days would
pass Dagster's partition limits). `end_offset=1` includes the period in progress, so today's
and this month's usage can be rolled up and enforced before they end."""

import dagster as dg

PARTITIONS_START = "2024-01-01"

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=PARTITIONS_START, timezone="UTC", end_offset=1
)
monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=PARTITIONS_START, timezone="UTC", end_offset=1
)

#: DuckDB takes one writer at a time: every asset that writes the warehouse runs in this pool,
#: whose limit is 1 (dagster.yaml: concurrency.pools.default_limit).
WAREHOUSE_POOL = "duckdb_warehouse"
