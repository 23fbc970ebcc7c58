"""The sharded usage stream on a real Redis Cluster: every event counted exactly once across
shards, through a primary killed mid-ingest and through a change of the shard count."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import duckdb
import pytest
from redis.cluster import RedisCluster

from pipelines.lib.ingest import IngestWindow
from pipelines.lib.shard_drain import ShardDrain
from tenancy.devstack.redis_cluster import RedisClusterServer
from tenancy.usage.events import api_call
from tenancy.usage.recorder import UsageRecorder
from tenancy.usage.shards import SINGLE_STREAM_KEY, shard_of, stream_key, stream_keys
from tenancy.usage.stream import UsageConsumer

NOW = datetime.now(UTC).replace(microsecond=0)
WINDOW = IngestWindow(NOW - timedelta(days=1), NOW + timedelta(days=1))


def record(recorder: UsageRecorder, tenants: list[uuid.UUID], per_tenant: int) -> Counter[str]:
    recorder.record_many(
        api_call(t, "/v1/agents", "GET", 200, NOW - timedelta(seconds=i))
        for i in range(per_tenant)
        for t in tenants
    )
    return Counter({str(t): per_tenant for t in tenants})


def counted(conn: duckdb.DuckDBPyConnection) -> Counter[str]:
    rows = conn.execute("SELECT tenant_id, sum(quantity) FROM usage_events GROUP BY 1").fetchall()
    return Counter({str(t): int(n) for t, n in rows})


def drain(
    conn: duckdb.DuckDBPyConnection,
    client: RedisCluster,
    shard: int,
    shards: int,
    tenants: list[uuid.UUID],
    read_batch: int = 500,
) -> ShardDrain:
    run = ShardDrain(
        conn,
        client,  # type: ignore[arg-type]
        shard,
        shards,
        "test-consumer",
        lambda: set(tenants),
        WINDOW,
        log=lambda _: None,
        read_batch=read_batch,
    )
    run.run()
    return run


def test_many_tenants_over_three_shards_counted_exactly(
    redis_cluster: RedisClusterServer,
    cluster_client: RedisCluster,
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    tenants = [uuid.uuid4() for _ in range(150)]
    sent = record(UsageRecorder(cluster_client, shards=3, batch_size=400), tenants, 8)  # type: ignore[arg-type]
    nodes = {redis_cluster.node_of(cluster_client, k).port for k in stream_keys(3)}
    assert len(nodes) >= 2, "the shards' streams spread over several primaries"
    for shard in range(3):
        lengths = cluster_client.xlen(stream_key(shard, 3))
        assert lengths == 8 * sum(1 for t in tenants if shard_of(t, 3) == shard)
    for shard in range(3):
        drain(warehouse, cluster_client, shard, 3, tenants)
    assert counted(warehouse) == sent
    for shard in range(3):  # a second pass finds nothing new and changes nothing
        drain(warehouse, cluster_client, shard, 3, tenants)
    assert counted(warehouse) == sent
    assert all(cluster_client.xlen(k) == 0 for k in stream_keys(3)), "acknowledged: trimmed"


def test_primary_killed_between_commit_and_ack(
    redis_cluster: RedisClusterServer,
    cluster_client: RedisCluster,
    warehouse: duckdb.DuckDBPyConnection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worst moment: the warehouse committed a batch, the XACK never reached the node.
    The node comes back from its append-only file with the entries still pending; the next run
    reads them again and the warehouse's claims count each once."""
    tenants = [uuid.uuid4() for _ in range(60)]
    recorder = UsageRecorder(cluster_client, shards=3, batch_size=200)  # type: ignore[arg-type]
    sent = record(recorder, tenants, 10)
    victim_shard = max(range(3), key=lambda s: cluster_client.xlen(stream_key(s, 3)))
    victim = redis_cluster.node_of(cluster_client, stream_key(victim_shard, 3))
    acks = {"n": 0}
    real_ack = UsageConsumer.ack

    def ack_then_die(self: UsageConsumer, entry_ids: list[str]) -> int:
        acks["n"] += 1
        if acks["n"] == 2:  # the second batch: committed in DuckDB, not yet acknowledged
            victim.kill()
        return real_ack(self, entry_ids)

    monkeypatch.setattr(UsageConsumer, "ack", ack_then_die)
    with pytest.raises(Exception) as failure:
        drain(warehouse, cluster_client, victim_shard, 3, tenants, read_batch=50)
    assert "Connection" in type(failure.value).__name__ or "Cluster" in type(failure.value).__name__
    committed = sum(counted(warehouse).values())
    assert committed == 100, "two batches of 50 committed before the node died"

    # While the node is down, the shards on the other nodes keep recording and ingesting.
    alive = [
        s for s in range(3) if redis_cluster.node_of(cluster_client, stream_key(s, 3)) != victim
    ]
    assert alive, "with three shards over three primaries one shard lives elsewhere"
    sent += record(recorder, [t for t in tenants if shard_of(t, 3) in alive][:10], 1)
    for shard in alive:
        drain(warehouse, cluster_client, shard, 3, tenants)

    victim.start()  # same port, same directory: nodes.conf and the append-only file
    redis_cluster.wait_ok()
    monkeypatch.setattr(UsageConsumer, "ack", real_ack)
    client = redis_cluster.client()
    reruns = {
        shard: drain(warehouse, client, shard, 3, tenants, read_batch=50)
        for shard in range(3)
        if shard not in alive
    }
    assert reruns[victim_shard].stats.duplicates == 50, (
        "the unacknowledged batch came back and was not counted again"
    )
    assert counted(warehouse) == sent, "nothing lost, nothing counted twice"
    assert all(client.xlen(k) == 0 for k in stream_keys(3))
    client.close()


def test_changing_the_shard_count_loses_nothing(
    cluster_client: RedisCluster, warehouse: duckdb.DuckDBPyConnection
) -> None:
    """Recorders at N=1 then N=3 (a rolling change) while the pipeline already runs N=2:
    every leftover stream is drained by the partition that owns it, then deleted."""
    tenants = [uuid.uuid4() for _ in range(40)]
    sent = record(UsageRecorder(cluster_client, shards=1), tenants, 3)  # type: ignore[arg-type]
    sent += record(UsageRecorder(cluster_client, shards=3), tenants, 2)  # type: ignore[arg-type]
    sent += record(UsageRecorder(cluster_client, shards=2), tenants, 1)  # type: ignore[arg-type]
    first = drain(warehouse, cluster_client, 0, 2, tenants)
    second = drain(warehouse, cluster_client, 1, 2, tenants)
    assert first.streams == [
        SINGLE_STREAM_KEY,
        "platform:usage:{usage-2}:events",
        "platform:usage:{usage-0}:events",
    ]
    assert second.streams == ["platform:usage:{usage-1}:events"]
    assert first.deleted == [SINGLE_STREAM_KEY, "platform:usage:{usage-2}:events"]
    assert counted(warehouse) == sent
    assert cluster_client.exists(SINGLE_STREAM_KEY, "platform:usage:{usage-2}:events") == 0
