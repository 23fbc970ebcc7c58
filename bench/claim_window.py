"""The claim check on a DuckLake that holds a history of claims: checking a drain batch against
every claim of its tenants, against only the claims of the ingest window's days.

A lake (catalog in a throwaway PostgreSQL, data files in a local directory) gets a history of
claims (quick: 2M, full: 20M, for 1,000 tenants over the 400 days before the window, written
in batches as the drain writes them), then a batch of 20,000 recent events of the same tenants
is claimed (and rolled back) both ways, taking turns, in one process, so that the load of the
machine weighs on both sides alike.

    python bench/claim_window.py [--quick]
"""

from __future__ import annotations

import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench.common import interleaved_best, parse_args, result, scratch_dir
from pipelines.lib import event_store, warehouse
from tenancy import lakehouse
from tenancy.devstack.postgres import PostgresServer

TODAY = date(2026, 11, 27)
WINDOW = (TODAY - timedelta(days=35), TODAY)
TENANTS = 1_000
BATCH = 20_000

TENANT_IDS = f"""
CREATE TEMP TABLE tenants AS
SELECT range AS idx, uuid() AS tenant_id FROM range({TENANTS})
"""

HISTORY = """
INSERT INTO usage_event_claims
SELECT t.tenant_id, uuid(), hash(r), 'history-' || r,
       CAST($first AS DATE) + CAST((r * 400) // $total AS INTEGER)
FROM range($start, $start + $n) AS s(r) JOIN tenants t ON t.idx = r % $tenants
"""

RECENT = f"""
SELECT CAST(uuid() AS VARCHAR) AS event_id, CAST(t.tenant_id AS VARCHAR) AS tenant_id,
       'api_call' AS metric, CAST(1 AS BIGINT) AS quantity,
       CAST(TIMESTAMP '{WINDOW[0]}' + to_microseconds((r * 25919) % (34 * 86400000000))
            AS TIMESTAMP) AS occurred_at,
       '/v1/a' AS endpoint, 'GET' AS method, CAST(200 AS INTEGER) AS status,
       CAST(NULL AS VARCHAR) AS agent_id, 'recent-' || r AS entry_id, CAST(1 AS INTEGER) AS copy
FROM range({BATCH}) AS s(r) JOIN tenants t ON t.idx = r % {TENANTS}
"""


def main() -> int:
    args = parse_args(__doc__ or "")
    total = 2_000_000 if args.quick else 20_000_000
    base = scratch_dir("bench-claims-")
    server = PostgresServer(base / "postgres")
    server.start()
    try:
        with psycopg.connect(server.superuser_url, autocommit=True) as admin:
            admin.execute('CREATE DATABASE "claims"')
        conn = lakehouse.connect(
            lakehouse.LakeLocation(f"postgres:{server.url(dbname='claims')}", str(base / "data"))
        )
        warehouse.configure(conn, "3GB", threads=1)
        conn.execute(TENANT_IDS)
        first = WINDOW[0] - timedelta(days=400)
        for start in range(0, total, 100_000):
            conn.execute(
                HISTORY,
                {"first": first, "start": start, "n": 100_000, "total": total, "tenants": TENANTS},
            )
        batch = conn.execute(RECENT).to_arrow_table().cast(warehouse.EVENT_COLUMNS)
        print(f"{total:,} claims of {TENANTS:,} tenants before the window; a batch of {BATCH:,}")

        def claim(days: tuple[date, date] | None) -> None:
            conn.execute("BEGIN TRANSACTION")
            try:
                stored = event_store.insert_events(conn, batch, 1, claim_days=days)
                assert stored.inserted == BATCH
            finally:
                conn.execute("ROLLBACK")

        best = interleaved_best(
            {"every claim": lambda: claim(None), "window's claims": lambda: claim(WINDOW)},
            samples=3,
            min_seconds=2.0,
        )
        every, window = best["every claim"], best["window's claims"]
        print(
            f"claim check of one batch: against every claim {every:.2f}s "
            f"({BATCH / every:,.0f} events/s), against the window's claims {window:.2f}s "
            f"({BATCH / window:,.0f} events/s)"
        )
        conn.close()
        return 0 if result("claim_check_window_speedup", every / window, ">=", 2.0) else 1
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
