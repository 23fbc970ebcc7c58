"""The GCRA limiter against a real Redis: bounds under concurrency, TTLs, restarts, fail modes.

Admissions are timed by the Redis server clock (the script returns it), so window checks are
exact rather than at the mercy of client scheduling.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest
import redis

from tenancy.circuit import CircuitBreaker, guard_client
from tenancy.devstack.redis import RedisServer
from tenancy.errors import InvalidInputError
from tenancy.metrics import TenancyMetrics
from tenancy.plans import load_catalog
from tenancy.ratelimit import RateLimiter, RatePolicy

TENANT = uuid.UUID("0b7e4c1a-5f0e-4d5e-9a53-6f1c2d3e4a01")
POLICY = RatePolicy(requests_per_minute=600, burst=5)  # one every 100 ms, 5 at once
INTERVAL_MS = 100


def max_in_window(stamps: list[int], window_ms: int) -> int:
    stamps = sorted(stamps)
    best, lo = 0, 0
    for hi, stamp in enumerate(stamps):
        while stamp - stamps[lo] >= window_ms:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def hammer(url: str, seconds: float, tenant: str = str(TENANT)) -> list[int]:
    """Check as fast as possible for `seconds`; the server times of admitted requests."""
    limiter = RateLimiter(redis.Redis.from_url(url))
    admitted = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        decision = limiter.check(tenant, "/v1/agents", POLICY)
        if decision.allowed:
            assert decision.decided_at_ms is not None
            admitted.append(decision.decided_at_ms)
    return admitted


def test_threads_and_processes_never_exceed_limit_plus_burst(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    stamps: list[int] = []
    lock = threading.Lock()

    def thread_worker() -> None:
        got = hammer(redis_server.url, 3.0)
        with lock:
            stamps.extend(got)

    with ProcessPoolExecutor(3, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(hammer, redis_server.url, 3.0) for _ in range(3)]
        threads = [threading.Thread(target=thread_worker) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for f in futures:
            stamps.extend(f.result())
    assert len(stamps) >= 20, "the hammer must actually get through"
    for window in (1000, 2000, 2500):
        bound = window // INTERVAL_MS + POLICY.capacity
        assert max_in_window(stamps, window) <= bound, f"more than {bound} admitted in {window} ms"
    span = max(stamps) - min(stamps)
    assert len(stamps) <= span // INTERVAL_MS + POLICY.capacity + 1


def test_burst_across_a_window_boundary_stays_bounded(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    _, micros = redis_client.time()
    time.sleep((0.95 - micros / 1e6) % 1)  # just before a whole server second
    first = [limiter.check(TENANT, "/v1/x", POLICY) for _ in range(20)]
    time.sleep(0.1)  # across the boundary
    second = [limiter.check(TENANT, "/v1/x", POLICY) for _ in range(20)]
    stamps = [d.decided_at_ms for d in first + second]
    admitted = [d.decided_at_ms for d in first + second if d.allowed]
    assert sum(d.allowed for d in first) >= POLICY.capacity, "a full bucket admits the whole burst"
    # A fixed one-second window would admit a second full burst after the boundary; GCRA only
    # admits what the elapsed time has earned.
    elapsed = max(stamps) - min(stamps)  # type: ignore[type-var, operator]
    assert len(admitted) <= POLICY.capacity + elapsed // INTERVAL_MS + 1
    assert sum(d.allowed for d in second) <= elapsed // INTERVAL_MS + 1
    assert max_in_window(admitted, 1000) <= 1000 // INTERVAL_MS + POLICY.capacity  # type: ignore[arg-type]


def test_decision_reports_remaining_and_retry_after(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    # One per minute, three at once: the fourth waits for the first one's slot to come back.
    decisions = [limiter.check(TENANT, "/v1/x", RatePolicy(1, 3)) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    elapsed = decisions[3].decided_at_us - decisions[0].decided_at_us  # type: ignore[operator]
    assert decisions[3].retry_after_us == 60_000_000 - elapsed
    assert decisions[3].retry_after_seconds == math.ceil((60_000_000 - elapsed) / 1_000_000)


def test_tenants_and_endpoints_have_separate_budgets(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    policy = RatePolicy(60, 1)
    other = uuid.uuid4()
    assert limiter.check(TENANT, "/v1/a", policy).allowed
    assert not limiter.check(TENANT, "/v1/a", policy).allowed
    assert limiter.check(TENANT, "/v1/b", policy).allowed
    assert limiter.check(other, "/v1/a", policy).allowed


def test_every_key_has_a_ttl_even_when_connections_die_mid_flight(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    stop = threading.Event()

    def killer() -> None:  # the "crash": connections torn down at random points of a check
        admin = redis.Redis.from_url(redis_server.url)
        while not stop.is_set():
            admin.client_kill_filter(_type="normal", skipme=True)
            time.sleep(0.003)

    def worker(n: int) -> None:
        limiter = RateLimiter(
            redis.Redis.from_url(redis_server.url, socket_timeout=2),
            breaker=CircuitBreaker(cooldown=0),  # keep hitting Redis through the kills
        )
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            try:
                limiter.check(uuid.UUID(int=n % 7 + 1), f"/v1/e{n % 3}", POLICY)
            except redis.RedisError:
                continue

    threading.Thread(target=killer, daemon=True).start()
    workers = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    stop.set()
    keys = list(redis_client.scan_iter(match="platform:ratelimit:*"))
    assert keys, "the workers must have written keys"
    for key in keys:
        assert redis_client.pttl(key) > 0, f"{key!r} has no TTL"


def test_script_cache_flush_and_redis_restart(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        client = redis.Redis.from_url(server.url, socket_timeout=2)
        limiter = RateLimiter(client, breaker=CircuitBreaker(cooldown=0))
        assert limiter.check(TENANT, "/v1/x", POLICY).allowed
        client.script_flush()  # NOSCRIPT on the next EVALSHA: loaded again, transparently
        assert limiter.check(TENANT, "/v1/x", POLICY).decided_at_ms is not None
        server.stop()
        assert limiter.check(TENANT, "/v1/x", POLICY).degraded, "down: fails open by default"
        server.start()
        decision = limiter.check(TENANT, "/v1/x", POLICY)
        assert decision.allowed and not decision.degraded, "after a restart the script is reloaded"
    finally:
        server.destroy()


def test_fail_closed_when_configured() -> None:
    dead = guard_client("redis://127.0.0.1:1/0")  # the request path's client: no retries
    metrics = TenancyMetrics()
    closed = RateLimiter(dead, fail_open=False, metrics=metrics).check(TENANT, "/v1/x", POLICY)
    assert not closed.allowed and closed.degraded
    opened = RateLimiter(dead, metrics=metrics).check(TENANT, "/v1/x", POLICY)
    assert opened.allowed and opened.degraded
    assert (
        metrics.registry.get_sample_value(
            "tenant_ratelimit_decisions_total", {"outcome": "error_closed"}
        )
        == 1
    )


def test_policy_comes_from_the_plan_with_overrides() -> None:
    catalog = load_catalog()
    assert RatePolicy.for_tenant(catalog.get("free")) == RatePolicy(60, 10)
    assert RatePolicy.for_tenant(catalog.get("pro"), {"requests_per_minute": 1200}) == RatePolicy(
        1200, 60
    )
    assert (
        RatePolicy.for_tenant(
            catalog.get("pro"), {"requests_per_minute": "unlimited"}
        ).requests_per_minute
        is None
    )
    with pytest.raises(InvalidInputError, match="limit override `burst` is -2"):
        RatePolicy.for_tenant(catalog.get("pro"), {"burst": -2})


def test_unlimited_and_zero_policies(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    assert limiter.check(TENANT, "/v1/x", RatePolicy(None, 0)).allowed
    assert not limiter.check(TENANT, "/v1/x", RatePolicy(0, 0)).allowed
    assert list(redis_client.scan_iter()) == [], "neither touches Redis"
