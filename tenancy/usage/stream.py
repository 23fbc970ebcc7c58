"""The usage stream in Redis: appended by the recorder, drained by a consumer group.

Nothing is trimmed by XADD (no MAXLEN): `trim_acknowledged` removes only entries that every
consumer group has had delivered and acknowledged, so an unacknowledged event survives until
a consumer acknowledges it, whatever crashes in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from tenancy.redis_keys import platform_key

STREAM_KEY = platform_key("usage", "events")
PIPELINE_GROUP = "usage-pipeline"


@dataclass(frozen=True)
class StreamEntry:
    entry_id: str
    fields: dict[str, str]


def _decode(raw: object) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _entries(raw: list[tuple[object, dict[object, object] | None]]) -> list[StreamEntry]:
    out = []
    for entry_id, fields in raw:
        if fields is None:  # deleted while pending; nothing left to process
            continue
        out.append(
            StreamEntry(_decode(entry_id), {_decode(k): _decode(v) for k, v in fields.items()})
        )
    return out


class UsageConsumer:
    """One consumer of a group: its own pending entries first, then new ones."""

    def __init__(
        self,
        client: redis.Redis,
        consumer: str,
        group: str = PIPELINE_GROUP,
        stream: str = STREAM_KEY,
    ) -> None:
        self.client = client
        self.consumer = consumer
        self.group = group
        self.stream = stream
        self._pending_done = False

    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, count: int = 1000, block_ms: int | None = None) -> list[StreamEntry]:
        """Entries delivered to this consumer before but never acknowledged (e.g. before a
        crash) come first; once those are drained, new entries."""
        raw: Any
        if not self._pending_done:
            raw = self.client.xreadgroup(self.group, self.consumer, {self.stream: "0"}, count=count)
            entries = _entries(raw[0][1]) if raw else []
            if entries:
                return entries
            self._pending_done = True
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
