"""A tenant holding its own Redis credentials cannot erase what the platform enforces on it.

The tenant's ACL user is created with the same rules the Pulumi provider applies; the quota
gate's state and the rate limiter's keys must be out of its reach for every command it has.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis

from tenancy import redis_acl
from tenancy.devstack.redis import RedisServer
from tenancy.quota_gate import QuotaBlock, QuotaGate, QuotaStateStore
from tenancy.ratelimit import RateLimiter, RatePolicy

TENANT = uuid.UUID("0b7e4c1a-5f0e-4d5e-9a53-6f1c2d3e4a01")
NOW = datetime.now(UTC)
POLICY = RatePolicy(requests_per_minute=60, burst=1)


@pytest.fixture
def tenant_client(redis_server: RedisServer, redis_client: redis.Redis) -> Iterator[redis.Redis]:
    name = redis_acl.username(TENANT)
    redis_acl.set_user(redis_client, name, "tenant-secret", redis_acl.acl_rules(TENANT))
    client = redis.Redis(
        host="127.0.0.1", port=redis_server.port, username=name, password="tenant-secret"
    )
    yield client
    client.close()
    redis_client.acl_deluser(name)


@pytest.fixture
def enforced(redis_client: redis.Redis) -> list[str]:
    """The tenant blocked on API calls and out of rate-limit tokens; returns the keys."""
    QuotaStateStore(redis_client).replace(
        TENANT, {"api_calls_per_month": QuotaBlock("over quota", NOW + timedelta(days=3))}, NOW
    )
    limiter = RateLimiter(redis_client)
    assert limiter.check(TENANT, "/v1/agents", POLICY).allowed
    assert not limiter.check(TENANT, "/v1/agents", POLICY).allowed
    keys = sorted(k.decode() for k in redis_client.keys("*"))
    assert keys == [
        f"platform:quota:{{{TENANT}}}:state",
        f"platform:ratelimit:{{{TENANT}}}:/v1/agents",
    ]
    return keys


ATTACKS = [
    ("DEL",),
    ("UNLINK",),
    ("GETDEL",),
    ("EXPIRE", "0"),
    ("PEXPIRE", "1"),
    ("SET", "0"),
    ("HDEL", "api_calls_per_month"),
    ("HSET", "api_calls_per_month", "{}"),
    ("GET",),
    ("HGETALL",),
    ("TTL",),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a[0])
def test_tenant_user_cannot_touch_its_enforcement_state(
    tenant_client: redis.Redis,
    redis_client: redis.Redis,
    enforced: list[str],
    attack: tuple[str, ...],
) -> None:
    for key in enforced:
        with pytest.raises(redis.exceptions.NoPermissionError):
            tenant_client.execute_command(attack[0], key, *attack[1:])
    assert not QuotaGate(redis_client).check(TENANT, now=NOW).allowed, "still blocked"
    assert not RateLimiter(redis_client).check(TENANT, "/v1/agents", POLICY).allowed
    assert sorted(k.decode() for k in redis_client.keys("*")) == enforced


def test_tenant_user_still_reaches_its_own_namespace(tenant_client: redis.Redis) -> None:
    tenant_client.set(f"tenant:{TENANT}:cache:x", "1")
    assert tenant_client.get(f"tenant:{TENANT}:cache:x") == b"1"
