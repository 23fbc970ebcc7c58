"""The daily rollup over synthetic usage: pipeline SQL vs hand-written DuckDB vs pandas.

100M events for 10,000 tenants over 30 days (quick: 5M for 1,000 tenants) are generated in a
throwaway DuckDB file, then rolled up by the pipeline's own `rollup_days` (per tenant, day and
metric, and per endpoint, plus the daily levels) and, side by side, by one hand-written
GROUPING SETS query producing the same sums. pandas runs the same group-bys on a 10M sample
(quick: 1M), against DuckDB on the same sample. DuckDB's memory_limit is set; the process's
peak memory is printed.

    python bench/usage_rollup.py [--quick]
"""

from __future__ import annotations

import resource
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb

from bench.common import interleaved_best, parse_args, result, scratch_dir
from pipelines.lib import warehouse

START = date(2026, 10, 1)
DAYS = 30
MEMORY_LIMIT = "8GB"

GENERATE = """
INSERT INTO usage_events
SELECT uuid(), t.tenant_id,
       CASE WHEN r % 20 = 0 THEN 'agent_execution' ELSE 'api_call' END,
       1,
       TIMESTAMP '2026-10-01' + to_microseconds((r * 25919) % 2592000000000),
       CAST(TIMESTAMP '2026-10-01' + to_microseconds((r * 25919) % 2592000000000) AS DATE),
       CASE WHEN r % 20 = 0 THEN NULL ELSE '/v1/endpoint/' || (r % 12) END,
       'GET', 200, NULL, 'bench', 1
FROM range($n) AS s(r) JOIN bench_tenants t ON t.idx = r % $tenants
"""

HAND_WRITTEN = """
CREATE OR REPLACE TABLE baseline AS
SELECT day, tenant_id, metric, coalesce(endpoint, '') AS endpoint, sum(quantity) AS value
FROM usage_events
WHERE day >= $start AND day < $end
GROUP BY GROUPING SETS ((day, tenant_id, metric), (day, tenant_id, metric, endpoint))
"""


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def prepare(conn: duckdb.DuckDBPyConnection, events: int, tenants: int) -> None:
    conn.execute(
        "CREATE TABLE bench_tenants AS SELECT range AS idx, uuid() AS tenant_id FROM range($t)",
        {"t": tenants},
    )
    conn.execute(GENERATE, {"n": events, "tenants": tenants})
    for i in range(DAYS):
        day = START + timedelta(days=i)
        conn.execute(
            "INSERT INTO registry_snapshots SELECT ?, tenant_id, 'bench-' || idx, 'active', 'pro', '{}', 3, 5 "
            "FROM bench_tenants",
            [day],
        )
        conn.execute(
            "INSERT INTO storage_snapshots SELECT ?, tenant_id, idx * 1000, now()::TIMESTAMP "
            "FROM bench_tenants",
            [day],
        )


def timed(fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - started


def main() -> int:
    quick = parse_args(__doc__ or "").quick
    events, tenants, sample = (
        (5_000_000, 1_000, 1_000_000) if quick else (100_000_000, 10_000, 10_000_000)
    )
    base = scratch_dir("bench-rollup-")
    end = START + timedelta(days=DAYS)
    try:
        conn = warehouse.connect(str(base / "usage.duckdb"), memory_limit=MEMORY_LIMIT)
        generated = timed(lambda: prepare(conn, events, tenants))
        print(
            f"generated {events:,} events for {tenants:,} tenants over {DAYS} days in {generated:.1f}s "
            f"(memory_limit {MEMORY_LIMIT})"
        )
        conn.execute("CHECKPOINT")

        def pipeline() -> None:
            conn.execute("BEGIN TRANSACTION")
            warehouse.rollup_days(conn, START, end)
            conn.execute("COMMIT")

        def hand() -> None:
            conn.execute(HAND_WRITTEN, {"start": START, "end": end})

        best = interleaved_best({"pipeline": pipeline, "hand": hand}, samples=3)
        agree = conn.execute("""
            SELECT count(*) FROM (
                SELECT day, tenant_id, CASE metric WHEN 'api_call' THEN 'api_calls' ELSE 'agent_executions' END m,
                       endpoint, value FROM baseline
                EXCEPT
                SELECT day, tenant_id, replace(metric, 'api_calls_by_endpoint', 'api_calls'), endpoint, value
                FROM daily_tenant_usage WHERE metric IN ('api_calls', 'agent_executions', 'api_calls_by_endpoint')
            )""").fetchall()[0][0]
        if agree:
            print(f"the rollup and the hand-written query disagree on {agree} rows")
            return 1
        best_pipeline, best_hand = best["pipeline"], best["hand"]
        print(
            f"daily rollup of {events:,} events: pipeline {best_pipeline:.3f}s, hand-written GROUP BY "
            f"{best_hand:.3f}s (best of 3 samples of at least 1s each)"
        )

        percent = 100 * sample / events
        conn.execute(
            f"CREATE TABLE sample AS SELECT * FROM usage_events USING SAMPLE {percent:.4f} PERCENT (system)"
        )
        sampled = conn.execute("SELECT count(*) FROM sample").fetchall()[0][0]
        # pandas gets the ids as strings, the way a DataFrame pipeline would hold them.
        frame = conn.execute(
            "SELECT day, tenant_id::VARCHAR AS tenant_id, metric, endpoint, quantity FROM sample"
        ).df()

        def duck_sample() -> None:  # the result stays in DuckDB, as pandas' stays in pandas
            conn.execute("""
                CREATE OR REPLACE TEMP TABLE sample_rollup AS
                SELECT day, tenant_id, metric, coalesce(endpoint, '') AS endpoint, sum(quantity)
                FROM sample GROUP BY GROUPING SETS ((day, tenant_id, metric), (day, tenant_id, metric, endpoint))
            """)

        def pandas_sample() -> None:
            frame.groupby(["day", "tenant_id", "metric"], sort=False)["quantity"].sum()
            frame.dropna(subset=["endpoint"]).groupby(
                ["day", "tenant_id", "metric", "endpoint"], sort=False
            )["quantity"].sum()

        best = interleaved_best({"duckdb": duck_sample, "pandas": pandas_sample}, samples=3)
        duck_time, pandas_time = best["duckdb"], best["pandas"]
        print(
            f"{sampled:,}-event sample: DuckDB {duck_time:.3f}s, pandas {pandas_time:.3f}s "
            "(best of 3 samples of at least 1s each)"
        )
        print(f"peak memory of this process: {peak_rss_gb():.2f} GB")
        conn.close()
        ok = result("rollup_vs_hand_written_groupby", best_pipeline / best_hand, "<=", 1.25)
        ok &= result("duckdb_speedup_over_pandas", pandas_time / duck_time, ">=", 10)
        return 0 if ok else 1
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
