"""The usage spool on disk, replayed into a real Redis and counted by the real drain: a crash
before a segment's delete, torn and garbage lines, concurrent writer processes, and a replay
that must leave a live writer's segment alone."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import redis

from tenancy.circuit import guard_client
from tenancy.devstack.ports import free_port
from tenancy.usage.events import UsageEvent, api_call
from tenancy.usage.recorder import UsageRecorder
from tenancy.usage.spool import SEGMENT_GLOB, Spool
from tenancy.usage.stream import STREAM_KEY
from tests.usage.spool_support import Warehouse, Writer, quarantined, spooled_tenants

TENANTS = [uuid.UUID(int=0x5100 + n) for n in range(3)]


def calls(n: int) -> list[UsageEvent]:
    return [api_call(TENANTS[i % 3], "/v1/agents/{id}", "GET", 200) for i in range(n)]


def test_a_crash_between_replay_and_delete_is_counted_once(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    spool = Spool(tmp_path / "spool")
    sent = calls(30)
    for event in sent:
        spool.append(event.to_fields())
    spool.rotate()
    [segment] = spool.segments()
    content = segment.read_bytes()
    recorder = UsageRecorder(redis_client, batch_size=7)
    assert spool.replay(recorder.record_many).replayed == 30
    assert spool.segments() == [], "deleted once every event was accepted"
    # The crash: the process died after the events reached Redis, before the unlink.
    segment.write_bytes(content)
    assert spool.replay(recorder.record_many).replayed == 30
    assert redis_client.xlen(STREAM_KEY) == 60, "Redis holds both copies"

    lake = Warehouse()
    stats = lake.drain(redis_client, set(TENANTS))
    assert (stats.inserted, stats.duplicates) == (30, 30)
    assert lake.counted() == {t: sum(e.tenant_id == t for e in sent) for t in TENANTS}


def test_torn_and_garbage_lines_are_quarantined_and_the_rest_replays(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    spool = Spool(tmp_path / "spool")
    good = calls(4)
    for event in good[:2]:
        spool.append(event.to_fields())
    spool.rotate()
    [segment] = spool.segments()
    not_an_event = {**good[2].to_fields(), "qty": "-5"}
    with segment.open("a") as out:
        out.write("\x00\x00 not json at all\n")
        out.write(json.dumps(good[2].to_fields()) + "\n")
        out.write(json.dumps(not_an_event) + "\n")
        out.write(json.dumps(good[3].to_fields()) + "\n")
        out.write(json.dumps(calls(1)[0].to_fields())[:40])  # the crash, mid-line

    result = spool.replay(UsageRecorder(redis_client).record_many)
    assert (result.replayed, result.quarantined, result.segments) == (4, 3, 1)
    assert spool.segments() == []
    lake = Warehouse()
    assert lake.drain(redis_client, set(TENANTS)).inserted == 4
    assert sum(lake.counted().values()) == 4
    rows = quarantined(tmp_path / "spool")
    assert [(r["segment"], r["line"]) for r in rows] == [
        (segment.name, 3),
        (segment.name, 5),
        (segment.name, 7),
    ]
    assert str(rows[0]["reason"]).startswith("unparsable: ")
    assert str(rows[1]["reason"]).startswith("not a usage event: qty is '-5'; expected")
    assert rows[1]["text"] == json.dumps(not_an_event)
    assert str(rows[2]["reason"]).startswith("torn: ")


def test_two_writer_processes_keep_every_line_whole(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    directory = tmp_path / "spool"
    writers = [Writer(directory, tenant, 3000) for tenant in TENANTS[:2]]
    for writer in writers:
        writer.go()  # both append at once
    for writer in writers:
        writer.expect("written")
        writer.finish()

    segments = sorted(directory.glob(SEGMENT_GLOB))
    assert len(segments) == 2, "one segment per process"
    assert spooled_tenants(directory) == {TENANTS[0]: 3000, TENANTS[1]: 3000}
    for segment in segments:
        lines = segment.read_text().splitlines()
        assert len({json.loads(line)["tenant"] for line in lines}) == 1, segment.name

    assert Spool(directory).replay(UsageRecorder(redis_client).record_many).replayed == 6000
    lake = Warehouse()
    lake.drain(redis_client, set(TENANTS))
    assert lake.counted() == {TENANTS[0]: 3000, TENANTS[1]: 3000}


def test_a_replay_leaves_a_live_writers_segment_and_takes_a_dead_ones(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    directory = tmp_path / "spool"
    live, dead = Writer(directory, TENANTS[0], 5), Writer(directory, TENANTS[1], 8)
    for writer in (live, dead):
        writer.go()
        writer.expect("written")
    dead.kill()  # no close: the kernel releases its lock, its segment stays
    recorder = UsageRecorder(redis_client)
    replayer = Spool(directory)

    result = replayer.replay(recorder.record_many)
    assert (result.replayed, result.segments) == (8, 1), "only the dead writer's segment"
    assert spooled_tenants(directory) == {TENANTS[0]: 5}, "the live writer's segment is whole"

    live.finish()
    assert replayer.replay(recorder.record_many).replayed == 5
    lake = Warehouse()
    lake.drain(redis_client, set(TENANTS))
    assert lake.counted() == {TENANTS[0]: 5, TENANTS[1]: 8}


def test_a_segment_stays_whole_while_redis_refuses_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    for event in calls(5):
        spool.append(event.to_fields())
    down = guard_client(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    with pytest.raises(redis.ConnectionError):
        spool.replay(UsageRecorder(down).record_many)
    assert sum(spooled_tenants(tmp_path / "spool").values()) == 5
    assert len(spool.segments()) == 1 and not spool.writing, "rotated, kept for the next try"
