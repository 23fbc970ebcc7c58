"""The Redis ACL provider on a Redis Cluster: every create, update and delete reaches every
node, a node that is down fails the operation with the node named, and a retry converges."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

from infra.redis_acl import RedisAclUserProvider
from tenancy import redis_acl
from tenancy.devstack.redis_cluster import RedisClusterServer
from tenancy.errors import ConfigurationError
from tenancy.redis_acl_nodes import NodeApplyError, on_every_node

A = uuid.UUID("0b7e4c1a-5f0e-4d5e-9a53-6f1c2d3e4a01")
B = uuid.UUID("1c8f5d2b-6a1f-4e6f-8b64-7a2d3e4f5b02")


def props(server: RedisClusterServer, tenant: uuid.UUID, **over: object) -> dict[str, Any]:
    base = {
        "admin_url": server.url,
        "username": redis_acl.username(tenant),
        "rules": redis_acl.acl_rules(tenant, cluster=True),
        "cluster": True,
    }
    return {**base, **over}


def holders(cluster: RedisClusterServer, name: str) -> dict[str, bool]:
    """Which nodes know the user, asked node by node."""
    found = on_every_node(cluster.url, "check", lambda c: redis_acl.get_user(c, name))
    return {node: user is not None for node, user in found.items()}


def every_node(cluster: RedisClusterServer) -> list[str]:
    return sorted(f"127.0.0.1:{n.port}" for n in cluster.nodes)


def login(cluster: RedisClusterServer, user: str, password: str) -> RedisCluster:
    return RedisCluster(
        startup_nodes=[ClusterNode("127.0.0.1", cluster.nodes[-1].port)],
        username=user,
        password=password,
    )


def own_keys(client: RedisCluster, tenant: uuid.UUID) -> list[str]:
    keys = [f"tenant:{tenant}:cache:{i}" for i in range(30)]
    assert len({client.get_node_from_key(k).port for k in keys}) == 3, "keys on every node"
    return keys


def test_create_update_and_delete_reach_every_node(
    redis_cluster: RedisClusterServer, cluster_client: RedisCluster
) -> None:
    provider = RedisAclUserProvider()
    created = provider.create(props(redis_cluster, A))
    other = provider.create(props(redis_cluster, B))
    name, password = created.id, created.outs["password"]
    assert holders(redis_cluster, name) == dict.fromkeys(every_node(redis_cluster), True)

    tenant = login(redis_cluster, name, password)
    for key in own_keys(cluster_client, A):
        tenant.set(key, "1")
    for key in own_keys(cluster_client, B):  # the other tenant's keys, on every node
        with pytest.raises(redis.exceptions.NoPermissionError):
            tenant.get(key)
    for key in ("platform:usage:events", f"platform:ratelimit:{{{A}}}:all"):
        with pytest.raises(redis.exceptions.NoPermissionError):
            tenant.set(key, "x")
    tenant.close()

    fewer = [r for r in redis_acl.acl_rules(A, cluster=True) if r != "+set"]
    olds = created.outs
    assert provider.diff(name, olds, props(redis_cluster, A, rules=fewer)).changes
    assert provider.diff(name, olds, props(redis_cluster, A, cluster=False)).changes
    updated = provider.update(name, olds, props(redis_cluster, A, rules=fewer)).outs
    assert updated["password"] == password
    tenant = login(redis_cluster, name, password)
    for key in own_keys(cluster_client, A):  # the new rules hold on every node
        assert tenant.get(key) == b"1"
        with pytest.raises(redis.exceptions.NoPermissionError):
            tenant.set(key, "2")
    tenant.close()

    assert provider.read(name, updated).id == name
    provider.delete(name, updated)
    assert holders(redis_cluster, name) == dict.fromkeys(every_node(redis_cluster), False)
    assert provider.read(name, updated).id == ""
    assert all(holders(redis_cluster, other.id).values()), "the other tenant's user stays"


def test_a_node_down_fails_naming_it_and_a_retry_converges(
    redis_cluster: RedisClusterServer, cluster_client: RedisCluster
) -> None:
    provider = RedisAclUserProvider()
    created = provider.create(props(redis_cluster, A))
    name_a, name_b = created.id, redis_acl.username(B)
    fewer = [r for r in redis_acl.acl_rules(A, cluster=True) if r != "+set"]
    down = redis_cluster.nodes[1]
    named = rf"failed on 1 of 3 .* 127\.0\.0\.1:{down.port}"
    down.kill()
    try:
        with pytest.raises(NodeApplyError, match=named):
            provider.create(props(redis_cluster, B))
        with pytest.raises(NodeApplyError, match=named):
            provider.update(name_a, created.outs, props(redis_cluster, A, rules=fewer))
        with pytest.raises(NodeApplyError, match=named):
            provider.read(name_a, created.outs)
    finally:
        down.start()
        redis_cluster.wait_ok()
    partial = holders(redis_cluster, name_b)
    assert partial[f"127.0.0.1:{down.port}"] is False and sum(partial.values()) == 2
    # Without an aclfile the restarted node forgot every user: the retry must restore them.
    assert holders(redis_cluster, name_a)[f"127.0.0.1:{down.port}"] is False

    # `pulumi up` again: Pulumi kept no state for the failed create and the old state for
    # the failed update, so it runs both again.
    retried = provider.create(props(redis_cluster, B))
    assert all(holders(redis_cluster, name_b).values())
    updated = provider.update(name_a, created.outs, props(redis_cluster, A, rules=fewer)).outs
    for tenant_id, name, password in (
        (B, name_b, retried.outs["password"]),
        (A, name_a, updated["password"]),
    ):
        tenant = login(redis_cluster, name, password)
        for key in own_keys(cluster_client, tenant_id):
            if tenant_id == B:
                tenant.set(key, "1")  # the retried create's password works on every node
            else:
                with pytest.raises(redis.exceptions.NoPermissionError):
                    tenant.set(key, "2")  # the retried update holds on every node
        tenant.close()


def test_a_cluster_node_without_cluster_mode_is_refused(
    redis_cluster: RedisClusterServer, cluster_client: RedisCluster
) -> None:
    provider = RedisAclUserProvider()
    with pytest.raises(ConfigurationError, match="tenancy:redisCluster is false but"):
        provider.create(props(redis_cluster, A, cluster=False))
    assert not any(holders(redis_cluster, redis_acl.username(A)).values())
