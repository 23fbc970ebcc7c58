"""The sharded usage stream on a three-node Redis Cluster: recorder throughput, the server's
cost per event on a shard, and ingest with one worker against two workers in parallel.

- recorder: one process records pipelined batches into a single server (the baseline), then
  into 1 and 2 shards of the cluster (the cluster client splits each batch by node and looks
  up every key's slot); events per second, and the server's own
  microseconds per XADD (INFO commandstats), whose inverse is what one shard's node can take
  on one core.
- ingest: the same events (valid API calls, agent executions and storage events of 1,000
  tenants) fill 2 shards. Baseline: one worker drains shard 0 then shard 1 (`ShardDrain`, the
  code path of a `usage_events` run) into one DuckDB file. Parallel: two worker processes,
  one per shard, at the same time, each into its own DuckDB file: the stand-in for a warehouse
  that takes concurrent writers (DuckLake); with the single-file DuckDB warehouse the runs
  queue on the warehouse pool instead. Both sides read the same entries (the consumer group
  is reset between sides; a group that never reads keeps them from being trimmed). The best
  of the rounds of each side, sides alternating.

    python bench/usage_shards.py [--quick]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import shutil
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis.cluster import RedisCluster

from bench.common import result, scratch_dir
from bench.common_redis import throwaway_redis
from pipelines.lib.ingest import IngestWindow
from pipelines.lib.shard_drain import ShardDrain
from pipelines.resources import UsageWarehouse
from tenancy.devstack.redis_cluster import RedisClusterServer
from tenancy.usage.events import UsageEvent, agent_execution, api_call, storage_delta
from tenancy.usage.recorder import UsageRecorder
from tenancy.usage.shards import stream_keys
from tenancy.usage.stream import PIPELINE_GROUP

NOW = datetime.now(UTC)
WINDOW = IngestWindow(NOW - timedelta(days=30), NOW + timedelta(minutes=5))
SHARDS = 2


def events(n: int, tenants: list[uuid.UUID], seed: int) -> list[UsageEvent]:
    rng = random.Random(seed)
    out: list[UsageEvent] = []
    for i in range(n):
        tenant, at = tenants[i % len(tenants)], NOW - timedelta(seconds=rng.randrange(20 * 86400))
        kind = i % 25
        if kind < 22:
            out.append(api_call(tenant, f"/v1/items/{i % 9}", "GET", 200, at))
        elif kind < 24:
            out.append(agent_execution(tenant, uuid.uuid4(), at))
        else:
            out.append(storage_delta(tenant, rng.randrange(1, 10**6), at))
    return out


def xadd_usec(client: RedisCluster) -> float:
    stats = client.info("commandstats", target_nodes=RedisCluster.PRIMARIES)
    calls = usec = 0
    for node_stats in stats.values():
        xadd = node_stats.get("cmdstat_xadd")
        if xadd:
            calls += int(xadd["calls"])
            usec += int(xadd["usec"])
    return usec / calls if calls else 0.0


def recorder_rate(cluster: RedisClusterServer, batch: list[UsageEvent], shards: int) -> float:
    client = cluster.client()
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    recorder = UsageRecorder(client, shards=shards, batch_size=1000)  # type: ignore[arg-type]
    started = time.perf_counter()
    recorder.record_many(batch)
    rate = len(batch) / (time.perf_counter() - started)
    client.close()
    return rate


def reset_group(client: RedisCluster) -> None:
    for key in stream_keys(SHARDS):
        client.xgroup_destroy(key, PIPELINE_GROUP)
        client.xgroup_create(key, PIPELINE_GROUP, id="0")


def drain_shards(
    cluster: RedisClusterServer, shards: list[int], database: Path, tenants: set[uuid.UUID]
) -> int:
    client = cluster.client()
    read = 0
    with UsageWarehouse(database=str(database), memory_limit="2GB", threads=1).connection() as conn:
        for shard in shards:
            run = ShardDrain(
                conn,
                client,  # type: ignore[arg-type]
                shard,
                SHARDS,
                f"bench-{shard}",
                lambda: tenants,
                WINDOW,
                log=lambda _: None,
            )
            read += run.run().read
    client.close()
    return read


def _worker(
    cluster: RedisClusterServer,
    shard: int,
    database: Path,
    tenants: set[uuid.UUID],
    go: mp.synchronize.Event,
    out: mp.Queue[int],
) -> None:
    go.wait()
    out.put(drain_shards(cluster, [shard], database, tenants))


def parallel(cluster: RedisClusterServer, base: Path, tenants: set[uuid.UUID]) -> tuple[float, int]:
    ctx = mp.get_context("fork")
    go, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker, args=(cluster, s, base / f"parallel-{s}.duckdb", tenants, go, out)
        )
        for s in range(SHARDS)
    ]
    for p in procs:
        p.start()
    time.sleep(0.5)  # both workers imported and waiting
    started = time.perf_counter()
    go.set()
    read = sum(out.get() for _ in procs)
    for p in procs:
        p.join()
    return time.perf_counter() - started, read


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="reduced size; under a minute")
    parser.add_argument(
        "--fsync",
        default="everysec",
        choices=("always", "everysec"),
        help="the nodes' appendfsync (default everysec; always costs a disk flush per write)",
    )
    args = parser.parse_args()
    n = 100_000 if args.quick else 300_000
    rounds = 2 if args.quick else 3
    base = scratch_dir("bench-shards-")
    cluster = RedisClusterServer(base / "cluster", fsync=args.fsync)
    cluster.start()
    try:
        tenants = [uuid.uuid4() for _ in range(1000)]
        batch = events(n, tenants, seed=3)
        with throwaway_redis() as single:
            started = time.perf_counter()
            UsageRecorder(single, batch_size=1000).record_many(batch[: n // 2])
            baseline = n // 2 / (time.perf_counter() - started)
        one = recorder_rate(cluster, batch[: n // 2], 1)
        two = recorder_rate(cluster, batch[: n // 2], 2)
        client = cluster.client()
        client.flushall(target_nodes=RedisCluster.PRIMARIES)
        client.info("commandstats")  # warm the connections before the stats reset
        client.config_resetstat(target_nodes=RedisCluster.PRIMARIES)
        UsageRecorder(client, shards=SHARDS, batch_size=1000).record_many(batch)  # type: ignore[arg-type]
        usec = xadd_usec(client)
        for key in stream_keys(SHARDS):
            client.xgroup_create(key, "keeper", id="0")
            client.xgroup_create(key, PIPELINE_GROUP, id="0")
        per_shard = [client.xlen(k) for k in stream_keys(SHARDS)]
        nodes = [cluster.node_of(client, k).port for k in stream_keys(SHARDS)]
        print(f"shard streams on the nodes at ports {nodes}")
        print(f"nodes: 3 primaries, appendfsync {args.fsync}")
        print(f"{n:,} events over {SHARDS} shards: {per_shard} (crc32 of the tenant id)")
        print(
            f"recorder, one process: single server {baseline:,.0f} events/s; cluster, 1 shard "
            f"{one:,.0f} events/s, 2 shards {two:,.0f} events/s (x{two / baseline:.2f})"
        )
        print(
            f"server cost per XADD: {usec:.2f} µs, so one shard's node takes about "
            f"{1e6 / usec:,.0f} events/s on one core"
        )

        known = set(tenants)
        best_seq = best_par = float("inf")
        for r in range(rounds):
            for side in ("seq", "par") if r % 2 == 0 else ("par", "seq"):
                reset_group(client)
                for f in base.glob("*.duckdb*"):
                    f.unlink()
                if side == "seq":
                    started = time.perf_counter()
                    read = drain_shards(cluster, list(range(SHARDS)), base / "one.duckdb", known)
                    seconds = time.perf_counter() - started
                    best_seq = min(best_seq, seconds)
                else:
                    seconds, read = parallel(cluster, base, known)
                    best_par = min(best_par, seconds)
                assert read == n, f"{side}: read {read} of {n}"
                print(f"round {r} {side}: {n / seconds:,.0f} events/s")
        client.close()
        print(
            f"ingest: 1 worker {n / best_seq:,.0f} events/s; 2 workers in parallel "
            f"{n / best_par:,.0f} events/s ({n / best_par / SHARDS:,.0f} per worker)"
        )
        passed = result("ingest_scaling_2_workers", best_seq / best_par, ">=", 1.6)
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
