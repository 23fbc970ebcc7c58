"""The request path's guards on a Redis Cluster: the limiter's script with its four keys in
one slot, the quota gate and the lifecycle status, and tenant ACL users on every node."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot

from tenancy import redis_acl
from tenancy.devstack.redis_cluster import RedisClusterServer
from tenancy.metered import MeteredCounters, MeteredQuota
from tenancy.quota_gate import QuotaBlock, QuotaGate, QuotaStateStore, state_key
from tenancy.ratelimit import RateLimiter, RatePolicy
from tenancy.tenant_status import TenantStatusStore, status_key

NOW = datetime.now(UTC)
POLICY = RatePolicy(requests_per_minute=60, burst=3)


def tenants_on_every_node(
    cluster: RedisClusterServer, client: RedisCluster, n: int = 30
) -> list[uuid.UUID]:
    tenants = [uuid.uuid4() for _ in range(n)]
    nodes = {cluster.node_of(client, status_key(t)).port for t in tenants}
    assert len(nodes) == len(cluster.nodes), "the tenants' keys land on every primary"
    return tenants


def test_limiter_quota_gate_and_status_in_one_slot(
    redis_cluster: RedisClusterServer, cluster_client: RedisCluster
) -> None:
    tenants = tenants_on_every_node(redis_cluster, cluster_client)
    quota = MeteredQuota.monthly("api_calls_per_month", 5, NOW)
    for t in tenants:
        keys = [
            f"platform:ratelimit:{{{t}}}:/v1/agents",
            quota.key(t),
            state_key(t),
            status_key(t),
        ]
        assert len({key_slot(k.encode()) for k in keys}) == 1, keys
    limiter = RateLimiter(cluster_client, fail_open=False)  # type: ignore[arg-type]
    decisions = [
        limiter.check(t, "/v1/agents", POLICY, quota=quota, gate="api_calls_per_month", status=True)
        for t in tenants
        for _ in range(4)
    ]
    assert not any(d.degraded for d in decisions), "no CROSSSLOT, no unreachable node"
    per_tenant = [decisions[i : i + 4] for i in range(0, len(decisions), 4)]
    assert all([d.allowed for d in ds] == [True, True, True, False] for ds in per_tenant)
    assert all(ds[-1].refused_by == "rate_limit" for ds in per_tenant)
    counters = MeteredCounters(cluster_client)  # type: ignore[arg-type]
    assert {counters.used(t, quota) for t in tenants} == {3}

    blocked, suspended = tenants[0], tenants[1]
    QuotaStateStore(cluster_client).replace(  # type: ignore[arg-type]
        blocked, {"api_calls_per_month": QuotaBlock("over quota", NOW + timedelta(days=1))}, NOW
    )
    TenantStatusStore(cluster_client).publish(suspended, "suspended", "unpaid")  # type: ignore[arg-type]
    assert not QuotaGate(cluster_client).check(blocked, now=NOW).allowed  # type: ignore[arg-type]
    gated = limiter.check(blocked, "/v1/other", POLICY, gate="api_calls_per_month")
    assert gated.refused_by == "blocked"
    refused = limiter.check(suspended, "/v1/other", POLICY, status=True)
    assert (refused.refused_by, refused.tenant_status) == ("status", "suspended")
    many = limiter.check_many([(t, "/v1/many", POLICY, None) for t in tenants])
    assert all(d.allowed and not d.degraded for d in many), "pipelined over every node"


def test_limiter_reloads_its_script_after_a_node_restart(
    redis_cluster: RedisClusterServer, cluster_client: RedisCluster
) -> None:
    tenant = uuid.uuid4()
    slow = RatePolicy(requests_per_minute=1, burst=3)  # no token comes back during the test
    limiter = RateLimiter(cluster_client, fail_open=False)  # type: ignore[arg-type]
    assert limiter.check(tenant, "/v1/a", slow).remaining == 2
    node = redis_cluster.node_of(cluster_client, status_key(tenant))
    node.kill()
    node.start()  # scripts are not persisted: the next EVALSHA gets NOSCRIPT
    redis_cluster.wait_ok()
    client = redis_cluster.client()
    limiter.client = client  # type: ignore[assignment]
    decision = limiter.check(tenant, "/v1/a", slow)
    assert decision.allowed and not decision.degraded
    assert decision.remaining == 1, "the bucket survived the restart in the append-only file"
    client.close()


@pytest.fixture
def tenant_user(cluster_client: RedisCluster) -> tuple[uuid.UUID, str]:
    tenant = uuid.uuid4()
    name = redis_acl.username(tenant)
    redis_acl.set_user(
        cluster_client,  # type: ignore[arg-type]
        name,
        "tenant-secret",
        redis_acl.acl_rules(tenant, cluster=True),
    )
    return tenant, name


def test_tenant_user_exists_on_every_node_and_stays_in_its_namespace(
    redis_cluster: RedisClusterServer,
    cluster_client: RedisCluster,
    tenant_user: tuple[uuid.UUID, str],
) -> None:
    tenant, name = tenant_user
    assert redis_acl.nodes_without_user(cluster_client, name) == []  # type: ignore[arg-type]
    other = uuid.uuid4()
    TenantStatusStore(cluster_client).publish(tenant, "active", None)  # type: ignore[arg-type]
    theirs = RedisCluster(
        startup_nodes=[ClusterNode("127.0.0.1", redis_cluster.nodes[-1].port)],
        username=name,
        password="tenant-secret",
    )
    own = [f"tenant:{tenant}:cache:{i}" for i in range(30)]
    assert len({cluster_client.get_node_from_key(k).port for k in own}) == 3
    for key in own:  # its own keys, on every node
        theirs.set(key, "1")
    assert [theirs.get(k) for k in own] == [b"1"] * 30
    for key in (status_key(tenant), f"tenant:{other}:cache:0", "platform:usage:events"):
        with pytest.raises(redis.exceptions.NoPermissionError):
            theirs.delete(key)
    assert TenantStatusStore(cluster_client).get(tenant) == ("active", None)  # type: ignore[arg-type]
    with pytest.raises(redis.exceptions.NoPermissionError):
        theirs.execute_command("FLUSHALL", target_nodes=RedisCluster.PRIMARIES)
    theirs.close()

    assert redis_acl.delete_user(cluster_client, name)  # type: ignore[arg-type]
    assert redis_acl.nodes_without_user(cluster_client, name) == sorted(  # type: ignore[arg-type]
        f"127.0.0.1:{n.port}" for n in redis_cluster.nodes
    )
