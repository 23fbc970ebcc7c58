"""What TenancyMiddleware adds to a request: the same app with and without it, in-process.

A Starlette app with one JSON route is called directly over ASGI (no sockets, no server),
one request at a time, with and without the middleware in front, against a throwaway
PostgreSQL (tenant and membership lookups, cached after the first request) and Redis (the
rate-limit, quota and gate script; the usage record is written after the response and not
counted in the latency). Sides alternate; each is timed over at least a second per sample. The
goal is on the median added latency until the client has its whole response.

    python bench/middleware_overhead.py [--quick]
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.common import parse_args, result, scratch_dir
from tenancy.circuit import guard_client
from tenancy.db.bootstrap import OWNER_ROLE, RUNTIME_ROLES, bootstrap
from tenancy.db.migrate import migrate
from tenancy.db.session import Database
from tenancy.devstack.postgres import PostgresServer
from tenancy.devstack.redis import RedisServer
from tenancy.plans import default_catalog
from tenancy.ratelimit import RateLimiter
from tenancy.registry import create_tenant
from tenancy.usage.recorder import UsageRecorder
from tenancy.web.directory import TenantDirectory
from tenancy.web.middleware import TenancyMiddleware
from tenancy.web.resolve import HeaderResolver


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"hello": "world"})


def make_app() -> Starlette:
    return Starlette(routes=[Route("/v1/items/{item_id}", hello)])


async def call(app: Any, headers: list[tuple[bytes, bytes]]) -> float:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/v1/items/7",
        "raw_path": b"/v1/items/7",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    status = 0
    answered = 0.0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, answered
        if message["type"] == "http.response.start":
            status = message["status"]
        elif not message.get("more_body"):
            answered = time.perf_counter()  # the client has its whole response

    started = time.perf_counter()
    await app(scope, receive, send)  # the usage record after the response is not counted
    elapsed = answered - started
    if status != 200:
        raise SystemExit(f"request answered {status}")
    return elapsed


async def run(
    plain: Any, guarded: Any, headers: list[tuple[bytes, bytes]], samples: int
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"plain": [], "guarded": []}
    for r in range(samples):
        for side in ("plain", "guarded") if r % 2 == 0 else ("guarded", "plain"):
            app = plain if side == "plain" else guarded
            deadline = time.perf_counter() + 1.0
            while time.perf_counter() < deadline:
                times[side].append(await call(app, headers))
    return times


def main() -> int:
    quick = parse_args(__doc__ or "").quick
    samples = 3 if quick else 8
    base = scratch_dir("bench-mw-")
    pg, rd = PostgresServer(base / "pg"), RedisServer(base / "redis")
    try:
        pg.start()
        rd.start()
        urls = bootstrap(pg.superuser_url, "mw", {r: "bench" for r in (OWNER_ROLE, *RUNTIME_ROLES)})
        migrate(urls.owner)
        db = Database(urls.app, urls.platform, max_size=4)
        made = create_tenant(
            db,
            name="Bench",
            domain="bench.example.com",
            plan="enterprise",  # no hard quota, and a rate limit checked but never hit
            owner_email="owner@bench.example.com",
            limit_overrides={"requests_per_minute": 100_000_000, "burst": 10_000},
        )
        tenant = {"id": str(made.tenant.id), "user": str(made.owner_id)}
        client = guard_client(rd.url)
        guarded = TenancyMiddleware(
            make_app(),
            directory=TenantDirectory(db, ttl=3600),
            limiter=RateLimiter(client),
            catalog=default_catalog(),
            resolver=HeaderResolver(),
            recorder=UsageRecorder(client),
        )
        headers = [(b"x-tenant-id", tenant["id"].encode()), (b"x-user-id", tenant["user"].encode())]
        times = asyncio.run(run(make_app(), guarded, headers, samples))
        db.close()
    finally:
        rd.stop()
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)
    plain, guarded_p50 = statistics.median(times["plain"]), statistics.median(times["guarded"])
    print(
        f"median per request: app alone {plain * 1e6:.0f} µs, behind TenancyMiddleware "
        f"{guarded_p50 * 1e6:.0f} µs ({len(times['guarded']):,} and {len(times['plain']):,} requests)"
    )
    ok = result("middleware_added_p50_ms", (guarded_p50 - plain) * 1000, "<=", 1.0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
