"""Where the usage warehouse is (each variable, conflicts, production errors naming the
variables), and the one opener on a local lake and on a single file."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import duckdb
import pytest

from tenancy.errors import ConfigurationError
from tenancy.lakehouse import LakeLocation
from tenancy.settings import Settings
from tenancy.usage_warehouse import WarehouseLocation, open_warehouse, resolve, table_names
from tests.lock_holder import hold_lock
from tests.warehouses import KINDS, warehouse_at

LOCAL = {"TENANCY_PROFILE": "local"}


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"TENANCY_RUN_DIR": str(tmp_path), **env})


def test_local_default_is_a_lake_under_the_run_directory(tmp_path: Path) -> None:
    where = resolve(settings(tmp_path, **LOCAL))
    assert where.file is None
    assert where.lake == LakeLocation(
        str(tmp_path / "warehouse" / "catalog.ducklake"), str(tmp_path / "warehouse" / "data")
    )
    assert not where.exists(), "nothing written yet"


def test_production_without_settings_names_the_variables(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve(settings(tmp_path))
    for variable in (
        "TENANCY_WAREHOUSE_CATALOG",
        "TENANCY_WAREHOUSE_DATA",
        "TENANCY_WAREHOUSE_PATH",
    ):
        assert variable in str(caught.value)


def test_path_selects_one_file(tmp_path: Path) -> None:
    chosen = tmp_path / "chosen.duckdb"
    for env in ({}, LOCAL):
        where = resolve(settings(tmp_path, TENANCY_WAREHOUSE_PATH=str(chosen), **env))
        assert where == WarehouseLocation.single_file(chosen)


def test_catalog_selects_a_lake_and_needs_data_outside_the_local_profile(tmp_path: Path) -> None:
    catalog = "postgres:host=db.internal dbname=lake"
    with pytest.raises(ConfigurationError, match="TENANCY_WAREHOUSE_DATA is not set"):
        resolve(settings(tmp_path, TENANCY_WAREHOUSE_CATALOG=catalog))
    where = resolve(
        settings(
            tmp_path,
            TENANCY_WAREHOUSE_CATALOG=catalog,
            TENANCY_WAREHOUSE_DATA="s3://usage-lake/warehouse/",
            TENANCY_WAREHOUSE_S3_REGION="eu-west-1",
            TENANCY_WAREHOUSE_S3_ENDPOINT="127.0.0.1:9000",
            TENANCY_WAREHOUSE_S3_KEY_ID="AKIAEXAMPLE",
            TENANCY_WAREHOUSE_S3_SECRET="example-secret",
        )
    )
    assert where.lake is not None and where.lake.on_postgres
    assert where.lake.s3 is not None and where.lake.s3.region == "eu-west-1"
    assert where.lake.s3.endpoint == "127.0.0.1:9000"
    assert "password" not in where.describe() and "PostgreSQL" in where.describe()
    local = resolve(settings(tmp_path, TENANCY_WAREHOUSE_CATALOG=catalog, **LOCAL))
    assert local.lake is not None and local.lake.data == str(tmp_path / "warehouse" / "data")


def test_s3_data_without_a_whole_key_is_refused_naming_the_variable(tmp_path: Path) -> None:
    lake = {
        "TENANCY_WAREHOUSE_CATALOG": "postgres:dbname=lake",
        "TENANCY_WAREHOUSE_DATA": "s3://usage-lake/warehouse/",
    }
    with pytest.raises(ConfigurationError, match=r"TENANCY_WAREHOUSE_S3_KEY_ID .* is not set"):
        resolve(settings(tmp_path, **lake))
    for env in ({}, LOCAL):
        with pytest.raises(ConfigurationError, match="but TENANCY_WAREHOUSE_S3_SECRET is not"):
            resolve(settings(tmp_path, TENANCY_WAREHOUSE_S3_KEY_ID="AKIAEXAMPLE", **lake, **env))
        with pytest.raises(ConfigurationError, match="but TENANCY_WAREHOUSE_S3_KEY_ID is not"):
            resolve(settings(tmp_path, TENANCY_WAREHOUSE_S3_SECRET="example", **lake, **env))
    anonymous = resolve(settings(tmp_path, **lake, **LOCAL))  # e.g. a local S3 stand-in
    assert anonymous.lake is not None and anonymous.lake.s3 is not None
    assert anonymous.lake.s3.key_id == ""


def test_catalog_and_path_together_are_refused_naming_both(tmp_path: Path) -> None:
    both = {
        "TENANCY_WAREHOUSE_CATALOG": "postgres:dbname=lake",
        "TENANCY_WAREHOUSE_DATA": str(tmp_path / "data"),
        "TENANCY_WAREHOUSE_PATH": str(tmp_path / "usage.duckdb"),
    }
    for env in ({}, LOCAL):
        with pytest.raises(
            ConfigurationError,
            match=r"both TENANCY_WAREHOUSE_CATALOG .* and TENANCY_WAREHOUSE_PATH",
        ):
            resolve(settings(tmp_path, **both, **env))


def test_a_given_file_or_lake_directory_overrides_the_environment(tmp_path: Path) -> None:
    env = settings(tmp_path, TENANCY_WAREHOUSE_CATALOG="postgres:dbname=lake")
    given = tmp_path / "given.duckdb"
    assert resolve(env, file=given) == WarehouseLocation.single_file(given)
    lake = warehouse_at("lake", tmp_path / "other")
    with open_warehouse(lake) as conn:
        conn.execute("CREATE TABLE t (x INT)")
    assert resolve(env, file=tmp_path / "other" / "warehouse") == lake
    with pytest.raises(ConfigurationError, match=r"a directory without catalog\.ducklake"):
        resolve(env, file=tmp_path)
    with pytest.raises(ConfigurationError, match="expected one"):
        resolve(env, file=given, catalog="postgres:dbname=lake")


@pytest.mark.parametrize("kind", KINDS)
def test_opener_writes_then_reads_only(tmp_path: Path, kind: str) -> None:
    where = warehouse_at(kind, tmp_path)
    assert not where.exists()
    with open_warehouse(where) as conn:
        conn.execute("CREATE TABLE usage_events (tenant_id INT, n INT)")
        conn.execute("INSERT INTO usage_events VALUES (1, 10), (2, 20)")
    assert where.exists()
    with open_warehouse(where, read_only=True) as conn:
        assert table_names(conn) == {"usage_events"}
        assert conn.execute("SELECT sum(n) FROM usage_events").fetchone() == (30,)
        with pytest.raises(duckdb.Error, match="read-only"):
            conn.execute("DELETE FROM usage_events")


def test_a_held_lake_catalog_is_waited_for_not_failed(tmp_path: Path) -> None:
    where = warehouse_at("lake", tmp_path)
    assert where.lake is not None
    with open_warehouse(where) as conn:
        conn.execute("CREATE TABLE t (x INT)")
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=hold_lock, args=(where.lake.catalog, ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with (
            pytest.raises(duckdb.IOException, match="Could not set lock"),
            open_warehouse(where, lock_wait_seconds=0),
        ):
            pass
        release.set()
        with open_warehouse(where, lock_wait_seconds=60) as conn:
            conn.execute("INSERT INTO t VALUES (1)")
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    finally:
        release.set()
        holder.join(30)
