"""Record usage on the request path: one XADD per event, or pipelined batches, each event
to its tenant's shard of the stream (`tenancy.usage.shards`)."""

from __future__ import annotations

from collections.abc import Iterable

import redis

from tenancy.circuit import UNREACHABLE
from tenancy.metrics import TenancyMetrics
from tenancy.redis_connect import is_cluster
from tenancy.usage.events import Metric, UsageEvent
from tenancy.usage.shards import shard_of, stream_key


class UsageRecorder:
    """Appends events to the usage stream, each to the shard of its tenant (`shards`: N, the
    same on every recorder and on the pipeline). A single `record` is one round trip;
    `record_many` pipelines them (no MULTI: events are independent and each XADD is atomic;
    a cluster client sends each node its part of the batch, in order).

    What an acknowledged event (`record` returned its id) survives: a restart of its node as
    far as the node's `appendfsync` keeps it; a failover once the primary's replica has it.
    Replication is asynchronous and no WAIT is sent, so an event acknowledged in the moment
    before its primary dies, not yet copied to the replica, can be lost. A `record` that
    raises (the node is down, the slot map is stale) stored nothing the caller can count on:
    retry it; the warehouse claims each event id once, so a retry never counts twice."""

    def __init__(
        self,
        client: redis.Redis,
        metrics: TenancyMetrics | None = None,
        batch_size: int = 1000,
        shards: int = 1,
    ) -> None:
        self.client = client
        self.metrics = metrics
        self.batch_size = batch_size
        self.shards = shards
        self._streams = [stream_key(i, shards) for i in range(shards)]

    def stream_of(self, event: UsageEvent) -> str:
        """The stream key `event` goes to."""
        if self.shards == 1:
            return self._streams[0]
        return self._streams[shard_of(event.tenant_id, self.shards)]

    def record(self, event: UsageEvent) -> str:
        """Append one event; returns its stream entry id. On a cluster, a failure is retried
        once: redis-py refreshes its slot map on the failure, so the first call after a
        failover reaches the promoted replica instead of failing (a copy the failed call
        may have left is claimed once by the warehouse)."""
        stream, fields = self.stream_of(event), event.to_fields()
        try:
            entry_id = self.client.xadd(stream, fields)  # type: ignore[arg-type]
        except UNREACHABLE:
            if not is_cluster(self.client):
                raise
            entry_id = self.client.xadd(stream, fields)  # type: ignore[arg-type]
        self._count(event)
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def record_many(self, events: Iterable[UsageEvent]) -> list[str]:
        """Append events in order, `batch_size` per round trip; returns their entry ids."""
        ids: list[str] = []
        batch: list[UsageEvent] = []
        for event in events:
            batch.append(event)
            if len(batch) >= self.batch_size:
                ids.extend(self._flush(batch))
                batch = []
        if batch:
            ids.extend(self._flush(batch))
        return ids

    def _flush(self, batch: list[UsageEvent]) -> list[str]:
        pipe = self.client.pipeline(transaction=False)
        for event in batch:
            pipe.xadd(self.stream_of(event), event.to_fields())  # type: ignore[arg-type]
        raw = pipe.execute()
        for event in batch:
            self._count(event)
        return [r.decode() if isinstance(r, bytes) else str(r) for r in raw]

    def _count(self, event: UsageEvent) -> None:
        if self.metrics is not None and event.metric is Metric.API_CALL:
            self.metrics.api_request(event.tenant_id, event.status or 0)
