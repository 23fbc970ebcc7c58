"""`SpoolingRecorder`: the request path's usage recorder, with a local spool for the moments
Redis cannot take an event (a single server down, a Redis Cluster primary in a failover
election)."""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref

import redis

from tenancy.circuit import UNREACHABLE, CircuitBreaker, CircuitOpenError, node_of
from tenancy.metrics import TenancyMetrics
from tenancy.usage.events import UsageEvent
from tenancy.usage.recorder import UsageRecorder
from tenancy.usage.spool import ReplayResult, Spool

log = logging.getLogger(__name__)

#: What makes `record` spool an event: Redis unreachable, or a reply that refuses the write
#: for now (checked by `_refused_for_now`; any other reply is a bug and raises).
NOT_TAKEN: tuple[type[Exception], ...] = (*UNREACHABLE, redis.exceptions.ResponseError)
#: The longest wait between two replay attempts while Redis stays unreachable.
MAX_BACKOFF_SECONDS = 30.0


class SpoolingRecorder:
    """`record` tries Redis through `recorder`; when Redis is unreachable (the errors of
    `tenancy.circuit.UNREACHABLE`) it appends the event to `spool` instead, counts it in
    `tenancy_usage_events_spooled_total`, and returns None: it never raises for an
    unreachable Redis. Other errors (a bad command, a full disk under the spool) still raise.

    `start` runs a daemon thread that, every `replay_seconds`, fsyncs the spool and, while it
    holds events, replays them through `recorder.record_many`; its first round replays at once
    the segments of processes that died with events in them. An attempt that finds Redis still
    unreachable leaves everything for a later one, with a doubling wait up to
    `MAX_BACKOFF_SECONDS`: on a Redis Cluster with one primary down, each attempt may re-record
    the first batch's events for the live shards (copies the warehouse claims once), so
    retrying every second through a long outage would fill their streams with copies. The
    first `record` that reaches Redis again cuts the wait short."""

    def __init__(
        self,
        recorder: UsageRecorder,
        spool: Spool,
        metrics: TenancyMetrics | None = None,
        replay_seconds: float = 1.0,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.recorder = recorder
        self.spool = spool
        self.metrics = metrics
        #: Shared with the request path's guards: while the node that owns an event's stream
        #: is known to be down, the event goes to the spool at once, without a connect timeout.
        self.breaker = breaker or CircuitBreaker()
        self.replay_seconds = replay_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False  # the last replay attempt found Redis unreachable
        self._answered = threading.Event()  # a `record` reached Redis since then
        # A forked child has no replay thread (threads do not survive a fork): its `start`
        # starts one.
        recorder_ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _forget_thread(recorder_ref()))

    def record(self, event: UsageEvent) -> str | None:
        """The event's stream entry id, or None when it went to the spool (or, the spool's
        disk failing too, was lost: logged with its id and counted, never raised, since the
        response has gone out by then)."""
        node = node_of(self.recorder.client, self.recorder.stream_of(event))
        try:
            self.breaker.before(node)  # open: CircuitOpenError, spooled below
            entry_id = self.recorder.record(event)
        except NOT_TAKEN as exc:
            if isinstance(exc, redis.exceptions.ResponseError) and not _refused_for_now(exc):
                raise  # a bad command: a bug, not an outage
            if not isinstance(exc, CircuitOpenError):
                self.breaker.failed(node)
            try:
                self.spool.append(event.to_fields())
            except OSError as failed:
                if self.metrics is not None:
                    self.metrics.usage_lost.inc()
                log.error(
                    "usage event %s of tenant %s lost: Redis did not take it (%r) and the "
                    "spool %s could not either (%r)",
                    event.event_id,
                    event.tenant_id,
                    exc,
                    self.spool.directory,
                    failed,
                )
                return None
            if self.metrics is not None:
                self.metrics.usage_spooled.inc()
            log.debug("Redis did not take usage event %s (%r): spooled", event.event_id, exc)
            return None
        self.breaker.succeeded(node)
        if self._failing:
            self._answered.set()
        return entry_id

    def replay(self) -> ReplayResult | None:
        """Replay the spool now; None when Redis is still unreachable."""
        result = ReplayResult()
        try:
            self.spool.replay(self.recorder.record_many, self.recorder.batch_size, result)
        except UNREACHABLE as exc:
            log.debug("Redis still unreachable (%r); the spool waits", exc)
            return None
        finally:  # what went through before a failure is counted too
            if self.metrics is not None:
                self.metrics.usage_replayed.inc(result.replayed)
                self.metrics.usage_spool_quarantined.inc(result.quarantined)
        if result.quarantined:
            log.warning(
                "usage spool %s: %d lines quarantined to %s",
                self.spool.directory,
                result.quarantined,
                self.spool.directory / "quarantine.jsonl",
            )
        return result

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="usage-spool-replay", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close this process's segment (its events wait on disk for the
        next start, of this process or any other on the same spool)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.spool.close()

    def _run(self) -> None:
        backoff, next_attempt = 0.0, 0.0
        while True:
            try:
                self.spool.sync()
                if self._answered.is_set():
                    self._answered.clear()
                    next_attempt = 0.0
                if self.spool.pending() and time.monotonic() >= next_attempt:
                    replayed = False
                    try:
                        replayed = self.replay() is not None
                    finally:  # any failure waits longer, an unexpected one as well
                        self._failing = not replayed
                        backoff = (
                            0.0
                            if replayed
                            else min(2 * backoff or self.replay_seconds, MAX_BACKOFF_SECONDS)
                        )
                        next_attempt = time.monotonic() + backoff
            except Exception:  # the thread must outlive any one round; the next one retries
                log.exception("usage spool %s: replay round failed", self.spool.directory)
            if self._stop.wait(self.replay_seconds):
                return


def _refused_for_now(exc: redis.exceptions.ResponseError) -> bool:
    """A reply that refuses the write for now, not for good: a replica that was a primary
    (READONLY, during a failover) or a full memory (OOM)."""
    return isinstance(exc, redis.exceptions.ReadOnlyError) or str(exc).startswith("OOM")


def _forget_thread(recorder: SpoolingRecorder | None) -> None:
    if recorder is not None:
        recorder._thread = None
        recorder._stop = threading.Event()
        recorder._answered = threading.Event()
