"""The product spec's performance test: 100 tenants under concurrent load on a real server.

The example service (`tenancy.web.example`, TenancyMiddleware in front) runs under uvicorn
on loopback against a throwaway PostgreSQL and Redis. 100 tenants on mixed plans (40 free,
40 pro, 20 enterprise; 5 of the free ones with a 15-call monthly quota) each get requests
from concurrent async clients for a bounded time. Printed: per-tenant p50/p99 (the spread
across tenants), the success rate not counting intended refusals (429 rate limit, 402
quota), admitted against the bound for rate- and quota-limited tenants, and a cross-tenant
check of every response body (every agent returned must be the requesting tenant's).

    python bench/request_load.py [--quick]
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import shutil
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.common import parse_args, result, scratch_dir
from tenancy.agents import create_agent
from tenancy.db.bootstrap import OWNER_ROLE, RUNTIME_ROLES, bootstrap
from tenancy.db.migrate import migrate
from tenancy.db.session import Database
from tenancy.devstack.ports import free_port
from tenancy.devstack.postgres import PostgresServer
from tenancy.devstack.redis import RedisServer
from tenancy.plans import load_catalog
from tenancy.registry import create_tenant

QUOTA = 15


def serve(app_url: str, platform_url: str, redis_url: str, port: int) -> None:
    import uvicorn

    from tenancy.web.example import ServiceConfig, create_app

    app = create_app(ServiceConfig(app_url, platform_url, redis_url))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def seed(db: Database) -> list[dict[str, Any]]:
    tenants = []
    for i in range(100):
        plan = "free" if i < 40 else "pro" if i < 80 else "enterprise"
        overrides = {"api_calls_per_month": QUOTA} if i < 5 else None
        made = create_tenant(
            db,
            name=f"Load {i}",
            domain=f"load{i}.example.com",
            plan=plan,
            owner_email=f"owner@load{i}.example.com",
            slug=f"load-{i}",
            limit_overrides=overrides,
        )
        agents = [create_agent(db, made.tenant.id, f"agent {n}").id for n in range(2)]
        tenants.append(
            {
                "id": str(made.tenant.id),
                "user": str(made.owner_id),
                "plan": plan,
                "quota": QUOTA if overrides else None,
                "agents": [str(a) for a in agents],
            }
        )
    return tenants


async def load(
    port: int, tenants: list[dict[str, Any]], seconds: float, workers: int
) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "latency": defaultdict(list),
        "codes": defaultdict(lambda: defaultdict(int)),
        "cross": 0,
        "errors": 0,
    }
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=10
    ) as client:

        async def worker(seed_: int) -> None:
            rng = random.Random(seed_)
            while time.monotonic() < deadline:
                tenant = rng.choice(tenants)
                path = (
                    "/agents" if rng.random() < 0.5 else f"/agents/{rng.choice(tenant['agents'])}"
                )
                headers = {"x-tenant-id": tenant["id"], "x-user-id": tenant["user"]}
                started = time.perf_counter()
                try:
                    response = await client.get(path, headers=headers)
                except httpx.HTTPError:
                    stats["errors"] += 1
                    continue
                stats["latency"][tenant["id"]].append(time.perf_counter() - started)
                stats["codes"][tenant["id"]][response.status_code] += 1
                if response.status_code == 200:
                    body = response.json()
                    for agent in body if isinstance(body, list) else [body]:
                        if agent["tenant_id"] != tenant["id"]:
                            stats["cross"] += 1

        await asyncio.gather(*(worker(n) for n in range(workers)))
    return stats


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    quick = parse_args(__doc__ or "").quick
    seconds, workers = (20.0, 32) if quick else (60.0, 64)
    base = scratch_dir("bench-load-")
    pg, rd = PostgresServer(base / "pg"), RedisServer(base / "redis")
    server: multiprocessing.Process | None = None
    try:
        pg.start()
        rd.start()
        urls = bootstrap(
            pg.superuser_url, "load", {r: "bench" for r in (OWNER_ROLE, *RUNTIME_ROLES)}
        )
        migrate(urls.owner)
        db = Database(urls.app, urls.platform, max_size=4)
        tenants = seed(db)
        db.close()
        port = free_port()
        server = multiprocessing.get_context("spawn").Process(
            target=serve, args=(urls.app, urls.platform, rd.url, port), daemon=True
        )
        server.start()
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        started = time.monotonic()
        stats = asyncio.run(load(port, tenants, seconds, workers))
        elapsed = time.monotonic() - started
    finally:
        if server is not None:
            server.terminate()
            server.join(10)
        rd.stop()
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)

    catalog = load_catalog()
    total = sum(sum(c.values()) for c in stats["codes"].values())
    intended = sum(c[429] + c[402] for c in stats["codes"].values())
    ok_count = sum(c[200] for c in stats["codes"].values())
    failed = total - intended - ok_count + stats["errors"]
    success = ok_count / max(1, total - intended + stats["errors"])
    p50s = [percentile(v, 0.5) for v in stats["latency"].values()]
    p99s = [percentile(v, 0.99) for v in stats["latency"].values()]
    over_bound = []
    for tenant in tenants:
        admitted = stats["codes"][tenant["id"]][200] + stats["codes"][tenant["id"]][404]
        rate = catalog.get(tenant["plan"]).rate_limit
        bound = rate.requests_per_minute * elapsed / 60 + max(1, rate.burst) + 1
        if tenant["quota"] is not None:
            bound = min(bound, tenant["quota"])
        if admitted > bound:
            over_bound.append(f"{tenant['id']} admitted {admitted} > {bound:.0f}")
    quota_admitted = [stats["codes"][t["id"]][200] for t in tenants if t["quota"] is not None]
    print(
        f"{total:,} requests in {elapsed:.0f}s from {workers} clients ({total / elapsed:,.0f}/s); "
        f"{intended:,} intended refusals (429/402), {failed} failures"
    )
    print(
        f"per-tenant p50: median {statistics.median(p50s) * 1000:.1f} ms, worst "
        f"{max(p50s) * 1000:.1f} ms; per-tenant p99: median {statistics.median(p99s) * 1000:.1f} ms, "
        f"worst {max(p99s) * 1000:.1f} ms"
    )
    print(f"quota-limited tenants (quota {QUOTA}) admitted: {quota_admitted}")
    for line in over_bound[:10]:
        print("over bound:", line)
    ok = result("load_worst_tenant_p99_seconds", max(p99s), "<", 1.0)
    ok &= result("load_success_rate", success, ">", 0.99)
    ok &= result("load_cross_tenant_responses", stats["cross"], "<=", 0)
    ok &= result("load_tenants_over_their_bound", len(over_bound), "<=", 0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
