"""Turn stream entries into rows: valid events for the warehouse, the rest for quarantine.

Nothing here raises on the content of an entry: every entry ends up either as an event row or
as a quarantine row with a reason code, a readable reason and its fields exactly as received.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from pipelines.lib.warehouse import EVENT_COLUMNS
from tenancy.usage.events import EventRow, InvalidEventError, check_raw_sizes, parse_row
from tenancy.usage.stream import StreamEntry

#: Quarantine reason codes (the `code` column of `usage_quarantine`).
INVALID_ENCODING = "invalid_encoding"
OUT_OF_WINDOW = "out_of_window"
UNKNOWN_TENANT = "unknown_tenant"
CONFLICTING_DUPLICATE = "conflicting_duplicate"
DELIVERY_LIMIT = "delivery_limit"


@dataclass(frozen=True)
class IngestWindow:
    """Event times the warehouse accepts: `[earliest, latest)`, UTC.

    `earliest` is the lateness bound (and never before the first partition), `latest` allows
    for clock skew on the recorder's side. Events outside have no partition that would count
    them (or would rewrite a closed period), so they are quarantined as `out_of_window`.
    """

    earliest: datetime
    latest: datetime

    @classmethod
    def around(
        cls, now: datetime, max_lateness: timedelta, max_skew: timedelta, floor: datetime
    ) -> IngestWindow:
        return cls(max(now - max_lateness, floor), now + max_skew)

    def days(self) -> tuple[date, date]:
        """The first and last UTC day an accepted event can fall on: the claims an accepted
        event can collide with (`event_store.insert_events`'s `claim_days`)."""
        last = self.latest - timedelta(microseconds=1)
        return self.earliest.astimezone(UTC).date(), last.astimezone(UTC).date()


@dataclass(frozen=True)
class QuarantineRow:
    entry_id: str
    fields: str  # JSON object of the fields as text (undecodable bytes shown as \\x escapes)
    raw_base64: str | None  # JSON object of base64 name -> base64 value, when not UTF-8
    code: str
    reason: str


@dataclass(frozen=True)
class SplitBatch:
    events: pa.Table
    quarantine: list[QuarantineRow]
    unknown_tenants: int  # how many of the quarantined name a tenant the registry lacks


def quarantine_row(entry: StreamEntry, code: str, reason: str) -> QuarantineRow:
    """A quarantine row that keeps the entry's bytes: as text when they are UTF-8, and
    additionally base64-encoded when they are not."""
    try:
        text = entry.fields
        raw = None
    except UnicodeDecodeError:
        text = {
            k.decode(errors="backslashreplace"): v.decode(errors="backslashreplace")
            for k, v in entry.raw.items()
        }
        raw = json.dumps(
            {
                base64.b64encode(k).decode(): base64.b64encode(v).decode()
                for k, v in entry.raw.items()
            },
            sort_keys=True,
        )
    return QuarantineRow(entry.entry_id, json.dumps(text, sort_keys=True), raw, code, reason)


def split_entries(
    entries: Iterable[StreamEntry], known_tenants: set[uuid.UUID], window: IngestWindow
) -> SplitBatch:
    """Validate each entry (encoding, schema, bounds, event time, tenant); nothing is dropped."""
    known = {str(t) for t in known_tenants}
    earliest, latest = window.earliest, window.latest
    rows: list[EventRow] = []
    entry_ids: list[str] = []
    copies: dict[tuple[str, str], int] = {}
    copy_numbers: list[int] = []
    quarantine = []
    unknown = 0
    for entry in entries:
        try:
            fields = entry.fields
        except UnicodeDecodeError as exc:
            quarantine.append(
                quarantine_row(
                    entry,
                    INVALID_ENCODING,
                    f"fields are not valid UTF-8 ({exc.reason} at byte {exc.start})",
                )
            )
            continue
        try:
            check_raw_sizes(entry.raw)
            event = parse_row(fields, sizes_checked=True)
        except InvalidEventError as exc:
            quarantine.append(quarantine_row(entry, exc.code, str(exc)))
            continue
        if not earliest <= event.occurred_at < latest:
            quarantine.append(
                quarantine_row(
                    entry,
                    OUT_OF_WINDOW,
                    f"ts is {fields['ts']!r}; expected a time in the accepted window "
                    f"[{earliest:%Y-%m-%dT%H:%M:%SZ}, {latest:%Y-%m-%dT%H:%M:%SZ}) "
                    "(out_of_window)",
                )
            )
            continue
        if event.tenant_id not in known:
            unknown += 1
            quarantine.append(
                quarantine_row(
                    entry, UNKNOWN_TENANT, f"tenant {event.tenant_id} is not in the registry"
                )
            )
            continue
        rows.append(event)
        entry_ids.append(entry.entry_id)
        key = (event.tenant_id, event.event_id)
        copies[key] = copy = copies.get(key, 0) + 1
        copy_numbers.append(copy)
    events = pa.table(
        {
            "event_id": [r.event_id for r in rows],
            "tenant_id": [r.tenant_id for r in rows],
            "metric": [r.metric.value for r in rows],
            "quantity": [r.quantity for r in rows],
            "occurred_at": [r.occurred_at.replace(tzinfo=None) for r in rows],
            "endpoint": [r.endpoint for r in rows],
            "method": [r.method for r in rows],
            "status": [r.status for r in rows],
            "agent_id": [r.agent_id for r in rows],
            "entry_id": entry_ids,
            "copy": copy_numbers,
        },
        schema=EVENT_COLUMNS,
    )
    return SplitBatch(events, quarantine, unknown)
