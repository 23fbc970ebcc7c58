"""Drain one shard of the usage stream: its own stream, and the streams a former shard count
left behind that this shard now owns (`tenancy.usage.shards`), oldest first; a drained
leftover stream is deleted unless an entry arrived meanwhile. The code path of one
`usage_events` partition, apart from Dagster."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import redis

from pipelines.lib import shard_layout
from pipelines.lib.drain import Drain, DrainStats
from pipelines.lib.ingest import IngestWindow
from tenancy.usage.shards import delete_if_empty, existing_orphans, stream_key
from tenancy.usage.stream import UsageConsumer


@dataclass
class ShardDrain:
    conn: duckdb.DuckDBPyConnection
    client: redis.Redis
    shard: int
    shards: int
    consumer: str
    registered: Callable[[], set[uuid.UUID]]
    window: IngestWindow
    log: Callable[[str], None] = print
    read_batch: int = 20_000
    max_entries: int = 2_000_000
    max_deliveries: int = 10
    abandoned_after_ms: int = 5 * 60 * 1000
    streams: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    stats: DrainStats = field(default_factory=DrainStats)

    def run(self) -> DrainStats:
        # First: a writer still running with another shard count stops at its next commit.
        shard_layout.adopt(self.conn, self.shards, self.log)
        own = stream_key(self.shard, self.shards)
        orphans = existing_orphans(self.client, self.shard, self.shards)
        if orphans.found:
            self.log(f"also draining streams left by a former shard count: {orphans.found}")
        if orphans.unchecked:
            self.log(
                f"{len(orphans.unchecked)} possible leftover streams sit on a node that did not "
                "answer; the next run checks them again"
            )
        self.streams = [*orphans.found, own]
        stats = self.stats = DrainStats()
        for stream in self.streams:
            if stats.read >= self.max_entries:
                break
            stats.add(
                Drain(
                    self.conn,
                    UsageConsumer(self.client, self.consumer, stream=stream),
                    self.registered,
                    self.window,
                    log=self.log,
                    read_batch=self.read_batch,
                    max_entries=self.max_entries - stats.read,
                    max_deliveries=self.max_deliveries,
                    abandoned_after_ms=self.abandoned_after_ms,
                    shards=self.shards,
                    partition=self.shard,
                ).run()
            )
            if stream != own and delete_if_empty(self.client, stream):
                self.deleted.append(stream)
                self.log(f"{stream} drained and deleted")
        return stats
