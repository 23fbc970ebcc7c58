"""Upgrading an install: enforcement keys move to their hash-tagged names with value and TTL."""

from __future__ import annotations

import uuid

import pytest
import redis
from typer.testing import CliRunner

from tenancy.cli.main import app
from tenancy.devstack.redis import RedisServer
from tenancy.quota_gate import state_key
from tenancy.redis_key_migration import migrate_enforcement_keys, tagged_name
from tenancy.tenant_status import TenantStatusStore, status_key

TENANT = uuid.UUID("0b7e4c1a-5f0e-4d5e-9a53-6f1c2d3e4a01")


def test_tagged_names() -> None:
    assert tagged_name(f"platform:tenant:{TENANT}:status") == status_key(TENANT)
    assert tagged_name(f"platform:quota:{TENANT}:state") == state_key(TENANT)
    assert (
        tagged_name(f"platform:ratelimit:{TENANT}:/v1/agents/{{id}}")
        == f"platform:ratelimit:{{{TENANT}}}:/v1/agents/{{id}}"
    )
    assert tagged_name(status_key(TENANT)) is None, "already tagged"
    assert tagged_name("platform:usage:events") is None
    assert tagged_name(f"tenant:{TENANT}:cache:x") is None


def test_suspended_tenant_stays_suspended_across_the_upgrade(redis_client: redis.Redis) -> None:
    other = uuid.uuid4()
    redis_client.set(f"platform:tenant:{TENANT}:status", '{"status": "suspended", "reason": "x"}')
    redis_client.set(f"platform:metered:{TENANT}:api_calls_per_month:2026-11", 900, px=600_000)
    redis_client.set(f"platform:quota:{other}:state", "old")
    redis_client.set(state_key(other), "new")  # written by the new code meanwhile
    redis_client.set(f"tenant:{TENANT}:cache:x", "1")

    result = migrate_enforcement_keys(redis_client)

    assert result.renamed == 2
    assert result.conflicts == [f"platform:quota:{other}:state"]
    assert TenantStatusStore(redis_client).get(TENANT) == ("suspended", "x")
    counter = f"platform:metered:{{{TENANT}}}:api_calls_per_month:2026-11"
    assert redis_client.get(counter) == b"900" and 0 < redis_client.pttl(counter) <= 600_000
    assert redis_client.get(state_key(other)) == b"new", "never overwritten"
    assert redis_client.get(f"tenant:{TENANT}:cache:x") == b"1", "tenant data untouched"
    assert migrate_enforcement_keys(redis_client).renamed == 0, "a second run has nothing to do"
    redis_client.flushdb()


def test_cli_reports_renames_and_conflicts(
    redis_server: RedisServer, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENANCY_REDIS_URL", redis_server.url)
    redis_client.set(f"platform:tenant:{TENANT}:status", '{"status": "active", "reason": null}')
    ok = CliRunner().invoke(app, ["redis", "migrate-keys"])
    assert ok.exit_code == 0 and "1 keys renamed" in ok.output, ok.output
    redis_client.set(f"platform:tenant:{TENANT}:status", "stale")
    conflict = CliRunner().invoke(app, ["redis", "migrate-keys"])
    assert conflict.exit_code == 1
    assert f"platform:tenant:{TENANT}:status: its hash-tagged name exists already" in (
        conflict.output
    )
    redis_client.flushdb()
