"""A durable local spool for the usage events Redis could not take (`SpoolingRecorder` writes
to it and replays it).

The spool directory holds:

- `usage-<UTC time>-<host>-<pid>-<random>.jsonl`: segments, one JSON object per line, the
  event's stream fields exactly as `UsageEvent.to_fields()` gives them. The event id travels
  with them, so an event replayed twice is still counted once by the warehouse. Each process
  appends to a segment of its own, created as `<name>.opening`, locked, then renamed, so a
  replay never sees a segment its writer has not locked yet (a crash between the create and
  the rename leaves an empty `.opening` file, which holds no event and is never read).
- `quarantine.jsonl`: the lines a replay could not use (a torn last line, left by a crash in
  the middle of a write; text that is not an event), each with the segment, the line number,
  the reason and the text.

Locks are `fcntl.flock` on the segment file (per open file; the kernel releases them when the
process dies), so the directory must be on a local file system, not a network one. A writer holds an exclusive lock on its segment for as long as it writes to it.
A replay takes a segment only with a non-blocking exclusive lock, so it skips the segments
live writers hold and the ones another replay is working on; it rotates its own process's
segment (closes it) first, so that one is taken too. A segment is deleted only after every one
of its events was accepted by Redis: a crash before the delete replays it again, and the
copies are claimed once by the warehouse.

Durability: each line is one `write` to the kernel (no buffer in the process), so a crash of
the process loses nothing written. `fsync_seconds` bounds what a crash of the machine loses:
by default the segment is fsynced at most once a second (on an append, or by the replay
thread's tick), like Redis's own `appendfsync everysec` for the events it takes; 0 fsyncs every
line. Measured (`bench/usage_spool.py`): 6-8 µs per append against 0.17-2.4 ms with an fsync
per line, which would also cap a process at 400-6,000 spooled events a second.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tenancy.errors import ConfigurationError, InvalidInputError
from tenancy.usage.events import UsageEvent, parse_fields

SPOOL_VARIABLE = "TENANCY_USAGE_SPOOL_DIR"
SEGMENT_GLOB = "usage-*.jsonl"
QUARANTINE_FILE = "quarantine.jsonl"
#: A writer starts a new segment past this size, so a replay never has to take a huge one.
MAX_SEGMENT_BYTES = 64 * 2**20
#: How much of a quarantined line is kept (a garbage line may be long).
QUARANTINE_TEXT_CHARS = 2000


@dataclass
class ReplayResult:
    replayed: int = 0  # events re-recorded
    quarantined: int = 0  # lines moved to the quarantine file
    segments: int = 0  # segments replayed and deleted


@dataclass(frozen=True)
class BadLine:
    number: int
    reason: str
    text: str


class Spool:
    """The spool in `directory` (created if missing), for one process: `append` writes to
    this process's segment, `replay` hands every segment no one holds to a recorder."""

    def __init__(self, directory: Path, fsync_seconds: float = 1.0) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"{SPOOL_VARIABLE}: cannot create the usage spool directory {directory} "
                f"({exc.strerror}); expected a writable directory"
            ) from exc
        _probe(directory)
        self.directory = directory
        self.fsync_seconds = fsync_seconds
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._owner = 0  # the pid that opened `_fd`: a forked child starts its own segment
        self._size = 0
        self._unsynced = False
        self._synced_at = 0.0
        # A forked child (a server's worker processes) shares the parent's segment file and
        # its lock, and may copy `_lock` held by a thread that does not exist in it: it drops
        # both and starts a segment of its own on its first append.
        spool = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _forget_parent(spool()))

    def append(self, fields: Mapping[str, str]) -> None:
        """Write one event's fields as a line of this process's segment."""
        line = (json.dumps(dict(fields), separators=(",", ":")) + "\n").encode()
        with self._lock:
            fd = self._segment()
            try:
                _write_all(fd, line)
                self._size += len(line)
                self._unsynced = True
                if time.monotonic() - self._synced_at >= self.fsync_seconds:
                    self._sync()
            except OSError:
                # A partial line may be left: it stays the last line of this segment (a torn
                # line, quarantined on replay) instead of running into the next event's line.
                self._close()
                raise
            if self._size >= MAX_SEGMENT_BYTES:
                self._close()

    def sync(self) -> None:
        """fsync this process's segment if it has lines not yet on disk."""
        with self._lock:
            if self._fd is not None and self._unsynced and self._owner == os.getpid():
                self._sync()

    def rotate(self) -> None:
        """Close this process's segment (fsynced, lock released); the next append starts a
        new one."""
        with self._lock:
            self._close()

    close = rotate

    @property
    def writing(self) -> bool:
        """Whether this process has a segment open with lines in it."""
        return self._fd is not None and self._size > 0

    def segments(self) -> list[Path]:
        return sorted(self.directory.glob(SEGMENT_GLOB))

    def pending(self) -> bool:
        """Whether any event waits in the spool (this process's or another's)."""
        return self.writing or any(True for _ in self.directory.glob(SEGMENT_GLOB))

    def replay(
        self,
        record_many: Callable[[list[UsageEvent]], object],
        batch_size: int = 500,
        result: ReplayResult | None = None,
    ) -> ReplayResult:
        """Re-record every segment no live writer holds, oldest first, `batch_size` events per
        `record_many` call; delete each once all its events were accepted. Segments of other
        processes go first; this process's own is rotated and replayed only if they all went
        through, so an unreachable Redis does not leave one small segment per attempt.

        Raises what `record_many` raises; that segment stays whole (the events it already took
        are taken again on the next replay, and claimed once by the warehouse). `result`, when
        given, holds what was done even then."""
        result = ReplayResult() if result is None else result
        self._replay_free(record_many, batch_size, result)
        if self.writing:
            self.rotate()
            self._replay_free(record_many, batch_size, result)
        return result

    def _replay_free(
        self,
        record_many: Callable[[list[UsageEvent]], object],
        batch_size: int,
        result: ReplayResult,
    ) -> None:
        for path in self.segments():
            fd = _take(path)
            if fd is None:
                continue  # a live writer's, or another replay's
            try:
                # The bad lines first, in a pass of their own: a quarantine write that fails
                # (a full disk) then stops the replay before any event is sent, instead of
                # after, which would send the segment again on every attempt.
                bad: list[BadLine] = []
                for _ in _events(fd, bad):
                    pass
                self._quarantine(path.name, bad)
                result.quarantined += len(bad)
                batch: list[UsageEvent] = []
                for event in _events(fd, []):
                    batch.append(event)
                    if len(batch) >= batch_size:
                        record_many(batch)
                        result.replayed += len(batch)
                        batch = []
                if batch:
                    record_many(batch)
                    result.replayed += len(batch)
                path.unlink()
                result.segments += 1
            finally:
                os.close(fd)

    def _quarantine(self, segment: str, bad: list[BadLine]) -> None:
        if not bad:
            return
        text = "".join(
            json.dumps({"segment": segment, "line": b.number, "reason": b.reason, "text": b.text})
            + "\n"
            for b in bad
        ).encode()
        fd = os.open(
            self.directory / QUARANTINE_FILE,
            os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
            0o600,
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # replays of other processes append too
            _write_all(fd, text)
            os.fsync(fd)  # on disk before the segment that held the lines is deleted
        finally:
            os.close(fd)

    def _segment(self) -> int:
        if self._fd is not None and self._owner == os.getpid():
            return self._fd
        if self._fd is not None:  # inherited across a fork: the parent's segment, not ours
            os.close(self._fd)
            self._fd = None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"usage-{stamp}-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        opening = self.directory / f"{name}.opening"
        segment = self.directory / f"{name}.jsonl"
        fd = os.open(
            opening, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(opening, segment)
            _fsync_directory(self.directory)  # the segment's name survives a machine crash
        except OSError:
            # Nothing is written yet: leave no locked, empty segment (and no open descriptor)
            # behind for each append that fails here.
            os.close(fd)
            for path in (opening, segment):
                path.unlink(missing_ok=True)
            raise
        self._fd, self._owner, self._size = fd, os.getpid(), 0
        self._synced_at = time.monotonic()
        return fd

    def _sync(self) -> None:
        assert self._fd is not None
        os.fsync(self._fd)
        self._unsynced = False
        self._synced_at = time.monotonic()

    def _close(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if self._unsynced and self._owner == os.getpid():
                os.fsync(fd)
        finally:
            os.close(fd)  # releases the lock: the segment is now free to replay
        self._size, self._unsynced = 0, False


def _probe(directory: Path) -> None:
    """Fail at start, naming the setting, when the spool cannot be written: found out during
    an outage, the events it was for would be lost."""
    probe = directory / f".probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _write_all(fd, b"probe\n")
        finally:
            os.close(fd)
            probe.unlink(missing_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"{SPOOL_VARIABLE}: the usage spool directory {directory} cannot be written "
            f"({exc.strerror}); expected a writable directory on a local file system"
        ) from exc


def _forget_parent(spool: Spool | None) -> None:
    if spool is None:
        return
    if spool._fd is not None:
        os.close(spool._fd)  # the parent's descriptor; the parent keeps its lock
    spool._fd, spool._owner, spool._size, spool._unsynced = None, 0, 0, False
    spool._lock = threading.Lock()


def _take(path: Path) -> int | None:
    """`path` opened and exclusively locked, or None when someone holds it or it is gone."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None  # replayed and deleted since it was listed
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(fd).st_nlink == 0:
            raise BlockingIOError  # deleted by the replay whose lock we waited behind
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _events(fd: int, bad: list[BadLine]) -> Iterator[UsageEvent]:
    """The events of a segment, in order; lines that are not events go to `bad`."""
    os.lseek(fd, 0, os.SEEK_SET)
    with open(fd, "rb", closefd=False) as lines:
        for number, raw in enumerate(lines, 1):
            if not raw.endswith(b"\n"):
                reason = "torn: the last line has no newline (the writer died while writing it)"
                bad.append(BadLine(number, reason, _text(raw)))
                continue
            try:
                fields = _fields(raw)
            except ValueError as exc:
                bad.append(BadLine(number, f"unparsable: {exc}", _text(raw)))
                continue
            try:
                yield parse_fields(fields)
            except InvalidInputError as exc:
                bad.append(BadLine(number, f"not a usage event: {exc}", _text(raw)))


def _fields(raw: bytes) -> dict[str, str]:
    value = json.loads(raw)
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError("expected a JSON object of string fields")
    return value


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip("\n")[:QUARANTINE_TEXT_CHARS]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
