"""The DuckLake warehouse with one and two writer processes, and against the single DuckDB file.

Synthetic events (full: 100M for 10,000 tenants over 30 days; quick: 1M for 1,000 tenants over
8 days) are generated once into Parquet. Then, each on a fresh lake (catalog in a throwaway
PostgreSQL, data files in a local directory):

- ingest: the pipeline's own claim-and-insert path (`event_store.insert_events`, batches of
  20,000 as the drain reads them) by 1 process, then by 2 processes each taking the tenants
  of one stream shard, under that shard's fence and batch sequence (as the shard partitions
  of `usage_events` do);
- rollup: the daily rollup (one transaction per day, as the daily partitions run) by 1
  process, then by 2 processes each taking half of the days;
- lakehouse vs file: the same rollup by one process on the lake and on one DuckDB file
  holding the same events.

Workers are separate processes that connect first and start together, so process start-up and
extension loading are not timed. Each worker runs DuckDB on one thread: a worker stands for one
core of a worker machine (one DuckDB process alone would already use every core here).

    python bench/lakehouse_scaling.py [--quick]
    BENCH_ROLLUP_EVENTS=10000000 python bench/lakehouse_scaling.py --quick  # larger rollups
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb
import psycopg
import pyarrow as pa

from bench.common import parse_args, result, scratch_dir
from pipelines.lib import event_store, ingest_batches, shard_layout, warehouse, writes
from tenancy import lakehouse
from tenancy.devstack.postgres import PostgresServer

START = date(2026, 10, 1)
BATCH = 20_000

GENERATE = """
COPY (
    SELECT CAST(uuid() AS VARCHAR) AS event_id, CAST(t.tenant_id AS VARCHAR) AS tenant_id,
           t.idx % 2 AS scope,
           CASE WHEN r % 20 = 0 THEN 'agent_execution' ELSE 'api_call' END AS metric,
           CAST(1 AS BIGINT) AS quantity,
           CAST(TIMESTAMP '2026-10-01' + to_microseconds((r * 25919) % ($days * 86400000000))
                AS TIMESTAMP) AS occurred_at,
           CASE WHEN r % 20 = 0 THEN NULL ELSE '/v1/endpoint/' || (r % 12) END AS endpoint,
           CASE WHEN r % 20 = 0 THEN NULL ELSE 'GET' END AS method,
           CASE WHEN r % 20 = 0 THEN NULL ELSE CAST(200 AS INTEGER) END AS status,
           CAST(NULL AS VARCHAR) AS agent_id, 'bench-' || r AS entry_id,
           CAST(1 AS INTEGER) AS copy
    FROM range($n) AS s(r)
    JOIN (SELECT range AS idx, uuid() AS tenant_id FROM range($tenants)) t ON t.idx = r % $tenants
) TO '{path}' (FORMAT parquet)
"""

BULK_LOAD = """
INSERT INTO usage_events
SELECT CAST(event_id AS UUID), CAST(tenant_id AS UUID), metric, quantity, occurred_at,
       CAST(occurred_at AS DATE), endpoint, method, status, CAST(agent_id AS UUID), entry_id, 1
FROM read_parquet(?)
"""


def work(spec: dict[str, object]) -> None:
    """One worker process: connect, say ready, wait for the go file, do its share, report."""
    catalog, data = str(spec["catalog"]), str(spec["data"])
    if catalog == "file":
        conn = warehouse.connect(data, memory_limit="3GB", threads=1)
    else:
        conn = lakehouse.connect(lakehouse.LakeLocation(catalog, data))
        warehouse.configure(conn, "3GB", threads=1)
    batches: list[tuple[pa.Table, int]] = []
    # The drain passes its ingest window's days; here, the days the events span.
    claim_days = (START, START + timedelta(days=int(str(spec.get("span_days", 30))) - 1))
    if spec["task"] == "ingest":  # read before the start: events come from the stream in use
        for scope in spec["scopes"]:  # type: ignore[attr-defined]
            events = conn.execute(
                "SELECT * EXCLUDE (scope) FROM read_parquet(?) WHERE scope = ? ORDER BY entry_id",
                [spec["events"], scope],
            ).to_arrow_table()
            batches += [
                (events.slice(offset, BATCH).cast(warehouse.EVENT_COLUMNS), int(scope))
                for offset in range(0, events.num_rows, BATCH)
            ]
    print("ready", flush=True)
    go = Path(str(spec["go"]))
    while not go.exists():
        time.sleep(0.01)
    started = time.perf_counter()
    if spec["task"] == "spin":  # CPU only: how much parallelism the machine gives right now
        conn.execute("SELECT sum(hash(range)) FROM range(?)", [spec["rows"]]).fetchall()
    elif spec["task"] == "ingest":
        for batch, scope in batches:

            def store(batch: pa.Table = batch, shard: int = scope) -> None:
                with writes.transaction(conn):  # as a shard's drain holds its own stream
                    writes.hold(conn, [shard_layout.partition_fence(shard)])
                    batch_id = ingest_batches.next_batch_id(conn, shard)
                    event_store.insert_events(conn, batch, batch_id, claim_days)

            writes.retry_conflicts(store)
    else:
        for day in spec["days"]:  # type: ignore[attr-defined]
            first = date.fromisoformat(str(day))

            def replace_day(first: date = first) -> int:
                return warehouse.rollup_days(conn, first, first + timedelta(days=1))

            writes.write(conn, replace_day, [f"daily_tenant_usage:{first}"])
    print(f"seconds {time.perf_counter() - started:.3f}", flush=True)
    conn.close()


def run_workers(base: Path, specs: list[dict[str, object]]) -> float:
    """Start the workers, release them together, return the wall-clock seconds to the last."""
    go = base / f"go-{time.monotonic_ns()}"
    procs = []
    for n, spec in enumerate(specs):
        path = base / f"spec-{n}.json"
        path.write_text(json.dumps({**spec, "go": str(go)}))
        procs.append(
            subprocess.Popen(
                [sys.executable, __file__, "--worker", str(path)],
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("a worker failed to start")
    started = time.perf_counter()
    go.touch()
    for proc in procs:
        proc.wait()
        if proc.returncode:
            raise RuntimeError(f"a worker failed with exit code {proc.returncode}")
    return time.perf_counter() - started


def fresh_catalog(server: PostgresServer, name: str) -> str:
    with psycopg.connect(server.superuser_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgres:{server.url(dbname=name)}"


def daily_rows(conn: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT day, tenant_id, metric, endpoint, value FROM daily_tenant_usage ORDER BY ALL"
    ).fetchall()


def main() -> int:
    args = parse_args(__doc__ or "")
    events, tenants, days = (1_000_000, 1_000, 8) if args.quick else (100_000_000, 10_000, 30)
    quick = args.quick
    sized = os.environ.get("BENCH_ROLLUP_EVENTS")
    if sized:  # a size between the two for the rollups; ingest keeps its own
        events = int(sized)
    ingest_events = min(events, 1_000_000 if quick else 10_000_000)
    base = scratch_dir("bench-lakehouse-")
    server = PostgresServer(base / "postgres")
    server.start()
    try:
        source = base / "events.parquet"
        duckdb.execute(
            GENERATE.replace("{path}", str(source)),
            {"n": events, "tenants": tenants, "days": days},
        )
        ingest_source = base / "ingest.parquet"
        duckdb.execute(
            f"COPY (SELECT * FROM read_parquet('{source}') LIMIT {ingest_events}) "
            f"TO '{ingest_source}' (FORMAT parquet)"
        )
        print(f"generated {events:,} events for {tenants:,} tenants over {days} days")

        # The baseline: the same CPU-only work in 1 process, then split over 2 processes.
        spin = {"task": "spin", "catalog": "file", "data": str(base / "spin.duckdb")}
        rows = 200_000_000 if quick else 1_000_000_000
        spin_one = run_workers(base, [{**spin, "rows": rows}])
        spin_two = run_workers(
            base,
            [{**spin, "data": str(base / f"spin{n}.duckdb"), "rows": rows // 2} for n in range(2)],
        )
        parallelism = spin_one / spin_two
        print(
            f"CPU-only baseline: 2 processes did the work of 1 in {spin_two:.1f}s vs "
            f"{spin_one:.1f}s: this machine gave 2 workers {parallelism:.2f}x one's CPU"
        )

        # Ingest: 1 worker for both scopes, then 2 workers with one scope each.
        ingest = {"task": "ingest", "events": str(ingest_source), "span_days": days}
        one = run_workers(
            base,
            [
                {
                    **ingest,
                    "catalog": fresh_catalog(server, "ingest1"),
                    "data": str(base / "i1"),
                    "scopes": [0, 1],
                }
            ],
        )
        catalog2 = fresh_catalog(server, "ingest2")
        two = run_workers(
            base,
            [
                {**ingest, "catalog": catalog2, "data": str(base / "i2"), "scopes": [scope]}
                for scope in (0, 1)
            ],
        )
        print(
            f"ingest of {ingest_events:,} events through the claim path: 1 worker {one:.1f}s "
            f"({ingest_events / one:,.0f} events/s), 2 workers {two:.1f}s "
            f"({ingest_events / two:,.0f} events/s)"
        )
        check = lakehouse.connect(lakehouse.LakeLocation(catalog2, str(base / "i2")))
        stored = check.execute("SELECT count(*) FROM usage_events").fetchall()[0][0]
        check.close()
        if stored != ingest_events:
            print(f"2-worker ingest stored {stored:,} events, expected {ingest_events:,}")
            return 1

        # Rollup: the same events bulk-loaded into a lake and into one DuckDB file.
        lake_catalog, lake_data = fresh_catalog(server, "rollup"), str(base / "r")
        lake = lakehouse.connect(lakehouse.LakeLocation(lake_catalog, lake_data))
        warehouse.configure(lake, "3GB")
        lake.execute(BULK_LOAD, [str(source)])
        lake.close()
        file_path = str(base / "usage.duckdb")
        single = warehouse.connect(file_path, memory_limit="3GB")
        single.execute(BULK_LOAD, [str(source)])
        single.close()
        all_days = [str(START + timedelta(days=n)) for n in range(days)]
        rollup = {"task": "rollup", "catalog": lake_catalog, "data": lake_data}
        lake_one = run_workers(base, [{**rollup, "days": all_days}])
        lake_rows = _rows(lake_catalog, lake_data)
        lake_two = run_workers(
            base, [{**rollup, "days": all_days[0::2]}, {**rollup, "days": all_days[1::2]}]
        )
        file_one = run_workers(
            base, [{"task": "rollup", "catalog": "file", "data": file_path, "days": all_days}]
        )
        file_conn = duckdb.connect(file_path, read_only=True)
        file_rows = daily_rows(file_conn)
        file_conn.close()
        if lake_rows != file_rows or _rows(lake_catalog, lake_data) != file_rows:
            print("the lakehouse and the single-file rollups disagree")
            return 1
        print(
            f"daily rollup of {events:,} events ({days} day partitions): lakehouse 1 worker "
            f"{lake_one:.1f}s, 2 workers {lake_two:.1f}s; single DuckDB file {file_one:.1f}s; "
            f"{file_one / events * 1e8:.0f}s (file) and {lake_one / events * 1e8:.0f}s (lake) "
            f"per 100M events at this size"
        )
        print(
            f"relative to the CPU-only baseline: ingest {one / two / parallelism:.2f}, "
            f"rollup {lake_one / lake_two / parallelism:.2f} (1.00 = scales as the machine allows)"
        )
        ok = result("ingest_scaling_2_workers", one / two, ">=", 1.6)
        ok &= result("rollup_scaling_2_workers", lake_one / lake_two, ">=", 1.6)
        ok &= result("lakehouse_rollup_vs_file", lake_one / file_one, "<=", 1.5)
        return 0 if ok else 1
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def _rows(catalog: str, data: str) -> list[tuple[object, ...]]:
    conn = lakehouse.connect(lakehouse.LakeLocation(catalog, data))
    rows = daily_rows(conn)
    conn.close()
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        work(json.loads(Path(sys.argv[2]).read_text()))
    else:
        sys.exit(main())
