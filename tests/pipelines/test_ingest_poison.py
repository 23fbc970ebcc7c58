"""No entry can stall the stream, and an event id counts once per tenant whatever else changes.

Each test is a finding of the ground-truth run, replayed through `usage_events` as a user runs
it, against a real Redis and a real DuckDB file, with good events in the same batch.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis

import pipelines.lib.event_store as event_store
from pipelines.lib.event_store import InsertResult
from tenancy.usage.events import api_call, storage_delta
from tenancy.usage.stream import STREAM_KEY, UsageConsumer
from tests.pipelines.conftest import Pipeline

PRODUCTION: dict[
    str, int
] = {}  # the production defaults of `usage_events`: 35 days late, 5 minutes early


def recent(minutes: int = 60) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def good_events(p: Pipeline, n: int) -> list[str]:
    return p.recorder.record_many(
        api_call(p.tenants["pro"], "/v1/agents", "GET", 200, recent(i + 1)) for i in range(n)
    )


def counted(p: Pipeline) -> int:
    return int(p.sql("SELECT coalesce(sum(quantity), 0) FROM usage_events")[0][0])


def quarantined(p: Pipeline) -> dict[str, tuple[str, str]]:
    rows = p.sql("SELECT entry_id, code, reason FROM usage_quarantine")
    return {e: (c, r) for e, c, r in rows}


def pending(p: Pipeline) -> int:
    return int(p.redis.xpending(STREAM_KEY, "usage-pipeline")["pending"])


def valid_fields(p: Pipeline, **change: str) -> dict[str, str]:
    fields = api_call(p.tenants["free"], "/v1/x", "GET", 200, recent()).to_fields()
    return fields | change


def test_poison_entries_are_quarantined_and_the_batch_around_them_counted(
    pipeline: Pipeline,
) -> None:
    good_events(pipeline, 5)

    def add(fields: dict[bytes, bytes], code: str) -> tuple[str, str]:
        return pipeline.redis.xadd(STREAM_KEY, fields).decode(), code  # type: ignore[arg-type]

    def valid(**change: bytes) -> dict[bytes, bytes]:
        fields = {k.encode(): v.encode() for k, v in valid_fields(pipeline).items()}
        return fields | {k.encode(): v for k, v in change.items()}

    poison = dict(
        [
            add(valid(endpoint=b"/v1/\xff"), "invalid_encoding"),
            add({b"\xff\xfe": b"\x00\x9f"}, "invalid_encoding"),
            add(valid(qty=b"9" * 30), "invalid_field"),
            add(valid(qty="²".encode()), "invalid_field"),
            add(valid(qty="١٢".encode()), "invalid_field"),
            add(valid(status="²00".encode()), "invalid_field"),
            add(valid(v=b"2"), "unsupported_version"),
            add(valid(note=b"x" * 5000), "oversized"),
            add({b"v": b"1"}, "invalid_field"),
        ]
    )
    good_events(pipeline, 5)
    result = pipeline.materialize(["usage_events"], ingest=PRODUCTION)
    assert result.success
    assert counted(pipeline) == 10, "the good events on both sides of the poison are counted"
    assert len(poison) == 9
    found = quarantined(pipeline)
    assert {e: found[e][0] for e in poison} == poison
    assert "qty is '999999999999999999999999999999'; expected an integer >= 1" in str(found)
    assert pending(pipeline) == 0, "every entry is settled: counted or quarantined"
    # The stream is not stalled: the next run counts what comes next.
    good_events(pipeline, 3)
    pipeline.materialize(["usage_events"], ingest=PRODUCTION)
    assert counted(pipeline) == 13


def test_undecodable_entry_keeps_its_raw_bytes(pipeline: Pipeline) -> None:
    raw = {b"v": b"1", b"qty": b"\xc3\x28", b"\xfe": b"\xff"}
    entry_id = pipeline.redis.xadd(STREAM_KEY, raw).decode()  # type: ignore[arg-type]
    pipeline.materialize(["usage_events"])
    (fields, raw_b64, code, reason) = pipeline.sql(
        "SELECT fields, raw_base64, code, reason FROM usage_quarantine WHERE entry_id = ?",
        [entry_id],
    )[0]
    assert code == "invalid_encoding" and "not valid UTF-8" in reason
    kept = {base64.b64decode(k): base64.b64decode(v) for k, v in json.loads(raw_b64).items()}
    assert kept == raw, "the exact bytes can be recovered from the quarantine"
    assert json.loads(fields)["v"] == "1", "and the readable part is shown as text"


def test_consumer_refuses_a_decoding_client(redis_server: object) -> None:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="decode_responses=False"):
        UsageConsumer(client, "worker")


def test_same_event_id_with_another_timestamp_counts_once(pipeline: Pipeline) -> None:
    event = api_call(pipeline.tenants["pro"], "/v1/agents", "POST", 201, recent(30))
    pipeline.recorder.record(event)
    pipeline.materialize(["usage_events"], ingest=PRODUCTION)
    retry = dict(event.to_fields(), ts=recent(5).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    retry_entry = pipeline.redis.xadd(STREAM_KEY, retry).decode()  # type: ignore[arg-type]
    identical_entry = pipeline.recorder.record(event)
    pipeline.materialize(["usage_events"], ingest=PRODUCTION)
    assert counted(pipeline) == 1
    found = quarantined(pipeline)
    assert found[retry_entry][0] == "conflicting_duplicate"
    assert str(event.event_id) in found[retry_entry][1]
    assert identical_entry not in found, "an identical copy is skipped, not quarantined"
    assert pipeline.sql("SELECT sum(duplicates) FROM ingest_batches") == [(1,)]


def test_changed_copies_inside_one_batch_count_once(pipeline: Pipeline) -> None:
    event = storage_delta(pipeline.tenants["enterprise"], 100, recent(10))
    first = pipeline.recorder.record(event)
    bigger = pipeline.redis.xadd(STREAM_KEY, dict(event.to_fields(), qty="999")).decode()  # type: ignore[arg-type]
    pipeline.materialize(["usage_events"], ingest=PRODUCTION)
    assert pipeline.sql("SELECT quantity, entry_id FROM usage_events") == [(100, first)]
    assert quarantined(pipeline)[bigger][0] == "conflicting_duplicate"


def test_event_ids_are_scoped_to_their_tenant(pipeline: Pipeline) -> None:
    shared = uuid.uuid4()
    for plan in ("free", "pro"):
        fields = api_call(pipeline.tenants[plan], "/v1/x", "GET", 200, recent()).to_fields()
        pipeline.redis.xadd(STREAM_KEY, dict(fields, id=str(shared)))  # type: ignore[arg-type]
    pipeline.materialize(["usage_events"], ingest=PRODUCTION)
    assert pipeline.sql("SELECT count(DISTINCT tenant_id) FROM usage_events") == [(2,)], (
        "one tenant's event id never shadows another tenant's event"
    )


@pytest.mark.parametrize(
    "when",
    [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(3000, 1, 1, tzinfo=UTC),
        datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC),  # before the first partition
    ],
)
def test_absurd_timestamps_are_quarantined_out_of_window(
    pipeline: Pipeline, when: datetime
) -> None:
    fields = api_call(pipeline.tenants["free"], "/v1/x", "GET", 200, when).to_fields()
    entry = pipeline.redis.xadd(STREAM_KEY, fields).decode()  # type: ignore[arg-type]
    good_events(pipeline, 2)
    pipeline.materialize(["usage_events"])  # even with the replay tests' wide window
    code, reason = quarantined(pipeline)[entry]
    assert code == "out_of_window" and fields["ts"] in reason
    assert counted(pipeline) == 2


def test_lateness_window_edges(pipeline: Pipeline) -> None:
    free = pipeline.tenants["free"]
    now = datetime.now(UTC)
    inside = [now - timedelta(days=34), now + timedelta(seconds=60)]
    outside = [now - timedelta(days=36), now + timedelta(minutes=10)]
    ids = {
        pipeline.recorder.record(api_call(free, "/v1/x", "GET", 200, t)): t in inside
        for t in inside + outside
    }
    pipeline.materialize(["usage_events"], ingest=PRODUCTION)
    found = quarantined(pipeline)
    assert {e: e not in found for e in ids} == ids
    assert all(found[e][0] == "out_of_window" for e, ok in ids.items() if not ok)
    pipeline.materialize(["usage_events"], ingest={"max_lateness_days": 40})
    pipeline.recorder.record(api_call(free, "/v1/x", "GET", 200, now - timedelta(days=38)))
    pipeline.materialize(["usage_events"], ingest={"max_lateness_days": 40})
    assert counted(pipeline) == 3, "the window is configurable per run"


def test_a_failed_write_then_a_retry_counts_once(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim is taken in the transaction that stores the event: a write that fails after
    claiming must leave no claim behind, or the retry would count the event zero times."""
    good_events(pipeline, 4)
    real = event_store.insert_quarantine

    def disk_full(*args: object, **kwargs: object) -> int:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(event_store, "insert_quarantine", disk_full)
        failed = pipeline.materialize(["usage_events"], raise_on_error=False, ingest=PRODUCTION)
    assert not failed.success
    assert counted(pipeline) == 0 and pending(pipeline) == 4
    assert event_store.insert_quarantine is real
    pipeline.materialize(["usage_events"], ingest=PRODUCTION)
    assert counted(pipeline) == 4 and pending(pipeline) == 0


def test_an_entry_that_keeps_failing_is_isolated_then_quarantined(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch failing for a reason nobody foresaw: the entries around the culprit are counted
    at once, the culprit stays pending with its error, and after the delivery limit it moves
    to the quarantine and the check says so."""
    good_events(pipeline, 6)
    culprit = pipeline.recorder.record(
        api_call(pipeline.tenants["free"], "/v1/boom", "GET", 200, recent())
    )
    good_events(pipeline, 6)
    real = event_store.insert_events

    def explode_on_culprit(conn, events, batch_id, **kwargs):  # type: ignore[no-untyped-def]
        if culprit in events.column("entry_id").to_pylist():
            raise RuntimeError("a bug nobody foresaw")
        result: InsertResult = real(conn, events, batch_id, **kwargs)
        return result

    monkeypatch.setattr(event_store, "insert_events", explode_on_culprit)
    config = {"max_deliveries": 3}
    first = pipeline.materialize(["usage_events"], ingest=config)
    assert first.success and counted(pipeline) == 12, "the rest of the batch is counted"
    stuck = next(
        c for c in first.get_asset_check_evaluations() if c.check_name.endswith("stuck_entries")
    )
    assert not stuck.passed and culprit in str(stuck.metadata["failed_entries"].value)
    assert pending(pipeline) == 1
    pipeline.materialize(["usage_events"], ingest=config)  # second delivery, still failing
    assert pending(pipeline) == 1 and culprit not in quarantined(pipeline)
    third = pipeline.materialize(["usage_events"], ingest=config)  # third delivery
    assert pending(pipeline) == 1
    last = pipeline.materialize(["usage_events"], ingest=config)  # delivered 3 times: limit
    code, reason = quarantined(pipeline)[culprit]
    assert code == "delivery_limit" and "a bug nobody foresaw" in reason
    assert pending(pipeline) == 0 and counted(pipeline) == 12
    check = next(
        c for c in last.get_asset_check_evaluations() if c.check_name.endswith("stuck_entries")
    )
    assert not check.passed and check.metadata["quarantined_at_delivery_limit"].value == 1
    assert third.success


def test_ingest_trims_only_what_every_group_acknowledged(pipeline: Pipeline) -> None:
    good_events(pipeline, 10)
    other = UsageConsumer(pipeline.redis, "audit-reader", group="audit-export")
    other.ensure_group()
    held = other.read(count=4)
    other.ack([e.entry_id for e in held[:2]])  # the other group still holds 2, and 6 unread
    pipeline.materialize(["usage_events"], ingest=PRODUCTION)
    assert counted(pipeline) == 10
    assert pipeline.redis.xlen(STREAM_KEY) == 8, "entries another group has not acked stay"
    other.ack([e.entry_id for e in held[2:]])
    assert len(other.read(count=100)) == 6
    pipeline.materialize(["usage_events"], ingest=PRODUCTION)
    assert pipeline.redis.xlen(STREAM_KEY) == 6, "trimmed up to the other group's pending"
    other.ack([e[0].decode() for e in pipeline.redis.xrange(STREAM_KEY)])
    pipeline.materialize(["usage_events"], ingest=PRODUCTION)
    assert pipeline.redis.xlen(STREAM_KEY) == 0
