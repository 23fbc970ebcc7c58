"""The two shapes of usage warehouse the core reads, for tests that run on both."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3

from tenancy.usage_warehouse import WarehouseLocation

#: The embedded DuckLake (the local default) and the single DuckDB file (TENANCY_WAREHOUSE_PATH).
KINDS = ("lake", "file")


def warehouse_at(kind: str, root: Path) -> WarehouseLocation:
    if kind == "lake":
        return WarehouseLocation.local_lake(root / "warehouse")
    return WarehouseLocation.single_file(root / "usage.duckdb")


def moto_bucket(endpoint: str) -> str:
    """A new bucket on the tests' moto server, for a lake's data files."""
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    return bucket
