"""A write that keeps losing to concurrent writers (a lakehouse `WriteConflict` past its
retries) is the pipeline's trouble, not the entries': the run fails, and the entries stay
pending with no error recorded against them and nothing quarantined, for the next run."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import duckdb
import pytest
import redis

from pipelines.lib import event_store, warehouse, writes
from pipelines.lib.drain import Drain
from tenancy.usage.events import api_call
from tenancy.usage.stream import STREAM_KEY, UsageConsumer
from tests.pipelines.test_ingest_property import WINDOW

TENANT = uuid.UUID(int=0x1111)


def test_a_lasting_write_conflict_fails_the_run_and_blames_no_entry(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis_client.delete(STREAM_KEY)
    conn = duckdb.connect(":memory:")
    warehouse.configure(conn, memory_limit="512MB")
    for _ in range(6):
        event = api_call(TENANT, "/v1/agents", "GET", 200, datetime.now(UTC))
        redis_client.xadd(STREAM_KEY, event.to_fields())  # type: ignore[arg-type]

    def conflicting(*_: object, **__: object) -> None:
        raise writes.WriteConflict("Transaction conflict: another writer committed first")

    monkeypatch.setattr(event_store, "insert_events", conflicting)
    monkeypatch.setattr(writes, "CONFLICT_PAUSE_SECONDS", 0.0005)  # the retries, quickly
    consumer = UsageConsumer(redis_client, "conflicts")
    drain = Drain(conn, consumer, lambda: {TENANT}, WINDOW, log=lambda _: None, read_batch=4)
    with pytest.raises(writes.WriteConflict):
        drain.run()
    assert drain.stats.failed == [] and drain.stats.quarantined == 0
    assert redis_client.xpending(STREAM_KEY, consumer.group)["pending"] == 4, "first batch pending"
    assert conn.execute("SELECT count(*) FROM ingest_errors").fetchall() == [(0,)]
