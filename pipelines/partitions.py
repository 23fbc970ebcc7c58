"""Time partitions, UTC. The tenant is a column, never a partition (10k tenants x days would
pass Dagster's partition limits). `end_offset=1` includes the period in progress, so today's
and this month's usage can be rolled up and enforced before they end."""

import os

import dagster as dg

from tenancy.usage.shards import shard_count

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

#: One partition per usage stream shard ("0" .. "N-1"), so shards ingest in parallel runs.
#: Dagster needs the partitions when the code location loads, so N is read then (the one
#: setting read at load): changing TENANCY_USAGE_SHARDS means reloading the code location.
usage_shard_partitions = dg.StaticPartitionsDefinition(
    [str(i) for i in range(shard_count(os.environ))]
)
