"""The guards at the edges a review found broken: exact GCRA at any rate, hard quotas that
hold under concurrency, overrides with one schema, a typo'd metric, and Redis going away."""

from __future__ import annotations

import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import redis

from tenancy.circuit import CircuitBreaker, guard_client
from tenancy.db.session import Database
from tenancy.devstack.redis import RedisServer
from tenancy.errors import InvalidInputError
from tenancy.metered import MeteredCounters, MeteredQuota, hard_api_quota
from tenancy.plans import load_catalog
from tenancy.quota_gate import QuotaBlock, QuotaGate, QuotaStateStore
from tenancy.ratelimit import RateLimiter, RatePolicy
from tenancy.registry import create_tenant

TENANT = uuid.UUID("5a0c1f6e-0d3b-4c2a-8e71-9b4d2f6a7c10")
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


@pytest.mark.parametrize(("per_minute", "interval_us"), [(7_000, 60e6 / 7_000), (120_000, 500.0)])
def test_gcra_keeps_sub_millisecond_intervals(
    redis_client: redis.Redis, per_minute: int, interval_us: float
) -> None:
    """At 7,000/min the interval is 8,571.4 µs, not 8 ms (which admitted ~7,500/min); at
    120,000/min it is 500 µs, not a 1 ms floor (which capped everything at 60,000/min).

    A full burst of 1,000 taken at once leaves the next 1,000 waiting exactly 1,000 intervals
    after it, to the microsecond of the server's clock."""
    limiter = RateLimiter(redis_client)
    policy = RatePolicy(per_minute, 1_000)
    first = limiter.check(TENANT, "/v1/x", policy, cost=1_000)
    second = limiter.check(TENANT, "/v1/x", policy, cost=1_000)
    assert first.allowed and not second.allowed
    elapsed = second.decided_at_us - first.decided_at_us  # type: ignore[operator]
    assert abs(second.retry_after_us + elapsed - 1_000 * interval_us) <= 1


def test_many_requests_admit_exactly_what_the_hard_quota_leaves(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    """A free tenant with 990 of its 1,000 calls used, 5,000 concurrent calls: exactly 10 in."""
    quota = MeteredQuota.monthly("api_calls_per_month", 1_000, datetime.now(UTC))
    MeteredCounters(redis_client).reconcile(TENANT, quota, 990, datetime.now(UTC))
    no_rate_limit = RatePolicy(None, 0)  # the quota, not the limiter, is what binds here

    def caller(n: int) -> int:
        limiter = RateLimiter(redis.Redis.from_url(redis_server.url))
        return sum(
            limiter.check(TENANT, "/v1/agents", no_rate_limit, quota=quota).allowed
            for _ in range(n)
        )

    with ThreadPoolExecutor(16) as pool:
        admitted = sum(pool.map(caller, [5_000 // 16 + (i < 5_000 % 16) for i in range(16)]))
    assert admitted == 10
    assert MeteredCounters(redis_client).used(TENANT, quota) == 1_000
    refused = RateLimiter(redis_client).check(TENANT, "/v1/agents", no_rate_limit, quota=quota)
    assert not refused.allowed and refused.refused_by == "quota" and refused.quota_used == 1_000


def test_a_quota_refusal_spends_no_rate_budget_and_check_many_agrees(
    redis_client: redis.Redis,
) -> None:
    quota = MeteredQuota.monthly("api_calls_per_month", 3, datetime.now(UTC))
    policy = RatePolicy(600, 5)
    decisions = RateLimiter(redis_client).check_many(
        [(TENANT, "/v1/x", policy, quota)] * 6 + [(uuid.uuid4(), "/v1/x", policy, quota)]
    )
    assert [d.allowed for d in decisions] == [True, True, True, False, False, False, True]
    assert decisions[3].refused_by == "quota" and decisions[5].remaining == 2, (
        "refused by the quota, the rate budget is untouched (5 - 3 used)"
    )


def test_reconcile_only_ever_raises_the_counter(redis_client: redis.Redis) -> None:
    counters = MeteredCounters(redis_client)
    quota = MeteredQuota.monthly("api_calls_per_month", 1_000, NOW)
    assert counters.reconcile(TENANT, quota, 120, NOW) == 120
    assert counters.reconcile(TENANT, quota, 100, NOW) == 120, "admitted calls not yet ingested"
    assert redis_client.pttl(quota.key(TENANT)) > 0


def test_only_limits_without_overage_are_hard() -> None:
    catalog = load_catalog()
    assert hard_api_quota(catalog.get("free"), {}, NOW) == MeteredQuota(
        "api_calls_per_month", 1_000, "2026-11", datetime(2026, 12, 1, tzinfo=UTC)
    )
    assert hard_api_quota(catalog.get("free"), {"api_calls_per_month": 50}, NOW).limit == 50  # type: ignore[union-attr]
    assert hard_api_quota(catalog.get("free"), {"api_calls_per_month": "unlimited"}, NOW) is None
    assert hard_api_quota(catalog.get("pro"), {}, NOW) is None, "pro sells overage"
    assert MeteredQuota.monthly("m", 1, datetime(2026, 12, 31, 23, tzinfo=UTC)).resets_at == (
        datetime(2027, 1, 1, tzinfo=UTC)
    )


def test_rate_overrides_pass_the_same_schema_as_limits(db: Database) -> None:
    made = create_tenant(
        db,
        name="Fast",
        domain="fast.example.com",
        plan="free",
        owner_email="owner@fast.example.com",
        limit_overrides={"requests_per_minute": 7_000, "burst": 50, "api_calls_per_month": 5_000},
    )
    policy = RatePolicy.for_tenant(load_catalog().get("free"), made.tenant.limit_overrides)
    assert policy == RatePolicy(7_000, 50)
    with pytest.raises(InvalidInputError, match="limit override `burst` is 'unlimited'"):
        create_tenant(
            db,
            name="Bad",
            domain="bad.example.com",
            plan="free",
            owner_email="o@bad.example.com",
            limit_overrides={"burst": "unlimited"},
        )
    with pytest.raises(InvalidInputError, match="limit override key is 'rpm'; expected one of"):
        RatePolicy.for_tenant(load_catalog().get("free"), {"rpm": 5})


def test_a_typo_in_a_quota_metric_is_an_error_not_an_open_door(redis_client: redis.Redis) -> None:
    with pytest.raises(InvalidInputError, match="quota metric is 'api_call_per_month'"):
        QuotaGate(redis_client).check(TENANT, "api_call_per_month")


class SilentServer:
    """A TCP server that accepts and never answers: Redis hung, or a black-holed address."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.accepted = 0
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


def test_a_hung_redis_costs_one_timeout_then_nothing_until_the_probe() -> None:
    """redis-py's defaults retried with backoff (about 4.5 s a check); the guard client makes
    one attempt, and the open breaker keeps the next checks off the network entirely."""
    server = SilentServer()
    try:
        client = guard_client(server.url, connect_timeout=0.2, timeout=0.2)
        breaker = CircuitBreaker(cooldown=60)
        limiter = RateLimiter(client, breaker=breaker)
        gate = QuotaGate(client, breaker=breaker)
        first = limiter.check(TENANT, "/v1/x", RatePolicy(60, 1))
        assert first.allowed and first.degraded and breaker.open
        assert server.accepted == 1, "one connection, no hidden retries"
        for _ in range(100):
            assert limiter.check(TENANT, "/v1/x", RatePolicy(60, 1)).degraded
            assert gate.check(TENANT).allowed
        assert server.accepted == 1, "while open, nothing touches the network"
        closed = RateLimiter(client, fail_open=False, breaker=breaker)
        assert not closed.check(TENANT, "/v1/x", RatePolicy(60, 1)).allowed
        breaker.cooldown = 0  # the cooldown has passed: one probe goes out
        breaker.failed()
        assert limiter.check(TENANT, "/v1/x", RatePolicy(60, 1)).degraded
        assert server.accepted >= 1 and breaker.open
    finally:
        server.close()


def test_the_breaker_closes_when_redis_answers_again(redis_client: redis.Redis) -> None:
    breaker = CircuitBreaker(cooldown=0)
    breaker.failed()
    limiter = RateLimiter(redis_client, breaker=breaker)
    decision = limiter.check(TENANT, "/v1/x", RatePolicy(60, 1))
    assert decision.allowed and not decision.degraded and not breaker.open


def test_a_probe_answered_with_a_redis_error_does_not_hold_the_breaker_open(
    redis_client: redis.Redis,
) -> None:
    """The probe after the cooldown meets a Redis that answers, but with an error the guard
    does not classify (OOM here; READONLY, NOPERM alike): it neither closes nor re-opens the
    breaker. Once Redis is healthy, the next probe must still go out."""
    breaker = CircuitBreaker(cooldown=0)
    breaker.failed()
    limiter = RateLimiter(redis_client, breaker=breaker)
    redis_client.config_set("maxmemory", "1")
    try:
        with pytest.raises(redis.exceptions.ResponseError, match="maxmemory"):
            limiter.check(TENANT, "/v1/x", RatePolicy(60, 1))
    finally:
        redis_client.config_set("maxmemory", "0")
    decision = limiter.check(TENANT, "/v1/x", RatePolicy(60, 1))
    assert decision.allowed and not decision.degraded and not breaker.open


def test_a_pipeline_block_refuses_in_the_same_round_trip_and_counts_nothing(
    redis_client: redis.Redis,
) -> None:
    now = datetime.now(UTC)
    until = datetime(now.year + 1, 1, 1, tzinfo=UTC)
    QuotaStateStore(redis_client).replace(
        TENANT, {"api_calls_per_month": QuotaBlock("1,214 of 1,000 API calls", until)}, now
    )
    quota = MeteredQuota.monthly("api_calls_per_month", 1_000, now)
    limiter = RateLimiter(redis_client)
    decision = limiter.check(
        TENANT, "all", RatePolicy(600, 10), quota=quota, gate="api_calls_per_month"
    )
    assert not decision.allowed and decision.refused_by == "blocked"
    assert decision.block_reason == "1,214 of 1,000 API calls" and decision.block_until == until
    assert MeteredCounters(redis_client).used(TENANT, quota) == 0, "a refusal counts nothing"
    assert limiter.check(TENANT, "all", RatePolicy(600, 10), gate="agents").allowed
    assert QuotaGate(redis_client).check(TENANT).reason == "1,214 of 1,000 API calls", (
        "the gate still reads its state (the numeric field beside it is skipped)"
    )
    with pytest.raises(InvalidInputError, match="quota metric is 'api_call'"):
        limiter.check(TENANT, "all", RatePolicy(600, 10), gate="api_call")
