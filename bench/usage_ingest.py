"""Usage ingestion end to end: events per second from the Redis stream into DuckDB.

The same stream (valid API calls, agent executions and storage events of 1,000 tenants, with
1 % malformed entries and 1 % client retries mixed in) is drained twice per round, each time
by its own consumer group into a fresh DuckDB file:

- pipeline: `Drain.run`, the code path of the `usage_events` asset (decode, validate, window,
  claims per tenant and event id, quarantine, ack after commit, trim), minus Dagster's run
  bookkeeping;
- raw ceiling: XREADGROUP batches of the same size, the fields decoded into one Arrow table
  per batch and inserted as they are, then XACK: no validation, no deduplication.

Rounds alternate the order; the best round of each side is compared.

    python bench/usage_ingest.py [--quick]
"""

from __future__ import annotations

import random
import shutil
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb
import pyarrow as pa
import redis

from bench.common import parse_args, result, scratch_dir
from bench.common_redis import throwaway_redis
from pipelines.lib import warehouse
from pipelines.lib.drain import Drain
from pipelines.lib.ingest import IngestWindow
from pipelines.usage.assets import READ_BATCH
from tenancy.usage.events import UsageEvent, agent_execution, api_call, storage_delta
from tenancy.usage.recorder import UsageRecorder
from tenancy.usage.stream import STREAM_KEY, UsageConsumer

RAW_FIELDS = ("v", "id", "tenant", "metric", "qty", "ts", "endpoint", "method", "status", "agent")
NOW = datetime.now(UTC)


def fill(client: redis.Redis, n: int, tenants: list[uuid.UUID]) -> None:
    rng = random.Random(11)
    recorder = UsageRecorder(client, batch_size=1000)
    batch: list[UsageEvent] = []
    for i in range(n):
        tenant, at = tenants[i % len(tenants)], NOW - timedelta(seconds=rng.randrange(20 * 86400))
        if i % 100 == 0:  # a malformed entry
            client.xadd(STREAM_KEY, {"v": "1", "id": str(uuid.uuid4()), "qty": "²"})
            continue
        if i % 100 == 1 and batch:  # a client retry: the same event again
            batch.append(batch[-1])
            continue
        kind = i % 25
        if kind == 0:
            batch.append(agent_execution(tenant, tenant, at))
        elif kind == 1:
            batch.append(storage_delta(tenant, rng.randrange(1, 10**6), at))
        else:
            batch.append(api_call(tenant, f"/v1/items/{i % 12}", "GET", 200, at))
        if len(batch) >= 5000:
            recorder.record_many(batch)
            batch = []
    recorder.record_many(batch)


def fresh_group(client: redis.Redis, group: str) -> None:
    client.xgroup_destroy(STREAM_KEY, group)
    client.xgroup_create(STREAM_KEY, group, id="0")


def pipeline_side(client: redis.Redis, path: Path, tenants: set[uuid.UUID], expected: int) -> float:
    fresh_group(client, "usage-pipeline")
    conn = warehouse.connect(str(path), memory_limit="4GB")
    window = IngestWindow.around(
        datetime.now(UTC), timedelta(days=35), timedelta(minutes=5), NOW - timedelta(days=365)
    )
    started = time.perf_counter()
    stats = Drain(
        conn,
        UsageConsumer(client, "bench"),
        lambda: tenants,
        window,
        log=lambda _: None,
        read_batch=READ_BATCH,
    ).run()
    elapsed = time.perf_counter() - started
    conn.close()
    if stats.read != expected:
        raise SystemExit(f"pipeline read {stats.read} entries, expected {expected}")
    return elapsed


def raw_side(client: redis.Redis, path: Path, expected: int) -> float:
    fresh_group(client, "raw")
    conn = duckdb.connect(str(path))
    conn.execute(
        "CREATE TABLE raw_events (entry_id VARCHAR, "
        + ", ".join(f"{name} VARCHAR" for name in RAW_FIELDS)
        + ")"
    )
    read = 0
    started = time.perf_counter()
    while raw := client.xreadgroup("raw", "bench", {STREAM_KEY: ">"}, count=READ_BATCH):
        entries = raw[0][1]
        columns: dict[str, list[str | None]] = {"entry_id": [e.decode() for e, _ in entries]}
        for name in RAW_FIELDS:
            key = name.encode()
            columns[name] = [f[key].decode() if key in f else None for _, f in entries]
        conn.register("batch", pa.table(columns))
        conn.execute("INSERT INTO raw_events SELECT * FROM batch")
        conn.unregister("batch")
        client.xack(STREAM_KEY, "raw", *columns["entry_id"])
        read += len(entries)
    elapsed = time.perf_counter() - started
    conn.close()
    if read != expected:
        raise SystemExit(f"raw side read {read} entries, expected {expected}")
    return elapsed


def main() -> int:
    quick = parse_args(__doc__ or "").quick
    events, rounds = (150_000, 3) if quick else (1_000_000, 3)
    tenants = [uuid.uuid4() for _ in range(1000)]
    base = scratch_dir("bench-ingest-")
    try:
        with throwaway_redis() as client:
            fill(client, events, tenants)
            total = int(client.xlen(STREAM_KEY))
            # A group that never reads keeps every entry from being trimmed between rounds.
            client.xgroup_create(STREAM_KEY, "keeper", id="0")
            client.xgroup_create(STREAM_KEY, "usage-pipeline", id="0")
            client.xgroup_create(STREAM_KEY, "raw", id="0")
            print(f"stream: {total:,} entries for {len(tenants):,} tenants")
            times: dict[str, list[float]] = {"pipeline": [], "raw": []}
            for r in range(rounds):
                order = ["pipeline", "raw"] if r % 2 == 0 else ["raw", "pipeline"]
                for side in order:
                    path = base / f"{side}-{r}.duckdb"
                    if side == "pipeline":
                        times[side].append(pipeline_side(client, path, set(tenants), total))
                    else:
                        times[side].append(raw_side(client, path, total))
                    path.unlink()
        pipeline_rate = total / min(times["pipeline"])
        raw_rate = total / min(times["raw"])
        print(
            f"pipeline (usage_events path): {pipeline_rate:,.0f} entries/s   "
            f"raw ceiling (XREADGROUP + one Arrow insert per batch): {raw_rate:,.0f} entries/s   "
            f"(best of {rounds}, batches of {READ_BATCH:,})"
        )
        ok = result("ingest_vs_raw_ceiling", pipeline_rate / raw_rate, ">=", 0.5)
        return 0 if ok else 1
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
