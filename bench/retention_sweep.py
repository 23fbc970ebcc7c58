"""Retention sweep cost: does it follow the expired rows or the table's size?

1. One tenant's 10,000 expired agent executions swept (batches of 1,000 through
   `registry.sweep_executions`, as the sweep does) from a table of 1M rows and from one of
   10M rows, the same 10,000 expired rows in both. Goal: 10M/1M <= 1.5.
2. A whole month expired for every tenant: dropping its partition vs deleting its rows
   tenant by tenant in batches (quick: 50k rows, full: 1M). Goal: drop/delete <= 0.1.

Each timed sweep destroys its rows, so they are re-inserted (untimed) between samples; the
best of three samples is kept, the sides taking turns to go first.

    python bench/retention_sweep.py [--quick]
"""

from __future__ import annotations

import shutil
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import parse_args, result, scratch_dir
from tenancy.db.bootstrap import OWNER_ROLE, RUNTIME_ROLES, bootstrap, role_url
from tenancy.db.migrate import migrate
from tenancy.devstack.postgres import PostgresServer

TENANTS = 1_000
EXPIRED = 10_000
CUTOFF = datetime(2025, 4, 1, tzinfo=UTC)
BATCH = 1_000
SAMPLES = 3


def setup(server: PostgresServer, name: str) -> tuple[str, str, list[uuid.UUID]]:
    """A migrated database with TENANTS tenants and a month partition for each month of 2025."""
    passwords = {r: "bench" for r in (OWNER_ROLE, *RUNTIME_ROLES)}
    urls = bootstrap(server.superuser_url, name, passwords)
    migrate(urls.owner)
    superuser = role_url(server.superuser_url, "postgres", server.password, name)
    ids = [uuid.uuid4() for _ in range(TENANTS)]
    with psycopg.connect(superuser, autocommit=True) as conn:
        with conn.cursor().copy("COPY registry.tenants (id, slug, name, plan) FROM STDIN") as copy:
            for n, tid in enumerate(ids):
                copy.write_row((tid, f"bench-{n:05d}", f"Bench {n}", "pro"))
        for month in range(1, 13):
            conn.execute(
                "SELECT registry.ensure_execution_month(%s)",
                (datetime(2025, month, 1, tzinfo=UTC),),
            )
    return urls.platform, superuser, ids


def insert(conn: psycopg.Connection, tenant: uuid.UUID, rows: int, lo: str, hi: str) -> None:
    """`rows` executions of `tenant`, spread evenly over [lo, hi)."""
    conn.execute(
        "INSERT INTO registry.agent_executions (tenant_id, started_at, agent_id, status) "
        "SELECT %s, %s::timestamptz + (g * (%s::timestamptz - %s::timestamptz) / %s), "
        "gen_random_uuid(), 'succeeded' FROM generate_series(0, %s - 1) g",
        (tenant, lo, hi, lo, rows, rows),
    )


def fill(superuser: str, ids: list[uuid.UUID], total: int) -> None:
    """The other tenants' rows over 2025 (none expired but in Jan-Mar), plus the target's
    EXPIRED expired rows (Jan-Mar) and as many live ones (Apr-Dec)."""
    others = total - 2 * EXPIRED
    with psycopg.connect(superuser, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO registry.agent_executions (tenant_id, started_at, agent_id, status) "
            "SELECT ('{" + ",".join(str(i) for i in ids[1:]) + "}'::uuid[])[1 + g %% %s], "
            "'2025-04-01'::timestamptz + (g %% 23000000) * interval '1 second', "
            "gen_random_uuid(), 'succeeded' FROM generate_series(0, %s - 1) g",
            (len(ids) - 1, others),
        )
        insert(conn, ids[0], EXPIRED, "2025-01-01", "2025-04-01")
        insert(conn, ids[0], EXPIRED, "2025-04-01", "2025-12-01")
        conn.execute("VACUUM ANALYZE registry.agent_executions")


def sweep_one(conn: psycopg.Connection, tenant: uuid.UUID) -> int:
    deleted = 0
    while True:
        row = conn.execute(
            "SELECT deleted FROM registry.sweep_executions(%s, %s, %s, false)",
            (tenant, CUTOFF, BATCH),
        ).fetchone()
        assert row is not None
        deleted += int(row[0])
        if row[0] < BATCH:
            return deleted


def size_ratio(server: PostgresServer, small: int, large: int) -> bool:
    seconds: dict[int, float] = {}
    dbs = {}
    for size in (small, large):
        started = time.perf_counter()
        platform, superuser, ids = setup(server, f"bench_{size}")
        fill(superuser, ids, size)
        dbs[size] = (platform, superuser, ids[0])
        print(f"loaded {size:,} executions in {time.perf_counter() - started:.1f}s", flush=True)
        seconds[size] = float("inf")
    for sample in range(SAMPLES):
        for size in (small, large) if sample % 2 == 0 else (large, small):
            platform, superuser, target = dbs[size]
            with psycopg.connect(platform, autocommit=True) as conn:
                started = time.perf_counter()
                assert sweep_one(conn, target) == EXPIRED
                seconds[size] = min(seconds[size], time.perf_counter() - started)
            with psycopg.connect(superuser, autocommit=True) as conn:
                insert(conn, target, EXPIRED, "2025-01-01", "2025-04-01")
    for size in (small, large):
        print(f"sweep {EXPIRED:,} expired of {size:,}: {seconds[size] * 1000:.1f} ms")
    return result("sweep_time_ratio_large_small", seconds[large] / seconds[small], "<=", 1.5)


def month_drop(server: PostgresServer, rows: int) -> bool:
    platform, superuser, ids = setup(server, "bench_month")

    def load() -> None:
        with psycopg.connect(superuser, autocommit=True) as conn:
            conn.execute("SELECT registry.ensure_execution_month('2025-01-15')")
            conn.execute(
                "INSERT INTO registry.agent_executions (tenant_id, started_at, agent_id, status) "
                "SELECT ('{" + ",".join(str(i) for i in ids) + "}'::uuid[])[1 + g %% %s], "
                "'2025-01-01'::timestamptz + (g %% 2678400) * interval '1 second', "
                "gen_random_uuid(), 'succeeded' FROM generate_series(0, %s - 1) g",
                (len(ids), rows),
            )
            conn.execute("VACUUM ANALYZE registry.agent_executions")

    def drop(conn: psycopg.Connection) -> None:
        conn.execute("SELECT registry.drop_execution_month('agent_executions_2025_01')")

    def delete(conn: psycopg.Connection) -> None:
        for tenant in ids:
            sweep_one(conn, tenant)

    best = {"drop": float("inf"), "delete": float("inf")}
    for sample in range(SAMPLES):
        for name in ("drop", "delete") if sample % 2 == 0 else ("delete", "drop"):
            load()
            with psycopg.connect(platform, autocommit=True) as conn:
                started = time.perf_counter()
                (drop if name == "drop" else delete)(conn)
                best[name] = min(best[name], time.perf_counter() - started)
                if name == "delete":
                    drop(conn)  # the emptied month, before the next load
    print(
        f"expire a month of {rows:,} rows: drop {best['drop'] * 1000:.1f} ms, "
        f"row deletes {best['delete'] * 1000:.1f} ms"
    )
    return result("month_drop_vs_delete_ratio", best["drop"] / best["delete"], "<=", 0.1)


def main() -> int:
    args = parse_args(__doc__ or "")
    small, large, month_rows = (
        (50_000, 500_000, 50_000)
        if args.quick
        else (
            1_000_000,
            10_000_000,
            1_000_000,
        )
    )
    base = scratch_dir("bench-retention-")
    server = PostgresServer(base / "pg")
    try:
        server.start()
        ok = size_ratio(server, small, large)
        ok &= month_drop(server, month_rows)
        return 0 if ok else 1
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
