"""Drain the usage stream into the warehouse: the code path of the `usage_events` asset.

Every entry read ends up counted once, skipped as an identical copy of a counted event, or
quarantined with its reason; it is acknowledged in Redis only after the DuckDB transaction
that holds it commits. No entry can fail the drain: a batch that fails for an unexpected
reason is split in halves until the entries that fail on their own are found; those stay
pending with their error recorded, and once an entry has been delivered `max_deliveries`
times it is quarantined with that error (the stream's pending-entries delivery count).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import redis

from pipelines.lib import event_store, ingest_batches, shard_layout, writes
from pipelines.lib.ingest import (
    CONFLICTING_DUPLICATE,
    DELIVERY_LIMIT,
    IngestWindow,
    QuarantineRow,
    quarantine_row,
    split_entries,
)
from tenancy.usage.stream import StreamEntry, UsageConsumer, trim_acknowledged

#: Failures of the machinery rather than of an entry: splitting the batch would not help.
#: Failures no entry is to blame for; they fail the run and leave the entries pending. A
#: `WriteConflict` that outlasted its retries is one: concurrent writers, not a bad entry.
ENVIRONMENT_FAILURES = (
    duckdb.IOException,
    duckdb.FatalException,
    OSError,
    redis.RedisError,
    writes.WriteConflict,
    shard_layout.ShardLayoutChangedError,
)


class DrainAbortedError(RuntimeError):
    """Too many entries failed on their own in one run; they stay pending."""

    def __init__(self, failed: int, last: BaseException) -> None:
        self.failed = failed
        self.last = last
        super().__init__(
            f"{failed} entries failed on their own in this run (last: {last!r}); this is a "
            "fault of the pipeline, not of an entry: stopping, the entries stay pending"
        )


@dataclass
class DrainStats:
    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    conflicts: int = 0
    over_delivered: int = 0
    trimmed: int = 0
    failed: list[str] = field(default_factory=list)  # entries left pending after an error

    def add(self, other: DrainStats) -> None:
        """Add another drain's counts (one run drains several streams of a shard)."""
        for name in ("read", "inserted", "duplicates", "quarantined", "conflicts"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.over_delivered += other.over_delivered
        self.trimmed += other.trimmed
        self.failed += other.failed


@dataclass
class Drain:
    conn: duckdb.DuckDBPyConnection
    consumer: UsageConsumer
    registered: Callable[[], set[uuid.UUID]]
    window: IngestWindow
    log: Callable[[str], None] = print
    read_batch: int = 20_000
    max_entries: int = 2_000_000
    max_deliveries: int = 10
    abandoned_after_ms: int = 5 * 60 * 1000
    #: More entries than this failing on their own in one run is not a poison entry but a
    #: fault of the pipeline itself: the run stops rather than grind through the stream.
    max_failed_entries: int = 100
    #: The shard count every claiming writer shares (`shard_layout`), and the partition this
    #: drain belongs to: its batch sequence, and its shard's fence.
    shards: int = 1
    partition: int = 0
    stats: DrainStats = field(default_factory=DrainStats)

    def run(self) -> DrainStats:
        """Drain until the stream is empty or `max_entries` were read, then trim what every
        consumer group has acknowledged."""
        shard_layout.ensure(self.conn, self.shards)
        self.consumer.ensure_group()
        self._known = self.registered()
        self._quarantine_over_delivered()
        pending = self.consumer.claim_abandoned(self.abandoned_after_ms)
        while self.stats.read < self.max_entries and (
            entries := pending or self.consumer.read(count=self.read_batch)
        ):
            pending = []
            self.stats.read += len(entries)
            self._store_or_split(entries)
        self.stats.trimmed = trim_acknowledged(self.consumer.client, self.consumer.stream)
        return self.stats

    def _quarantine_over_delivered(self) -> None:
        stuck = self.consumer.over_delivered(self.max_deliveries)
        if not stuck:
            return
        entries = self.consumer.take([p.entry_id for p in stuck])
        deliveries = {p.entry_id: p.deliveries for p in stuck}
        errors = event_store.last_errors(
            self.conn, [e.entry_id for e in entries], self.consumer.stream
        )
        rows = [
            quarantine_row(
                e,
                DELIVERY_LIMIT,
                f"delivered {deliveries[e.entry_id]} times without being stored; last error: "
                f"{errors.get(e.entry_id, 'none recorded (the run that read it died)')}",
            )
            for e in entries
        ]
        with writes.transaction(self.conn):
            writes.fence(self.conn, shard_layout.partition_fence(self.partition))
            batch_id = ingest_batches.next_batch_id(self.conn, self.partition)
            added = event_store.insert_quarantine(self.conn, rows, batch_id, self.consumer.stream)
            self._record_batch(batch_id, len(entries), 0, 0, len(rows))
        self.consumer.ack([e.entry_id for e in entries])
        self.stats.over_delivered += len(entries)
        self.stats.quarantined += len(rows)
        self.log(f"{added} entries past {self.max_deliveries} deliveries quarantined")

    def _store_or_split(self, entries: list[StreamEntry]) -> None:
        try:
            writes.retry_conflicts(lambda: self._store(entries))
        except ENVIRONMENT_FAILURES:
            raise  # no entry is to blame; they stay pending for the next run
        except Exception as exc:
            if len(entries) > 1:
                middle = len(entries) // 2
                self.log(f"batch of {len(entries)} failed ({exc!r}); splitting it")
                self._store_or_split(entries[:middle])
                self._store_or_split(entries[middle:])
                return
            entry = entries[0]
            self.stats.failed.append(entry.entry_id)
            if len(self.stats.failed) > self.max_failed_entries:
                raise DrainAbortedError(len(self.stats.failed), exc) from exc
            self.log(f"entry {entry.entry_id} failed on its own and stays pending: {exc!r}")
            with writes.transaction(self.conn):
                event_store.record_error(self.conn, entry.entry_id, repr(exc), self.consumer.stream)

    def _store(self, entries: list[StreamEntry]) -> None:
        batch = split_entries(entries, self._known, self.window)
        if batch.unknown_tenants:
            self._known = self.registered()  # a tenant created since the run started
            batch = split_entries(entries, self._known, self.window)
        fences = shard_layout.claim_fences(batch.events, self.shards, self.partition)
        with writes.transaction(self.conn):
            writes.hold(self.conn, fences)
            shard_layout.check(self.conn, self.shards)
            batch_id = ingest_batches.next_batch_id(self.conn, self.partition)
            result = event_store.insert_events(
                self.conn, batch.events, batch_id, claim_days=self.window.days()
            )
            rows = batch.quarantine + self._conflict_rows(entries, result.conflicts)
            added = event_store.insert_quarantine(self.conn, rows, batch_id, self.consumer.stream)
            self._record_batch(
                batch_id, len(entries), result.inserted, result.duplicates, len(rows)
            )
        # Only now: a crash before this line leaves them pending, to be read again.
        self.consumer.ack([e.entry_id for e in entries])
        self.stats.inserted += result.inserted
        self.stats.duplicates += result.duplicates
        self.stats.quarantined += len(rows)
        self.stats.conflicts += len(result.conflicts)
        self.log(
            f"batch {batch_id}: {len(entries)} read, {result.inserted} new, "
            f"{result.duplicates} duplicates, {added} newly quarantined"
        )

    def _record_batch(
        self, batch_id: int, read: int, inserted: int, duplicates: int, quarantined: int
    ) -> None:
        self.conn.execute(
            "INSERT INTO ingest_batches VALUES (?, now()::TIMESTAMP, ?, ?, ?, ?)",
            [batch_id, read, inserted, duplicates, quarantined],
        )

    @staticmethod
    def _conflict_rows(
        entries: list[StreamEntry], conflicts: list[tuple[str, str]]
    ) -> list[QuarantineRow]:
        by_id = {e.entry_id: e for e in entries}
        return [
            quarantine_row(
                by_id[entry_id],
                CONFLICTING_DUPLICATE,
                f"event id {by_id[entry_id].fields.get('id')} of tenant "
                f"{by_id[entry_id].fields.get('tenant')} was already counted from entry "
                f"{counted_from} with other content; this copy is not counted",
            )
            for entry_id, counted_from in conflicts
        ]
