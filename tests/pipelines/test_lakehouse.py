"""The warehouse on DuckLake: a PostgreSQL catalog and data files in S3 (moto) or a directory,
written by several processes at once (real PostgreSQL, real DuckDB and its extensions)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import psycopg
import pytest

from pipelines.lib import lake_maintenance, warehouse
from pipelines.resources import UsageWarehouse
from pipelines.warehouse.assets import lakehouse_files
from tenancy import lakehouse
from tenancy.devstack.postgres import PostgresServer
from tenancy.errors import ConfigurationError
from tests.pipelines.lakehouse_worker import DAYS, FIRST_DAY, generate_events, ingest, rollup
from tests.warehouses import moto_bucket

ROOT = Path(__file__).resolve().parents[2]
COUNT = 6_000
BATCH = 1_000
ALL_DAYS = [str(FIRST_DAY + timedelta(days=n)) for n in range(DAYS)]


@pytest.fixture
def catalog(postgres: PostgresServer) -> Iterator[str]:
    """A fresh PostgreSQL database for one lake's catalog."""
    name = f"lake_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres.superuser_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgres:{postgres.url(dbname=name)}"
    with psycopg.connect(postgres.superuser_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def s3_data(moto_endpoint: str) -> tuple[str, lakehouse.S3Access]:
    bucket = moto_bucket(moto_endpoint)
    access = lakehouse.S3Access(
        region="us-east-1",
        key_id="testing",
        secret="testing",
        endpoint=moto_endpoint.removeprefix("http://"),
        use_ssl=False,
    )
    return f"s3://{bucket}/usage/", access


def _start(tmp_path: Path, name: str, spec: dict[str, object]) -> subprocess.Popen[str]:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.pipelines.lakehouse_worker", str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> None:
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0 and "done" in out, err[-3000:]


def _daily(conn: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT day, CAST(tenant_id AS VARCHAR), metric, endpoint, value "
        "FROM daily_tenant_usage ORDER BY ALL"
    ).fetchall()


def _single_process_baseline(tmp_path: Path) -> list[tuple[object, ...]]:
    """Every batch once, every day once, in one process on one DuckDB file."""
    conn = warehouse.connect(str(tmp_path / "baseline.duckdb"), memory_limit="1GB")
    events = generate_events(seed=7, count=COUNT)
    for start in range(0, COUNT, BATCH):
        ingest(conn, events.slice(start, BATCH), "all")
    for day in ALL_DAYS:
        rollup(conn, date.fromisoformat(day))
    rows = _daily(conn)
    conn.close()
    return rows


def test_three_processes_at_once_give_the_single_process_totals(
    tmp_path: Path, catalog: str, s3_data: tuple[str, lakehouse.S3Access]
) -> None:
    """Three writers ingest overlapping batches (every event reaches at least two of them) in
    one claim scope and replace overlapping days at the same time: each event counts once and
    each day holds one copy of its rows, exactly as one process writes them."""
    data, access = s3_data
    base = {
        "catalog": catalog,
        "data": data,
        "s3": access.__dict__,
        "seed": 7,
        "count": COUNT,
        "batch_size": BATCH,
    }
    starts = list(range(0, COUNT, BATCH))
    plans = [
        (starts[0:4], ALL_DAYS[0:2]),
        (starts[2:6], ALL_DAYS[1:3]),
        (starts[4:6] + starts[0:2], ALL_DAYS[2:4] + ALL_DAYS[0:1]),
    ]
    # Ingest, all at once; then, once every event is stored, the rollups, all at once (a day
    # rolled up while another process still stores its events would rightly miss them).
    for phase in ("ingest", "rollup"):
        procs = [
            _start(
                tmp_path,
                f"{phase}{n}",
                {
                    **base,
                    "batch_starts": b if phase == "ingest" else [],
                    "days": d if phase == "rollup" else [],
                },
            )
            for n, (b, d) in enumerate(plans)
        ]
        for proc in procs:
            _finish(proc)

    conn = lakehouse.connect(lakehouse.LakeLocation(catalog, data, access))
    counted = conn.execute(
        "SELECT count(*), count(DISTINCT event_id) FROM usage_events"
    ).fetchall()[0]
    claims = conn.execute("SELECT count(*) FROM usage_event_claims").fetchall()[0][0]
    lake_rows = _daily(conn)
    conn.close()
    assert counted == (COUNT, COUNT)
    assert claims == COUNT
    assert lake_rows == _single_process_baseline(tmp_path)


def test_a_writer_killed_before_commit_leaves_the_partition_as_it_was(
    tmp_path: Path, catalog: str
) -> None:
    """SIGKILL inside a day's replace transaction (rows deleted and re-inserted, not committed):
    readers see the day's previous rows, all of them, and the next run replaces it cleanly."""
    data = str(tmp_path / "lake-data")
    base = {"catalog": catalog, "data": data, "seed": 7, "count": COUNT, "batch_size": BATCH}
    first = _start(tmp_path, "first", {**base, "batch_starts": [0, 1000, 2000], "days": ALL_DAYS})
    _finish(first)
    where = lakehouse.LakeLocation(catalog, data)
    conn = lakehouse.connect(where)
    before = _daily(conn)
    conn.close()

    # More events land for every day, then the rollup that would count them is killed.
    doomed = _start(
        tmp_path,
        "doomed",
        {**base, "batch_starts": [3000, 4000, 5000], "days": ALL_DAYS, "hold_before_commit": True},
    )
    assert doomed.stdout is not None
    line = doomed.stdout.readline()
    assert line.strip() == "holding", doomed.stderr.read() if doomed.stderr else ""
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=30)

    conn = lakehouse.connect(where)
    warehouse.configure(conn, "1GB", 1)
    assert _daily(conn) == before
    assert conn.execute("SELECT count(*) FROM usage_events").fetchall()[0][0] == COUNT
    for day in ALL_DAYS:
        rollup(conn, date.fromisoformat(day))
    after = _daily(conn)
    # The killed transaction's files were written but never committed: upkeep removes them.
    upkeep = lake_maintenance.maintain(conn, timedelta(0))
    assert upkeep.orphans_deleted >= 1
    assert _daily(conn) == after
    conn.close()
    assert after != before
    assert after == _single_process_baseline(tmp_path)


def test_an_extension_built_for_another_duckdb_names_the_packages_to_align(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(duckdb, "__version__", "9.9.9")
    with pytest.raises(lakehouse.ExtensionError, match=r"duckdb-extension-ducklake is 1\.5\.5"):
        lakehouse.DUCKLAKE.path()


def test_production_with_a_catalog_but_no_data_root_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TENANCY_PROFILE", "production")
    monkeypatch.setenv("TENANCY_WAREHOUSE_CATALOG", "postgres:host=db.internal dbname=lake")
    monkeypatch.delenv("TENANCY_WAREHOUSE_DATA", raising=False)
    with pytest.raises(ConfigurationError, match="TENANCY_WAREHOUSE_DATA"):
        UsageWarehouse().lake()


def test_s3_data_without_credentials_configured_is_refused() -> None:
    with pytest.raises(ValueError, match="no S3 access is configured"):
        lakehouse.LakeLocation("postgres:dbname=lake", "s3://bucket/usage/")


def test_upkeep_merges_small_files_and_keeps_every_row(tmp_path: Path, catalog: str) -> None:
    """Many small ingest commits leave many small files; the upkeep asset merges them, and the
    warehouse reads the same rows afterwards."""
    resource = UsageWarehouse(catalog=catalog, data=str(tmp_path / "lake-data"), memory_limit="1GB")
    events = generate_events(seed=11, count=2_000)
    with resource.connection() as conn:
        for start in range(0, 2_000, 250):
            ingest(conn, events.slice(start, 250), "all")
        totals = conn.execute("SELECT count(*), sum(quantity) FROM usage_events").fetchall()
    result = dg.materialize(
        [lakehouse_files],
        resources={"warehouse_db": resource},
        run_config={"ops": {"lakehouse_files": {"config": {"keep_snapshots_hours": 1}}}},
    )
    assert result.success
    meta = result.asset_materializations_for_node("lakehouse_files")[0].metadata
    before, after = meta["data_files_before"].value, meta["data_files_after"].value
    assert isinstance(before, int) and isinstance(after, int)
    assert before >= 16 and after < before / 4, (before, after)
    with resource.connection() as conn:
        assert conn.execute("SELECT count(*), sum(quantity) FROM usage_events").fetchall() == totals
