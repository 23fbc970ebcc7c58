"""Which warehouse writers queue on the one-writer pool: those of a DuckDB file (the single-file
warehouse or the embedded lake's catalog file), not those of a PostgreSQL-catalog lake, which
takes concurrent writers. Invoices are pushed one at a time whatever the warehouse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from pipelines.partitions import warehouse_pool

WRITERS = {
    "usage_events",
    "daily_tenant_usage",
    "monthly_tenant_usage",
    "tenant_quota_status",
    "invoice_ledger",
    "tenant_purges",
    "retention_sweep",
}

POOLS_AT_LOAD = """
import json
from pipelines.definitions import defs
graph = defs.resolve_asset_graph()
print(json.dumps({k.to_user_string(): sorted(graph.get(k).pools) for k in graph.get_all_asset_keys()}))
"""


@pytest.mark.parametrize(
    ("environ", "pool"),
    [
        ({}, "duckdb_warehouse"),
        ({"TENANCY_WAREHOUSE_PATH": "/srv/usage.duckdb"}, "duckdb_warehouse"),
        ({"TENANCY_WAREHOUSE_CATALOG": "/srv/lake/catalog.ducklake"}, "duckdb_warehouse"),
        ({"TENANCY_WAREHOUSE_CATALOG": "postgres:host=lake-db dbname=lake"}, None),
    ],
)
def test_only_a_postgres_catalog_lets_writers_run_side_by_side(
    environ: dict[str, str], pool: str | None
) -> None:
    assert warehouse_pool(environ) == pool


def pools_when_loaded(**variables: str) -> dict[str, list[str]]:
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith("TENANCY_WAREHOUSE_")
    } | variables
    out = subprocess.run(
        [sys.executable, "-c", POOLS_AT_LOAD],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    pools: dict[str, list[str]] = json.loads(out.strip().splitlines()[-1])
    return pools


def test_the_code_location_picks_the_pool_from_the_warehouse_it_is_given() -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:  # two code locations load side by side
        file_load = pool.submit(pools_when_loaded)
        lake_load = pool.submit(
            pools_when_loaded, TENANCY_WAREHOUSE_CATALOG="postgres:host=lake-db dbname=lake"
        )
        on_file, on_lake = file_load.result(), lake_load.result()
    assert {a for a, p in on_file.items() if p == ["duckdb_warehouse"]} == WRITERS
    assert all(on_lake[a] == [] for a in WRITERS), on_lake
    assert on_file["stripe_invoices"] == on_lake["stripe_invoices"] == ["stripe_billing"]
