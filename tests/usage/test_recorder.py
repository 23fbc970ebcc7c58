"""Recorder and stream against a real Redis: order, completeness, crash before ACK, trimming."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import redis

from tenancy.metrics import TenancyMetrics
from tenancy.usage.events import api_call, parse_fields
from tenancy.usage.recorder import UsageRecorder
from tenancy.usage.stream import STREAM_KEY, UsageConsumer, trim_acknowledged

TENANT = uuid.UUID("0b7e4c1a-5f0e-4d5e-9a53-6f1c2d3e4a01")
START = datetime(2026, 11, 1, tzinfo=UTC)


def events(n: int) -> list:  # type: ignore[type-arg]
    return [
        api_call(TENANT, f"/v1/items/{i % 7}", "GET", 200, START + timedelta(seconds=i))
        for i in range(n)
    ]


def test_batch_arrives_complete_and_in_order(redis_client: redis.Redis) -> None:
    recorder = UsageRecorder(redis_client, batch_size=64)
    sent = events(1000)
    ids = recorder.record_many(sent)
    assert len(ids) == 1000 and ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    consumer = UsageConsumer(redis_client, "worker-1")
    consumer.ensure_group()
    received = []
    while batch := consumer.read(count=300):
        received.extend(batch)
        consumer.ack([e.entry_id for e in batch])
    assert [parse_fields(e.fields) for e in received] == sent


def test_single_record_is_one_round_trip(redis_client: redis.Redis) -> None:
    before = redis_client.info("stats")["total_commands_processed"]
    UsageRecorder(redis_client).record(events(1)[0])
    after = redis_client.info("stats")["total_commands_processed"]
    assert after - before == 2  # the XADD, plus the INFO that reads the counter


def test_consumer_that_crashes_before_ack_sees_its_events_again(redis_client: redis.Redis) -> None:
    recorder = UsageRecorder(redis_client)
    recorder.record_many(events(10))
    first = UsageConsumer(redis_client, "worker-1")
    first.ensure_group()
    delivered = first.read(count=10)
    assert len(delivered) == 10
    # crash: no ack. The same consumer, restarted, is handed its pending entries first ...
    restarted = UsageConsumer(redis_client, "worker-1")
    again = restarted.read(count=100)
    assert [e.entry_id for e in again] == [e.entry_id for e in delivered]
    # ... and another consumer can take them over once they have been idle long enough.
    rescuer = UsageConsumer(redis_client, "worker-2")
    assert [e.entry_id for e in rescuer.claim_abandoned(min_idle_ms=0)] == [
        e.entry_id for e in delivered
    ]
    rescuer.ack([e.entry_id for e in delivered[:4]])
    assert redis_client.xpending(STREAM_KEY, "usage-pipeline")["pending"] == 6


def test_trim_never_removes_unacknowledged_events(redis_client: redis.Redis) -> None:
    recorder = UsageRecorder(redis_client)
    recorder.record_many(events(10))
    assert trim_acknowledged(redis_client) == 0, "no group yet: nothing is acknowledged"
    consumer = UsageConsumer(redis_client, "worker-1")
    consumer.ensure_group()
    batch = consumer.read(count=6)
    consumer.ack([e.entry_id for e in batch[:3]] + [batch[4].entry_id])  # entry 3 stays pending
    assert trim_acknowledged(redis_client) == 3
    remaining = [e[0].decode() for e in redis_client.xrange(STREAM_KEY)]
    assert remaining[0] == batch[3].entry_id and len(remaining) == 7, (
        "pending and undelivered entries stay"
    )
    consumer.ack([batch[3].entry_id, batch[5].entry_id])
    assert trim_acknowledged(redis_client) == 3
    assert redis_client.xlen(STREAM_KEY) == 4, "undelivered entries stay"


def test_recorder_counts_api_requests_by_status_class(redis_client: redis.Redis) -> None:
    metrics = TenancyMetrics()
    recorder = UsageRecorder(redis_client, metrics=metrics)
    recorder.record(api_call(TENANT, "/v1/x", "GET", 200))
    recorder.record_many(
        [api_call(TENANT, "/v1/x", "GET", 503), api_call(TENANT, "/v1/y", "POST", 201)]
    )
    value = metrics.registry.get_sample_value
    assert value("tenant_api_requests_total", {"tenant": str(TENANT), "status_class": "2xx"}) == 2
    assert value("tenant_api_requests_total", {"tenant": str(TENANT), "status_class": "5xx"}) == 1
