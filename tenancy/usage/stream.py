"""The usage stream in Redis: appended by the recorder, drained by a consumer group.

Nothing is trimmed by XADD (no MAXLEN): `trim_acknowledged` removes only entries that every
consumer group has had delivered and acknowledged, so an unacknowledged event survives until
a consumer acknowledges it, whatever crashes in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import redis

from tenancy.redis_keys import platform_key

STREAM_KEY = platform_key("usage", "events")
PIPELINE_GROUP = "usage-pipeline"


class StreamEntry(NamedTuple):
    """One stream entry exactly as Redis holds it: the fields stay bytes until a reader decodes
    them, so an entry that is not valid UTF-8 can still be quarantined with its raw bytes."""

    entry_id: str
    raw: dict[bytes, bytes]

    @property
    def fields(self) -> dict[str, str]:
        """The fields as text; raises `UnicodeDecodeError` for bytes that are not UTF-8."""
        return {k.decode(): v.decode() for k, v in self.raw.items()}


def _decode(raw: object) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _entries(raw: list[tuple[bytes, dict[bytes, bytes] | None]]) -> list[StreamEntry]:
    # The client does not decode (see UsageConsumer), so ids and fields arrive as bytes.
    return [
        StreamEntry(entry_id.decode(), fields) for entry_id, fields in raw if fields is not None
    ]  # fields is None for an entry deleted while pending: nothing left to process


class UsageConsumer:
    """One consumer of a group: its own pending entries first, then new ones.

    The client must not decode responses: a client with `decode_responses=True` would raise
    on the first entry that is not UTF-8, inside redis-py, before the entry can be quarantined.
    """

    def __init__(
        self,
        client: redis.Redis,
        consumer: str,
        group: str = PIPELINE_GROUP,
        stream: str = STREAM_KEY,
    ) -> None:
        if client.get_encoder().decode_responses:
            raise ValueError(
                "UsageConsumer needs a Redis client with decode_responses=False; "
                "entries are decoded (and quarantined when they are not UTF-8) by the reader"
            )
        self.client = client
        self.consumer = consumer
        self.group = group
        self.stream = stream
        self._pending_from: str | None = "0"  # None once this consumer's backlog is read

    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, count: int = 1000, block_ms: int | None = None) -> list[StreamEntry]:
        """Entries delivered to this consumer before but never acknowledged (e.g. before a
        crash) come first, each once per consumer object, even if it is still not
        acknowledged after; once those are drained, new entries."""
        raw: Any
        while self._pending_from is not None:
            raw = self.client.xreadgroup(
                self.group, self.consumer, {self.stream: self._pending_from}, count=count
            )
            history = raw[0][1] if raw else []
            if not history:
                self._pending_from = None
                break
            self._pending_from = _decode(history[-1][0])
            if entries := _entries(history):  # else only deleted entries: look further
                return entries
        raw = self.client.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=count, block=block_ms
        )
        return _entries(raw[0][1]) if raw else []

    def claim_abandoned(self, min_idle_ms: int, count: int = 1000) -> list[StreamEntry]:
        """Take over entries another consumer was given but has not acknowledged for a while."""
        _, claimed, *_ = self.client.xautoclaim(
            self.stream, self.group, self.consumer, min_idle_ms, start_id="0-0", count=count
        )
        return _entries(claimed)

    def ack(self, entry_ids: list[str]) -> int:
        return int(self.client.xack(self.stream, self.group, *entry_ids)) if entry_ids else 0

    def over_delivered(self, max_deliveries: int, count: int = 10_000) -> list[PendingEntry]:
        """Pending entries of the group (any consumer) delivered `max_deliveries` times or more
        without an acknowledgement: entries that keep failing, whatever the reason."""
        rows = self.client.xpending_range(self.stream, self.group, min="-", max="+", count=count)
        return [
            PendingEntry(
                _decode(r["message_id"]), _decode(r["consumer"]), int(r["times_delivered"])
            )
            for r in rows
            if int(r["times_delivered"]) >= max_deliveries
        ]

    def take(self, entry_ids: list[str]) -> list[StreamEntry]:
        """Claim the given pending entries for this consumer, whoever holds them, and return
        them (entries deleted from the stream meanwhile are left out)."""
        if not entry_ids:
            return []
        raw: Any = self.client.xclaim(self.stream, self.group, self.consumer, 0, list(entry_ids))
        return _entries(raw)


@dataclass(frozen=True)
class PendingEntry:
    entry_id: str
    consumer: str
    deliveries: int


def _successor(entry_id: str) -> str:
    ms, seq = entry_id.split("-")
    return f"{ms}-{int(seq) + 1}"


def _before(a: str, b: str) -> bool:
    a_ms, a_seq = map(int, a.split("-"))
    b_ms, b_seq = map(int, b.split("-"))
    return (a_ms, a_seq) < (b_ms, b_seq)


def trim_acknowledged(client: redis.Redis, stream: str = STREAM_KEY) -> int:
    """Drop entries every group has acknowledged; returns how many were removed.

    With no consumer group nothing is ever acknowledged, so nothing is trimmed.
    """
    try:
        groups = client.xinfo_groups(stream)
    except redis.ResponseError:
        return 0
    if not groups:
        return 0
    keep_from: str | None = None
    for group in groups:
        name = _decode(group["name"])
        candidate = _successor(_decode(group["last-delivered-id"]))
        if int(group["pending"]) > 0:
            summary = client.xpending(stream, name)
            candidate = _decode(summary["min"])
        if keep_from is None or _before(candidate, keep_from):
            keep_from = candidate
    assert keep_from is not None
    return int(client.xtrim(stream, minid=keep_from, approximate=False))
