"""Stream entry ids are per stream: two shards' streams hand out the same id in the same
millisecond. The quarantine keeps an entry of each, and neither shard's entry is skipped as the
other's (and then acknowledged, recorded nowhere)."""

from __future__ import annotations

import uuid

import duckdb
import redis

from pipelines.lib import event_store, warehouse
from pipelines.lib.drain import Drain
from tenancy.usage.shards import stream_key
from tenancy.usage.stream import UsageConsumer
from tests.pipelines.test_ingest_property import WINDOW

TENANT = uuid.UUID(int=0x2222)


def test_the_same_entry_id_in_two_shards_streams_is_quarantined_twice(
    redis_client: redis.Redis,
) -> None:
    conn = duckdb.connect(":memory:")
    warehouse.configure(conn, memory_limit="512MB")
    streams = [stream_key(shard, 2) for shard in range(2)]
    for shard, stream in enumerate(streams):
        redis_client.delete(stream)
        # The same id in both streams, as two primaries' clocks give it.
        redis_client.xadd(stream, {b"junk": f"shard {shard}".encode()}, id="1700000000000-0")
    for shard, stream in enumerate(streams):
        consumer = UsageConsumer(redis_client, "per-stream", stream=stream)
        Drain(
            conn, consumer, lambda: {TENANT}, WINDOW, log=lambda _: None, shards=2, partition=shard
        ).run()
        assert redis_client.xpending(stream, consumer.group)["pending"] == 0
    rows = conn.execute("SELECT entry_id, stream, fields FROM usage_quarantine").fetchall()
    kept = {stream: (entry_id, fields) for entry_id, stream, fields in rows}
    assert len(rows) == 2 and set(kept) == set(streams), "one quarantined entry per stream"
    for shard, stream in enumerate(streams):
        entry_id, fields = kept[stream]
        assert entry_id == "1700000000000-0" and f"shard {shard}" in fields, "each its own"


def test_an_entrys_recorded_error_is_not_read_as_another_streams() -> None:
    """The reason a stuck entry is quarantined with comes from its own stream's errors."""
    conn = duckdb.connect(":memory:")
    warehouse.configure(conn, memory_limit="512MB")
    first, second = (stream_key(shard, 2) for shard in range(2))
    event_store.record_error(conn, "1700000000000-0", "RuntimeError('shard 0 only')", first)
    assert event_store.last_errors(conn, ["1700000000000-0"], second) == {}
    assert event_store.last_errors(conn, ["1700000000000-0"], first) == {
        "1700000000000-0": "RuntimeError('shard 0 only')"
    }
