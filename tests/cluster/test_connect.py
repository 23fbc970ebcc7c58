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
