"""A primary SIGKILLed on a cluster with replicas: its replica is promoted, recording and the
limiter go on, tenant users work on the promoted node, and the drain counts every event the
recorder acknowledged once replicated, or after the failover, exactly once.

The promise, precisely (Redis replicates asynchronously): an event whose XADD was
acknowledged and had reached the replica before the primary died is counted exactly once; an
event acknowledged after the failover is counted exactly once; an event whose XADD failed (the
primary was down) goes to the request path's usage spool and, replayed after the promotion, is
counted exactly once too; an event acknowledged by the primary but not yet
copied to its replica when it died can be lost. Nothing is ever counted twice, even when the
promoted replica had not seen the drain's XACKs (the warehouse claims each event id once).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import redis
from redis.cluster import ClusterNode, RedisCluster

from infra.redis_acl import RedisAclUserProvider
from pipelines.lib.ingest import IngestWindow
from pipelines.lib.shard_drain import ShardDrain
from tenancy import redis_acl
from tenancy.circuit import UNREACHABLE, CircuitBreaker, guard_client
from tenancy.devstack.redis_cluster import ClusterNodeServer, RedisClusterServer
from tenancy.ratelimit import RateLimiter, RatePolicy
from tenancy.usage.events import UsageEvent, api_call
from tenancy.usage.recorder import UsageRecorder
from tenancy.usage.shards import shard_of, stream_key
from tenancy.usage.spool import Spool
from tenancy.usage.spooling_recorder import SpoolingRecorder

SHARDS = 3
NOW = datetime.now(UTC).replace(microsecond=0)
WINDOW = IngestWindow(NOW - timedelta(days=1), NOW + timedelta(days=1))
POLICY = RatePolicy(requests_per_minute=600, burst=100)
TIMEOUTS = {"connect_timeout": 1.0, "timeout": 2.0}


def events(tenants: list[uuid.UUID], per_tenant: int) -> list[UsageEvent]:
    return [
        api_call(t, "/v1/agents", "GET", 200, NOW - timedelta(seconds=i))
        for i in range(per_tenant)
        for t in tenants
    ]


def drain_all(
    conn: duckdb.DuckDBPyConnection, client: RedisCluster, tenants: set[uuid.UUID]
) -> None:
    for shard in range(SHARDS):
        ShardDrain(
            conn,
            client,
            shard,
            SHARDS,
            "failover-test",
            lambda: tenants,
            WINDOW,  # type: ignore[arg-type]
            log=lambda _: None,
        ).run()


def counted(conn: duckdb.DuckDBPyConnection) -> dict[uuid.UUID, int]:
    rows = conn.execute("SELECT event_id, count(*) FROM usage_events GROUP BY 1").fetchall()
    return {uuid.UUID(str(e)): int(n) for e, n in rows}


def admin(cluster: RedisClusterServer, node: ClusterNodeServer) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1", port=node.port, password=cluster.password, socket_timeout=2
    )


def replica_of(cluster: RedisClusterServer, primary: ClusterNodeServer) -> ClusterNodeServer:
    with admin(cluster, primary) as c:
        port = int(c.info("replication")["slave0"]["port"])
    return next(n for n in cluster.nodes if n.port == port)


def wait_replicated(cluster: RedisClusterServer) -> None:
    """Until every primary's replica has acknowledged all of its writes (WAIT on the node)."""
    for primary in cluster.primaries():
        with admin(cluster, primary) as c:
            assert c.execute_command("WAIT", 1, 5000) == 1, f"replica of {primary.port} caught up"


def wait_promoted(
    cluster: RedisClusterServer, replica: ClusterNodeServer, timeout: float = 20
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with admin(cluster, replica) as c:
            if (
                c.info("replication")["role"] == "master"
                and c.cluster("info")["cluster_state"] == "ok"
            ):
                return
        time.sleep(0.05)
    raise AssertionError(f"replica {replica.port} was not promoted within {timeout}s")


def test_a_primary_fails_over_and_the_drain_counts_exactly(
    replicated_cluster: RedisClusterServer, warehouse: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    cluster = replicated_cluster
    cluster.wait_ok()
    client = cluster.client()
    tenants = [uuid.uuid4() for _ in range(60)]
    assert {shard_of(t, SHARDS) for t in tenants} == set(range(SHARDS))
    provider = RedisAclUserProvider()
    user = provider.create(
        {
            "admin_url": cluster.url,
            "username": redis_acl.username(tenants[0]),
            "rules": redis_acl.acl_rules(tenants[0], cluster=True),
            "cluster": True,
        }
    )
    for node in cluster.nodes:  # ACL SAVE ran on every node, replicas included
        assert node.aclfile is not None and user.id in node.aclfile.read_text(), node.port
    # The request path's client: no hidden retries (`guard_client`). A dead node on loopback
    # refuses at once; the longer timeouts only spare a loaded machine false timeouts.
    guarded = guard_client(cluster.url, cluster=True, **TIMEOUTS)
    recorder = UsageRecorder(guarded, shards=SHARDS, batch_size=100)
    limiter = RateLimiter(guarded, fail_open=False, breaker=CircuitBreaker(cooldown=0))
    spooling = SpoolingRecorder(recorder, Spool(tmp_path / "spool"))

    replicated = events(tenants, 5)
    recorder.record_many(replicated)
    drain_all(warehouse, client, set(tenants))
    assert all(not limiter.check(t, "all", POLICY).degraded for t in tenants)
    wait_replicated(cluster)  # the events, the drain's XACKs and the buckets are on the replicas
    unconfirmed = events(tenants, 2)  # acknowledged, perhaps not yet on a replica at the kill
    recorder.record_many(unconfirmed)

    victim = cluster.node_of(client, stream_key(0, SHARDS))
    heir = replica_of(cluster, victim)
    # A second request-path recorder, idle from before the kill until after the promotion:
    # its slot map still names the dead primary.
    idle = UsageRecorder(guard_client(cluster.url, cluster=True, **TIMEOUTS), shards=SHARDS)
    on_victim = next(t for t in tenants if shard_of(t, SHARDS) == 0)
    # The replica may not stand for election until the requests below have met the dead
    # primary once; on a loaded machine the election could otherwise finish first.
    with admin(cluster, heir) as c:
        c.config_set("cluster-replica-no-failover", "yes")
    victim.kill()
    spooled: list[UsageEvent] = []
    during: list[UsageEvent] = []
    refused = 0
    held = True
    deadline = time.monotonic() + 20
    while True:  # requests go on while the cluster elects the replica
        promoted = False
        with admin(cluster, heir) as c:
            promoted = c.info("replication")["role"] == "master"
        for event in events(tenants, 1):  # what the middleware does with each request's event
            (during if spooling.record(event) is not None else spooled).append(event)
        refused += sum(not limiter.check(t, "all", POLICY).allowed for t in tenants)
        if held:  # the down node was met: let the automatic failover go ahead
            with admin(cluster, heir) as c:
                c.config_set("cluster-replica-no-failover", "no")
            held = False
        if promoted or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    wait_promoted(cluster, heir)

    late = events([on_victim], 1)[0]
    idle.record(late)  # fails on the stale map, refreshed: retried once on the new primary
    after = [late, *events(tenants, 3)]
    try:
        recorder.record_many(after[1:])
    except UNREACHABLE:  # the slot map still named the dead node: the caller retries once
        recorder.record_many(after[1:])
    replay = spooling.replay()  # what its thread does once Redis answers
    assert replay is not None and replay.replayed == len(spooled)
    assert not spooling.spool.pending()
    decisions = [limiter.check(t, "all", POLICY) for t in tenants]
    assert all(d.allowed and not d.degraded for d in decisions), "the limiter decides again"
    theirs = RedisCluster(
        startup_nodes=[ClusterNode("127.0.0.1", heir.port)],
        username=user.id,
        password=user.outs["password"],
    )
    own = [f"tenant:{tenants[0]}:k{i}" for i in range(30)]
    for key in own:  # every slot, including those the promoted replica now serves
        theirs.set(key, "1")
    assert heir.port in {theirs.get_node_from_key(k).port for k in own}
    theirs.close()

    drain_all(warehouse, client, set(tenants))
    drain_all(warehouse, client, set(tenants))  # a second run finds nothing new
    seen = counted(warehouse)
    assert all(n == 1 for n in seen.values()), "no event counted twice"
    sent = {e.event_id for e in [*replicated, *unconfirmed, *during, *spooled, *after]}
    assert set(seen) <= sent
    batches = {"replicated": replicated, "during": during, "spooled": spooled, "after": after}
    for name, batch in batches.items():
        missing = [e for e in batch if e.event_id not in seen]
        assert not missing, f"{len(missing)} {name} events lost"
    assert spooled, "the kill was seen by the recorder, and its events spooled"
    assert refused, "the limiter refused (fail closed) while the node was down"
    victim.start()  # it comes back as a replica of the promoted node
    cluster.wait_ok()
    client.close()
