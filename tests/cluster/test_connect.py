"""Choosing a cluster client by configuration."""

from __future__ import annotations

import pytest
from redis.cluster import RedisCluster

from pipelines.redis_client import redis_client
from pipelines.resources import RedisResource
from tenancy.devstack.redis_cluster import RedisClusterServer
from tenancy.errors import ConfigurationError
from tenancy.redis_connect import cluster_mode, connect, is_cluster


def test_cluster_mode_setting() -> None:
    assert cluster_mode({}) is False
    assert cluster_mode({"TENANCY_REDIS_CLUSTER": "True"}) is True
    assert cluster_mode({"TENANCY_REDIS_CLUSTER": "0"}) is False
    with pytest.raises(ConfigurationError, match="TENANCY_REDIS_CLUSTER is 'maybe'; expected"):
        cluster_mode({"TENANCY_REDIS_CLUSTER": "maybe"})


def test_one_node_url_reaches_the_whole_cluster(redis_cluster: RedisClusterServer) -> None:
    client = connect(redis_cluster.url, cluster=True)
    assert is_cluster(client)
    for i in range(20):  # keys on every node, through a URL naming one
        client.set(f"k{i}", i)
    assert [int(client.get(f"k{i}") or -1) for i in range(20)] == list(range(20))
    client.close()


def test_the_pipeline_asks_for_a_url_in_cluster_mode(
    redis_cluster: RedisClusterServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENANCY_REDIS_CLUSTER", "yes")
    monkeypatch.setenv("TENANCY_PROFILE", "local")
    monkeypatch.delenv("TENANCY_REDIS_URL", raising=False)
    with pytest.raises(ConfigurationError, match="TENANCY_REDIS_CLUSTER is set but TENANCY_"):
        redis_client(RedisResource())
    client = redis_client(RedisResource(url=redis_cluster.url))
    assert isinstance(client, RedisCluster)
    client.close()


def test_the_lifecycle_commands_reach_every_node_in_cluster_mode(
    redis_cluster: RedisClusterServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tenancy tenants suspend|purge|sync` publish status keys that live on every node."""
    import uuid

    from tenancy.cli.lifecycle import redis_client as cli_redis_client
    from tenancy.tenant_status import TenantStatusStore

    monkeypatch.setenv("TENANCY_REDIS_CLUSTER", "true")
    monkeypatch.setenv("TENANCY_REDIS_URL", redis_cluster.url)
    client = cli_redis_client()
    assert is_cluster(client)
    store = TenantStatusStore(client)
    tenants = [uuid.uuid4() for _ in range(10)]
    for tenant in tenants:
        store.publish(tenant, "suspended", "unpaid")
    assert all(store.get(tenant) == ("suspended", "unpaid") for tenant in tenants)
    client.close()
