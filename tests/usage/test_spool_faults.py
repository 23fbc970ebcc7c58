"""The spool under faults of its own: a directory it cannot write (refused at start), a
segment that fails to open (nothing left behind), a full disk under the quarantine (no event
sent), a forked worker (the parent's segment stays its own), a Redis replica that refuses
writes (spooled), and a spool that fails as well (the event counted as lost, never raised)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import uuid
from pathlib import Path

import pytest
import redis

from tenancy.circuit import CircuitBreaker, guard_client
from tenancy.devstack.ports import free_port
from tenancy.devstack.redis import RedisServer
from tenancy.errors import ConfigurationError
from tenancy.metrics import TenancyMetrics
from tenancy.usage.events import UsageEvent, api_call
from tenancy.usage.recorder import UsageRecorder
from tenancy.usage.spool import QUARANTINE_FILE, SPOOL_VARIABLE, Spool
from tenancy.usage.spooling_recorder import SpoolingRecorder
from tenancy.usage.stream import STREAM_KEY

TENANT = uuid.UUID(int=0x5200)


def calls(n: int) -> list[UsageEvent]:
    return [api_call(TENANT, "/v1/agents/{id}", "GET", 200) for _ in range(n)]


def test_a_directory_that_cannot_be_written_is_refused_at_start() -> None:
    with pytest.raises(ConfigurationError, match=SPOOL_VARIABLE):
        Spool(Path("/proc/self"))  # exists, and takes no new files


def test_a_segment_that_fails_to_open_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path / "spool")
    descriptors = len(os.listdir("/proc/self/fd"))

    def full(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "rename", full)
    for event in calls(20):
        with pytest.raises(OSError):
            spool.append(event.to_fields())
    monkeypatch.undo()
    assert len(os.listdir("/proc/self/fd")) == descriptors, "no descriptor (or lock) kept"
    assert list(spool.directory.iterdir()) == [] and not spool.pending()


def test_a_quarantine_that_cannot_be_written_sends_no_event(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    spool = Spool(tmp_path / "spool")
    for event in calls(3):
        spool.append(event.to_fields())
    spool.append({"not": "an event"})
    spool.rotate()
    (spool.directory / QUARANTINE_FILE).mkdir()  # the quarantine file cannot be opened
    sent: list[int] = []
    with pytest.raises(OSError):
        spool.replay(lambda batch: sent.append(len(batch)))
    assert sent == [] and len(spool.segments()) == 1, "nothing sent, the segment kept whole"
    (spool.directory / QUARANTINE_FILE).rmdir()
    recorder = UsageRecorder(redis_client)
    redis_client.delete(STREAM_KEY)
    assert spool.replay(recorder.record_many).replayed == 3
    assert redis_client.xlen(STREAM_KEY) == 3 and spool.segments() == []


def test_a_forked_worker_does_not_hold_the_parents_segment(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    spool = Spool(tmp_path / "spool")
    for event in calls(5):
        spool.append(event.to_fields())
    ready_r, ready_w = os.pipe()
    release_r, release_w = os.pipe()
    child = os.fork()
    if child == 0:  # a server's worker process: alive, not spooling yet
        os.close(ready_r)
        os.write(ready_w, b"x")
        os.read(release_r, 1)
        os._exit(0)
    try:
        os.close(ready_w)
        os.read(ready_r, 1)
        redis_client.delete(STREAM_KEY)
        replayed = spool.replay(UsageRecorder(redis_client).record_many).replayed
        assert replayed == 5, "the parent takes its own segment while the child lives"
    finally:
        os.write(release_w, b"x")
        os.waitpid(child, 0)


def test_a_replica_refusing_writes_gets_the_event_spooled(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        client = guard_client(server.url)
        client.execute_command("REPLICAOF", "127.0.0.1", str(free_port()))  # read-only now
        metrics = TenancyMetrics()
        recorder = SpoolingRecorder(UsageRecorder(client), Spool(tmp_path / "spool"), metrics)
        assert recorder.record(calls(1)[0]) is None
        assert metrics.usage_spooled._value.get() == 1
        client.execute_command("REPLICAOF", "NO", "ONE")
        result = recorder.replay()
        assert result is not None and result.replayed == 1 and client.xlen(STREAM_KEY) == 1
        client.close()
    finally:
        server.destroy()


def test_an_event_neither_redis_nor_the_spool_takes_is_counted_lost_not_raised(
    tmp_path: Path,
) -> None:
    dead = guard_client(f"redis://127.0.0.1:{free_port()}/0")
    metrics = TenancyMetrics()
    spool = Spool(tmp_path / "spool")
    recorder = SpoolingRecorder(UsageRecorder(dead), spool, metrics)
    shutil.rmtree(spool.directory)  # the spool's disk went away under it
    assert recorder.record(calls(1)[0]) is None
    assert metrics.usage_lost._value.get() == 1 and metrics.usage_spooled._value.get() == 0


def test_while_redis_is_known_down_events_are_spooled_without_a_connect_each(
    tmp_path: Path,
) -> None:
    """A Redis that accepts and hangs up at once: the first event finds it down, and while
    the breaker is open the next ones go to the spool without touching the network."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []

    def hang_up() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    port = listener.getsockname()[1]
    metrics = TenancyMetrics()
    recorder = SpoolingRecorder(
        UsageRecorder(guard_client(f"redis://127.0.0.1:{port}/0")),
        Spool(tmp_path / "spool"),
        metrics,
        breaker=CircuitBreaker(cooldown=60),
    )
    for event in calls(30):
        assert recorder.record(event) is None
    listener.close()
    assert metrics.usage_spooled._value.get() == 30
    assert len(accepted) == 1, "one connect found it down; the breaker spared the other 29"
