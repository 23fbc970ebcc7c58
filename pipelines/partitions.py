"""Time partitions, UTC. The tenant is a column, never a partition (10k tenants x days would
pass Dagster's partition limits). `end_offset=1` includes the period in progress, so today's
and this month's usage can be rolled up and enforced before they end."""

import os
from collections.abc import Mapping

import dagster as dg

from tenancy import usage_warehouse
from tenancy.lakehouse import takes_concurrent_writers
from tenancy.usage.shards import shard_count

PARTITIONS_START = "2024-01-01"

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=PARTITIONS_START, timezone="UTC", end_offset=1
)
monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=PARTITIONS_START, timezone="UTC", end_offset=1
)


def warehouse_pool(environ: Mapping[str, str]) -> str | None:
    """The concurrency pool of the assets that write the warehouse. A DuckDB file (the
    single-file warehouse, or the embedded lake's catalog file) takes one writing process, so
    they queue on `duckdb_warehouse`, whose limit is 1 (dagster.yaml:
    concurrency.pools.default_limit). A lake whose catalog is in PostgreSQL takes concurrent
    writers (fenced transactions, conflicts retried: `pipelines.lib.writes`), so there they
    run in no pool, side by side up to the run queue's limit. Read when the code location
    loads, like the shard count."""
    catalog = environ.get(usage_warehouse.CATALOG, "")
    return None if takes_concurrent_writers(catalog) else "duckdb_warehouse"


WAREHOUSE_POOL = warehouse_pool(os.environ)

#: One partition per usage stream shard ("0" .. "N-1"), so shards ingest in parallel runs.
#: Dagster needs the partitions when the code location loads, so N is read then (the one
#: setting read at load): changing TENANCY_USAGE_SHARDS means reloading the code location.
usage_shard_partitions = dg.StaticPartitionsDefinition(
    [str(i) for i in range(shard_count(os.environ))]
)
