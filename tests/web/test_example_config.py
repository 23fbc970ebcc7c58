"""The example service as configured from the environment: the usage shard count and the
cluster mode reach the request path, so each tenant's events land on its shard's stream."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.devstack.redis import RedisServer
from tenancy.errors import ConfigurationError
from tenancy.usage.events import parse_fields
from tenancy.usage.shards import SINGLE_STREAM_KEY, shard_of, stream_key
from tenancy.web.example import create_app, service_config
from tests.db.factories import make_tenant

SHARDS = 3


def recorded_tenants(client: object, key: str) -> list[uuid.UUID]:
    """The tenant of each event on the stream `key`, in order."""
    rows: Any = client.xrange(key)  # type: ignore[attr-defined]
    return [
        parse_fields({k.decode(): v.decode() for k, v in fields.items()}).tenant_id
        for _, fields in rows
    ]


def test_the_environment_sets_shards_and_cluster_mode(
    cli_env: RegistryUrls, redis_server: RedisServer
) -> None:
    env = {
        "TENANCY_PROFILE": "local",
        "TENANCY_DATABASE_URL": cli_env.owner,
        "TENANCY_APP_DATABASE_URL": cli_env.app,
        "TENANCY_PLATFORM_DATABASE_URL": cli_env.platform,
        "TENANCY_REDIS_URL": redis_server.url,
        "TENANCY_USAGE_SHARDS": "3",
    }
    config = service_config(env)
    assert (config.usage_shards, config.redis_cluster) == (3, False)
    assert service_config({**env, "TENANCY_REDIS_CLUSTER": "true"}).redis_cluster is True
    with pytest.raises(ConfigurationError, match="TENANCY_USAGE_SHARDS is '0'; expected"):
        service_config({**env, "TENANCY_USAGE_SHARDS": "0"})
    no_url = {k: v for k, v in env.items() if k != "TENANCY_REDIS_URL"}
    with pytest.raises(ConfigurationError, match="TENANCY_REDIS_CLUSTER is set but TENANCY_REDIS"):
        service_config({**no_url, "TENANCY_REDIS_CLUSTER": "yes"})


def test_each_tenants_requests_are_recorded_on_its_shard(
    cli_env: RegistryUrls,
    db: Database,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    made = [make_tenant(db, f"shard-{i}") for i in range(12)]
    by_shard = {shard_of(m.tenant.id, SHARDS) for m in made}
    assert by_shard == set(range(SHARDS)), "the tenants cover every shard"
    monkeypatch.setenv("TENANCY_PROFILE", "local")
    monkeypatch.setenv("TENANCY_REDIS_URL", redis_server.url)
    monkeypatch.setenv("TENANCY_USAGE_SHARDS", str(SHARDS))
    monkeypatch.setenv("TENANCY_USAGE_SPOOL_DIR", str(tmp_path / "spool"))
    app = create_app(service_config(os.environ))
    with TestClient(app) as client:
        for m in made:
            sent = {"x-tenant-id": str(m.tenant.id), "x-user-id": str(m.owner_id)}
            assert client.get("/agents", headers=sent).status_code == 200
    seen = {shard: recorded_tenants(redis_client, stream_key(shard, SHARDS)) for shard in range(3)}
    assert redis_client.exists(SINGLE_STREAM_KEY) == 0, "nothing on the single-shard stream"
    assert {shard: sorted(tenants) for shard, tenants in seen.items()} == {
        shard: sorted(m.tenant.id for m in made if shard_of(m.tenant.id, SHARDS) == shard)
        for shard in range(SHARDS)
    }


def test_the_usage_spool_directory_is_required_outside_the_local_profile(
    registry: RegistryUrls, redis_server: RedisServer, tmp_path: Path
) -> None:
    env = {
        "TENANCY_PROFILE": "production",
        "TENANCY_DATABASE_URL": registry.owner,
        "TENANCY_APP_DATABASE_URL": registry.app,
        "TENANCY_PLATFORM_DATABASE_URL": registry.platform,
        "TENANCY_REDIS_URL": redis_server.url,
    }
    with pytest.raises(ConfigurationError, match="TENANCY_USAGE_SPOOL_DIR is not set; expected"):
        service_config(env)
    spool = tmp_path / "spool"
    given = service_config({**env, "TENANCY_USAGE_SPOOL_DIR": str(spool)})
    assert given.usage_spool_dir == spool
    local = {**env, "TENANCY_PROFILE": "local", "TENANCY_RUN_DIR": str(tmp_path / "run")}
    assert service_config(local).usage_spool_dir == tmp_path / "run" / "usage-spool"
