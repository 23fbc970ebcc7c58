"""RLS-filtered queries vs the same queries with an explicit WHERE tenant_id and RLS off.

~1M documents across 1,000 tenants (quick: 200k across 200) on a throwaway PostgreSQL, with
the (tenant_id, created_at) index the schema ships. The two sides run interleaved on the same
server, so load on the machine hits both alike; medians are compared. "RLS off" is a role
with BYPASSRLS and the runtime role's grants.

    python bench/rls_query.py [--quick]
"""

from __future__ import annotations

import random
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import parse_args, result, scratch_dir
from tenancy.db.bootstrap import OWNER_ROLE, RUNTIME_ROLES, bootstrap, role_url
from tenancy.db.migrate import migrate
from tenancy.devstack.postgres import PostgresServer

QUERIES = {
    "recent_page": (
        "SELECT id, name, size_bytes FROM registry.documents {where} ORDER BY created_at DESC LIMIT 50"
    ),
    "tenant_total": "SELECT count(*), sum(size_bytes) FROM registry.documents {where}",
}


# Each side runs its query REPEAT times per transaction after a first, untimed run: a single
# ~150 us round trip is dominated by which side happened to touch the tenant's pages first.
REPEAT = 8


def load(conn: psycopg.Connection, tenants: int, rows: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(tenants)]
    with conn.cursor() as cur:
        with cur.copy("COPY registry.tenants (id, slug, name, plan) FROM STDIN") as copy:
            for n, tid in enumerate(ids):
                copy.write_row((tid, f"bench-{n:05d}", f"Bench {n}", "pro"))
        with cur.copy(
            "COPY registry.documents (tenant_id, name, object_key, size_bytes, created_at) FROM STDIN"
        ) as copy:
            rng = random.Random(7)
            for n in range(rows):
                tid = ids[n % tenants]
                copy.write_row(
                    (
                        tid,
                        f"doc-{n}",
                        f"tenants/{tid}/documents/doc-{n}",
                        rng.randrange(1, 10**7),
                        f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}",
                    )
                )
    conn.execute("ANALYZE registry.documents")
    conn.execute("ANALYZE registry.tenants")
    return ids


def main() -> int:
    args = parse_args(__doc__ or "")
    tenants, rows, rounds = (200, 200_000, 300) if args.quick else (1_000, 1_000_000, 1_500)
    base = scratch_dir("bench-rls-")
    server = PostgresServer(base / "pg")
    try:
        server.start()
        passwords = {r: "bench" for r in (OWNER_ROLE, *RUNTIME_ROLES)}
        urls = bootstrap(server.superuser_url, "bench", passwords)
        migrate(urls.owner)
        superuser_url = role_url(server.superuser_url, "postgres", server.password, "bench")
        started = time.perf_counter()
        with psycopg.connect(superuser_url, autocommit=True) as conn:
            ids = load(conn, tenants, rows)
            # The baseline role differs from the runtime role only in BYPASSRLS: same grants, not
            # superuser (a superuser also skips privilege checks, which would flatter the baseline).
            conn.execute(
                "CREATE ROLE bench_rls_off LOGIN PASSWORD 'bench' BYPASSRLS; "
                "GRANT CONNECT ON DATABASE bench TO bench_rls_off; "
                "GRANT USAGE ON SCHEMA registry TO bench_rls_off; "
                "GRANT SELECT ON registry.documents TO bench_rls_off"
            )
        direct_url = role_url(server.superuser_url, "bench_rls_off", "bench", "bench")
        print(
            f"loaded {rows:,} documents across {tenants:,} tenants in {time.perf_counter() - started:.1f}s"
        )

        rng = random.Random(42)
        ok = True
        with (
            psycopg.connect(urls.app, autocommit=True) as rls,
            psycopg.connect(direct_url, autocommit=True) as plain,
        ):
            for name, template in QUERIES.items():
                rls_sql = template.format(where="")
                plain_sql = template.format(where="WHERE tenant_id = %s")
                rls_times: list[float] = []
                plain_times: list[float] = []
                for i in range(rounds):
                    tid = rng.choice(ids)
                    # Both sides run in a transaction, as the request path does, and take turns
                    # going first so neither always finds the other's pages in cache.
                    sides = [("rls", rls, rls_sql, ()), ("plain", plain, plain_sql, (tid,))]
                    got: dict[str, object] = {}
                    spent: dict[str, float] = {}
                    for label, conn, query, params in sides if i % 2 else sides[::-1]:
                        with conn.transaction():
                            if label == "rls":
                                conn.execute(
                                    "SELECT set_config('app.tenant_id', %s, true)", (str(tid),)
                                )
                            got[label] = conn.execute(query, params).fetchall()  # first touch
                            t0 = time.perf_counter()
                            for _ in range(REPEAT):
                                conn.execute(query, params).fetchall()
                            spent[label] = (time.perf_counter() - t0) / REPEAT
                    if got["rls"] != got["plain"]:
                        print(f"{name}: RLS and explicit filter disagree for tenant {tid}")
                        return 1
                    if i >= rounds // 10:  # the first tenth warms caches and prepared plans
                        rls_times.append(spent["rls"])
                        plain_times.append(spent["plain"])
                rls_ms = statistics.median(rls_times) * 1000
                plain_ms = statistics.median(plain_times) * 1000
                print(
                    f"{name}: RLS {rls_ms:.3f} ms  explicit WHERE, RLS off {plain_ms:.3f} ms  (median of {len(rls_times)})"
                )
                ok &= result(f"rls_{name}_ratio", rls_ms / plain_ms, "<=", 1.1)
            plan = "\n".join(
                r[0]
                for r in rls.execute(
                    "EXPLAIN " + QUERIES["recent_page"].format(where="")
                ).fetchall()
            )
            print("RLS plan (no tenant set):\n" + plan)
        return 0 if ok else 1
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
