"""Turn stream entries into rows: valid events for the warehouse, the rest for quarantine."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from pipelines.lib.warehouse import EVENT_COLUMNS
from tenancy.usage.events import InvalidEventError, parse_fields
from tenancy.usage.stream import StreamEntry


@dataclass(frozen=True)
class SplitBatch:
    events: pa.Table
    quarantine: list[tuple[str, str, str]]  # (entry id, fields as JSON, reason)
    unknown_tenants: int  # how many of the quarantined name a tenant the registry lacks


def split_entries(entries: Iterable[StreamEntry], known_tenants: set[uuid.UUID]) -> SplitBatch:
    """Validate each entry against the event schema and the registry; nothing is dropped."""
    columns: dict[str, list[object]] = {name: [] for name in EVENT_COLUMNS.names}
    quarantine = []
    unknown = 0
    for entry in entries:
        try:
            event = parse_fields(entry.fields)
        except InvalidEventError as exc:
            quarantine.append((entry.entry_id, json.dumps(entry.fields, sort_keys=True), str(exc)))
            continue
        if event.tenant_id not in known_tenants:
            unknown += 1
            quarantine.append(
                (
                    entry.entry_id,
                    json.dumps(entry.fields, sort_keys=True),
                    f"tenant {event.tenant_id} is not in the registry",
                )
            )
            continue
        columns["event_id"].append(str(event.event_id))
        columns["tenant_id"].append(str(event.tenant_id))
        columns["metric"].append(event.metric.value)
        columns["quantity"].append(event.quantity)
        columns["occurred_at"].append(event.occurred_at.replace(tzinfo=None))
        columns["endpoint"].append(event.endpoint)
        columns["method"].append(event.method)
        columns["status"].append(event.status)
        columns["agent_id"].append(str(event.agent_id) if event.agent_id else None)
        columns["entry_id"].append(entry.entry_id)
    return SplitBatch(pa.table(columns, schema=EVENT_COLUMNS), quarantine, unknown)
