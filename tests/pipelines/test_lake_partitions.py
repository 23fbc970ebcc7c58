"""On a DuckLake (PostgreSQL catalog) the usage events are stored in files of one day each, so
a day's rollup or a day-range delete touches only that day's files; a lake created before
this layout gets it when it is next opened."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.lib import event_store, warehouse, writes
from tenancy import lakehouse
from tests.pipelines.lakehouse_worker import DAYS, generate_events
from tests.pipelines.test_lakehouse import catalog  # noqa: F401 (a fixture)


def _open(location: lakehouse.LakeLocation) -> duckdb.DuckDBPyConnection:
    conn = lakehouse.connect(location)
    warehouse.configure(conn, "512MB", 1)
    return conn


def _days_per_file(conn: duckdb.DuckDBPyConnection) -> list[int]:
    files = [
        r[0]
        for r in conn.execute(
            "SELECT data_file FROM ducklake_list_files('lake', 'usage_events')"
        ).fetchall()
    ]
    return [
        int(conn.execute("SELECT count(DISTINCT day) FROM read_parquet(?)", [f]).fetchall()[0][0])
        for f in files
    ]


def _store(conn: duckdb.DuckDBPyConnection, seed: int) -> None:
    with writes.transaction(conn):
        event_store.insert_events(conn, generate_events(seed=seed, count=400), 1)


def test_one_batch_over_several_days_is_stored_as_one_file_per_day(
    tmp_path: Path,
    catalog: str,  # noqa: F811 (the fixture imported above)
) -> None:
    conn = _open(lakehouse.LakeLocation(catalog, str(tmp_path / "data")))
    _store(conn, seed=3)
    assert _days_per_file(conn) == [1] * DAYS
    conn.close()


def test_a_lake_from_before_the_day_layout_gets_it_when_opened(
    tmp_path: Path,
    catalog: str,  # noqa: F811 (the fixture imported above)
) -> None:
    location = lakehouse.LakeLocation(catalog, str(tmp_path / "data"))
    conn = _open(location)
    conn.execute("ALTER TABLE usage_events RESET PARTITIONED BY")
    conn.execute("DROP TABLE usage_shard_layout")
    _store(conn, seed=4)
    assert _days_per_file(conn) == [DAYS], "the old layout: one file for the batch"
    conn.close()

    conn = _open(location)
    _store(conn, seed=5)
    assert sorted(_days_per_file(conn)) == [1] * DAYS + [DAYS]
    assert conn.execute("SELECT count(*) FROM usage_events").fetchall() == [(800,)]
    conn.close()
