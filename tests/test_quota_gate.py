"""The quota gate reads back what the pipeline writes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import redis

from tenancy.circuit import guard_client
from tenancy.errors import InvalidInputError
from tenancy.quota_gate import QuotaBlock, QuotaGate, QuotaStateStore

TENANT = uuid.UUID("0b7e4c1a-5f0e-4d5e-9a53-6f1c2d3e4a01")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NEXT_PERIOD = datetime(2026, 12, 1, tzinfo=UTC)


def test_missing_state_means_allowed(redis_client: redis.Redis) -> None:
    assert QuotaGate(redis_client).check(TENANT, now=NOW).allowed


def test_blocked_until_next_period(redis_client: redis.Redis) -> None:
    QuotaStateStore(redis_client).replace(
        TENANT,
        {"api_calls_per_month": QuotaBlock("1,214 of 1,000 API calls this month", NEXT_PERIOD)},
        NOW,
    )
    gate = QuotaGate(redis_client)
    denied = gate.check(TENANT, "api_calls_per_month", now=NOW)
    assert not denied.allowed and denied.reason == "1,214 of 1,000 API calls this month"
    assert denied.until == NEXT_PERIOD
    assert gate.check(TENANT, "agents", now=NOW).allowed, "only the blocked metric is denied"
    assert gate.check(TENANT, "api_calls_per_month", now=NEXT_PERIOD).allowed, (
        "the block ends with the period"
    )
    assert gate.check(uuid.uuid4(), now=NOW).allowed, "other tenants are unaffected"
    ttl = redis_client.pttl(f"platform:quota:{{{TENANT}}}:state")
    assert ttl > 0, "state always expires"


def test_replace_clears_old_blocks(redis_client: redis.Redis) -> None:
    store = QuotaStateStore(redis_client)
    store.replace(TENANT, {"agents": QuotaBlock("too many agents", NEXT_PERIOD)}, NOW)
    store.replace(TENANT, {}, NOW)
    assert store.read(TENANT) == {}
    assert QuotaGate(redis_client).check(TENANT, "agents", now=NOW).allowed


def test_bad_state_is_refused(redis_client: redis.Redis) -> None:
    store = QuotaStateStore(redis_client)
    with pytest.raises(InvalidInputError, match="quota metric is 'cpu'"):
        store.replace(TENANT, {"cpu": QuotaBlock("x", NEXT_PERIOD)}, NOW)
    with pytest.raises(InvalidInputError, match=r"until is .*; expected a timezone-aware datetime"):
        store.replace(TENANT, {"agents": QuotaBlock("x", datetime(2026, 12, 1))}, NOW)


def test_gate_when_redis_is_down() -> None:
    dead = guard_client("redis://127.0.0.1:1/0")  # the request path's client: no retries
    assert QuotaGate(dead).check(TENANT, now=NOW).allowed
    closed = QuotaGate(dead, fail_open=False).check(TENANT, now=NOW)
    assert not closed.allowed and closed.reason == "quota state unavailable"
