"""The warehouse waits for DuckDB's single writer; storage is measured locally or in S3."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import duckdb
import pytest

from pipelines.resources import UsageWarehouse
from pipelines.usage.resources import StorageMeasurer
from tests.lock_holder import hold_lock, release_after

A = uuid.UUID("0b7e4c1a-5f0e-4d5e-9a53-6f1c2d3e4a01")
B = uuid.UUID("1c8f5d2b-6a1f-4e6f-8b64-7a2d3e4f5b02")


def test_second_writer_waits_for_the_lock_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=hold_lock, args=(str(path), ready, release))
    holder.start()
    assert ready.wait(30)
    try:
        with duckdb.connect(str(path)):
            raise AssertionError("DuckDB should refuse a second writer process")
    except duckdb.IOException:
        pass
    threading_release = ctx.Process(target=release_after, args=(release, 1.5))
    threading_release.start()
    started = time.monotonic()
    with UsageWarehouse(database=str(path), lock_wait_seconds=30).connection() as conn:
        waited = time.monotonic() - started
        conn.execute("INSERT INTO ingest_batches VALUES (1, now()::TIMESTAMP, 0, 0, 0, 0)")
    holder.join(30)
    threading_release.join(30)
    assert waited >= 1.0, "it waited for the other writer"


def test_local_storage_measurer(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    (root / "tenants" / str(A) / "documents").mkdir(parents=True)
    (root / "tenants" / str(A) / "documents" / "a.pdf").write_bytes(b"x" * 1000)
    (root / "tenants" / str(A) / "exports" / "e").mkdir(parents=True)
    (root / "tenants" / str(A) / "exports" / "e" / "b.zip").write_bytes(b"y" * 24)
    (root / "tenants" / "not-a-tenant").mkdir()
    assert StorageMeasurer(root=str(root)).measure() == {A: 1024}


def test_s3_storage_measurer(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    bucket = f"tenant-data-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    with ThreadPoolExecutor(max_workers=8) as pool:  # more than one page of 1,000
        list(
            pool.map(
                lambda i: s3.put_object(
                    Bucket=bucket, Key=f"tenants/{A}/uploads/{i}", Body=b"z" * 3
                ),
                range(1005),
            )
        )
    s3.put_object(Bucket=bucket, Key=f"tenants/{B}/documents/x", Body=b"q" * 50)
    s3.put_object(Bucket=bucket, Key="platform/backup", Body=b"p" * 999)
    measurer = StorageMeasurer(kind="s3", bucket=bucket, endpoint_url=moto_endpoint)
    assert measurer.measure() == {A: 3015, B: 50}
