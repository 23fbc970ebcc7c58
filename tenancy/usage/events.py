"""The usage event schema: the one definition the recorder writes and the pipeline reads.

Version 1, as Redis stream fields (all strings):

| field      | meaning                                                                  |
|------------|--------------------------------------------------------------------------|
| `v`        | schema version, "1"                                                      |
| `id`       | event id, a UUID; the pipeline deduplicates on it                        |
| `tenant`   | tenant id, a canonical UUID                                              |
| `metric`   | `api_call`, `agent_execution`, `storage_bytes_added`, `storage_bytes_removed` |
| `qty`      | integer >= 1 (bytes for storage metrics)                                 |
| `ts`       | when it happened, UTC, ISO 8601 with microseconds and `Z`                |
| `endpoint` | api_call only: route template, e.g. `/v1/agents/{id}`                    |
| `method`   | api_call only: HTTP method                                               |
| `status`   | api_call only: HTTP status code                                          |
| `agent`    | agent_execution only: agent id                                           |

Storage is recorded as two non-negative metrics rather than a signed delta, so every
quantity is >= 1 and a negative number is always an error.

Bounds, so that no single entry can overflow a sum or bloat the warehouse: `qty` is ASCII
digits only, at most `MAX_COUNT` (1,000,000) for counted metrics and `MAX_BYTES` (2**40,
1 TiB) for storage metrics. At 2**40 per event a tenant would need more than 8 million
events of a metric in one month to pass the int64 range of a monthly sum. An entry has at
most `MAX_FIELDS` fields, names of at most `MAX_NAME_BYTES` and values of at most
`MAX_VALUE_BYTES`; unknown fields within those bounds are ignored (a newer recorder may add
some), anything larger is quarantined as `oversized`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import NamedTuple

from tenancy.errors import InvalidInputError
from tenancy.validation import UUID_TEXT, parse_tenant_id, parse_uuid

SCHEMA_VERSION = 1
_VERSION_TEXT = str(SCHEMA_VERSION)
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z", re.ASCII)
_DIGITS = re.compile(r"[0-9]{1,20}", re.ASCII)
_ENDPOINT = re.compile(r"/[\w{}./-]{0,200}")
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

#: Largest quantity of one event of a counted metric (API calls, agent executions).
MAX_COUNT = 1_000_000
#: Largest quantity of one storage event, in bytes (1 TiB).
MAX_BYTES = 2**40
MAX_FIELDS = 32
MAX_NAME_BYTES = 64
MAX_VALUE_BYTES = 1024


class Metric(StrEnum):
    API_CALL = "api_call"
    AGENT_EXECUTION = "agent_execution"
    STORAGE_BYTES_ADDED = "storage_bytes_added"
    STORAGE_BYTES_REMOVED = "storage_bytes_removed"


class InvalidEventError(InvalidInputError):
    """An event that does not match the schema; the pipeline quarantines it with this reason.

    `code` classifies it for the quarantine: `invalid_field`, `unsupported_version`, `oversized`.
    """

    def __init__(self, field: str, value: object, expected: str, code: str = "invalid_field"):
        super().__init__(field, value, expected)
        self.code = code


_STORAGE_METRICS = frozenset({Metric.STORAGE_BYTES_ADDED, Metric.STORAGE_BYTES_REMOVED})


def max_quantity(metric: Metric) -> int:
    """The largest quantity one event of `metric` may carry (see the module docstring)."""
    return MAX_BYTES if metric in _STORAGE_METRICS else MAX_COUNT


@dataclass(frozen=True)
class UsageEvent:
    tenant_id: uuid.UUID
    metric: Metric
    quantity: int
    occurred_at: datetime
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)
    endpoint: str | None = None
    method: str | None = None
    status: int | None = None
    agent_id: uuid.UUID | None = None

    def __post_init__(self) -> None:
        validate(self)

    def to_fields(self) -> dict[str, str]:
        fields = {
            "v": str(SCHEMA_VERSION),
            "id": str(self.event_id),
            "tenant": str(self.tenant_id),
            "metric": self.metric.value,
            "qty": str(self.quantity),
            "ts": self.occurred_at.astimezone(UTC).strftime(_TS_FORMAT),
        }
        if self.metric is Metric.API_CALL:
            fields |= {
                "endpoint": str(self.endpoint),
                "method": str(self.method),
                "status": str(self.status),
            }
        if self.agent_id is not None:
            fields["agent"] = str(self.agent_id)
        return fields


def validate(event: UsageEvent) -> None:
    def bad(name: str, value: object, expected: str) -> InvalidEventError:
        return InvalidEventError(name, value, expected)

    if not isinstance(event.tenant_id, uuid.UUID):
        raise bad("tenant_id", event.tenant_id, "a UUID")
    if not isinstance(event.metric, Metric):
        raise bad("metric", event.metric, f"one of: {', '.join(m.value for m in Metric)}")
    if (
        isinstance(event.quantity, bool)
        or not isinstance(event.quantity, int)
        or not 1 <= event.quantity <= max_quantity(event.metric)
    ):
        raise bad(
            "quantity", event.quantity, f"an integer >= 1 and <= {max_quantity(event.metric)}"
        )
    if not isinstance(event.occurred_at, datetime) or event.occurred_at.utcoffset() is None:
        raise bad("occurred_at", event.occurred_at, "a timezone-aware datetime (UTC)")
    if event.metric is Metric.API_CALL:
        if not isinstance(event.endpoint, str) or not _ENDPOINT.fullmatch(event.endpoint):
            raise bad("endpoint", event.endpoint, "a route template such as /v1/agents/{id}")
        if event.method not in _METHODS:
            raise bad("method", event.method, f"one of: {', '.join(sorted(_METHODS))}")
        if (
            isinstance(event.status, bool)
            or not isinstance(event.status, int)
            or not 100 <= event.status <= 599
        ):
            raise bad("status", event.status, "an HTTP status code 100-599")


def api_call(
    tenant_id: uuid.UUID | str,
    endpoint: str,
    method: str,
    status: int,
    occurred_at: datetime | None = None,
) -> UsageEvent:
    return UsageEvent(
        parse_tenant_id(tenant_id),
        Metric.API_CALL,
        1,
        occurred_at or datetime.now(UTC),
        endpoint=endpoint,
        method=method,
        status=status,
    )


def agent_execution(
    tenant_id: uuid.UUID | str, agent_id: uuid.UUID | str, occurred_at: datetime | None = None
) -> UsageEvent:
    return UsageEvent(
        parse_tenant_id(tenant_id),
        Metric.AGENT_EXECUTION,
        1,
        occurred_at or datetime.now(UTC),
        agent_id=parse_uuid(agent_id, "agent id"),
    )


def storage_delta(
    tenant_id: uuid.UUID | str, delta_bytes: int, occurred_at: datetime | None = None
) -> UsageEvent:
    """Bytes added (delta > 0) or removed (delta < 0); a zero delta is not an event."""
    if isinstance(delta_bytes, bool) or not isinstance(delta_bytes, int) or delta_bytes == 0:
        raise InvalidEventError("delta_bytes", delta_bytes, "a non-zero integer")
    metric = Metric.STORAGE_BYTES_ADDED if delta_bytes > 0 else Metric.STORAGE_BYTES_REMOVED
    return UsageEvent(
        parse_tenant_id(tenant_id), metric, abs(delta_bytes), occurred_at or datetime.now(UTC)
    )


class EventRow(NamedTuple):
    """A validated event in the warehouse's terms: canonical (lowercase) UUID text, a UTC
    time, and the API fields only for API calls."""

    event_id: str
    tenant_id: str
    metric: Metric
    quantity: int
    occurred_at: datetime
    endpoint: str | None
    method: str | None
    status: int | None
    agent_id: str | None


_METRICS = {m.value: m for m in Metric}
_REQUIRED = ("id", "tenant", "metric", "qty", "ts")
_UUID_EXPECTED = "a UUID such as 3f2b8c1e-0d4a-4b6f-9a51-2c7e8d9f0a1b"


def check_sizes(fields: dict[str, str]) -> None:
    """Refuse entries too large to be events, before any field is looked at."""
    if len(fields) > MAX_FIELDS:
        raise InvalidEventError(
            "fields", f"{len(fields)} fields", f"at most {MAX_FIELDS} fields", "oversized"
        )
    for name, value in fields.items():
        # A character is at most 4 bytes in UTF-8: only long text needs encoding to measure.
        if len(name) * 4 > MAX_NAME_BYTES and len(name.encode()) > MAX_NAME_BYTES:
            raise InvalidEventError(
                "field name",
                f"{name[:40]}... ({len(name.encode())} bytes)",
                f"at most {MAX_NAME_BYTES} bytes",
                "oversized",
            )
        if len(value) * 4 > MAX_VALUE_BYTES and len(value.encode()) > MAX_VALUE_BYTES:
            raise InvalidEventError(
                name,
                f"{len(value.encode())} bytes",
                f"at most {MAX_VALUE_BYTES} bytes",
                "oversized",
            )


def check_raw_sizes(raw: dict[bytes, bytes]) -> None:
    """`check_sizes` on the bytes as read from the stream (cheaper: no encoding needed)."""
    oversized = len(raw) > MAX_FIELDS
    for name, value in raw.items():
        if len(value) > MAX_VALUE_BYTES or len(name) > MAX_NAME_BYTES:
            oversized = True
    if oversized:
        check_sizes(
            {k.decode(errors="replace"): v.decode(errors="replace") for k, v in raw.items()}
        )
        raise InvalidEventError("fields", "an entry", "fields within the size bounds", "oversized")


def parse_row(fields: dict[str, str], sizes_checked: bool = False) -> EventRow:
    """Validate stream fields into an `EventRow`; raises InvalidEventError naming the first bad
    field, and nothing else, whatever the fields hold: every size is bounded first, and numbers
    are ASCII digits of bounded length before `int()` sees them.

    This is the ingest hot path (tens of thousands of entries a second), so it checks the text
    directly instead of building UUID objects and a `UsageEvent`; `parse_fields` builds one
    from its result, so both accept exactly the same entries. A caller that has measured the
    raw bytes with `check_raw_sizes` passes `sizes_checked=True`.
    """
    if not sizes_checked:
        check_sizes(fields)
    version = fields.get("v")
    if version != _VERSION_TEXT:
        raise InvalidEventError(
            "v", version, f"schema version {SCHEMA_VERSION}", "unsupported_version"
        )
    for name in _REQUIRED:
        if name not in fields:
            raise InvalidEventError(name, None, "a value (the field is missing)")
    metric = _METRICS.get(fields["metric"])
    if metric is None:
        raise InvalidEventError(
            "metric", fields["metric"], f"one of: {', '.join(m.value for m in Metric)}"
        )
    occurred = _parse_ts(fields["ts"])
    qty_text = fields["qty"]
    top = MAX_BYTES if metric in _STORAGE_METRICS else MAX_COUNT
    quantity = int(qty_text) if _DIGITS.fullmatch(qty_text) else 0
    if not 1 <= quantity <= top:
        raise InvalidEventError("qty", qty_text, f"an integer >= 1 and <= {top} in ASCII digits")
    endpoint = method = status = None
    if metric is Metric.API_CALL:
        endpoint, method, status_text = (
            fields.get("endpoint"),
            fields.get("method"),
            fields.get("status"),
        )
        if endpoint is None or not _ENDPOINT.fullmatch(endpoint):
            raise InvalidEventError(
                "endpoint", endpoint, "a route template such as /v1/agents/{id}"
            )
        if method not in _METHODS:
            raise InvalidEventError("method", method, f"one of: {', '.join(sorted(_METHODS))}")
        status = int(status_text) if status_text and _DIGITS.fullmatch(status_text) else 0
        if not 100 <= status <= 599:
            raise InvalidEventError("status", status_text, "an HTTP status code 100-599")
    event_id, tenant_id, agent_id = fields["id"], fields["tenant"], fields.get("agent")
    for name, value in (("id", event_id), ("tenant", tenant_id), ("agent", agent_id)):
        if (value is not None or name != "agent") and not (value and UUID_TEXT.fullmatch(value)):
            raise InvalidEventError(name, value, _UUID_EXPECTED)
    # Positional, and the UUIDs lowercased, as str(uuid.UUID(text)) would give them.
    return EventRow(
        event_id.lower(),
        tenant_id.lower(),
        metric,
        quantity,
        occurred,
        endpoint,
        method,
        status,
        agent_id.lower() if agent_id is not None else None,
    )


def parse_fields(fields: dict[str, str]) -> UsageEvent:
    """An event back from stream fields; raises InvalidEventError naming the first bad field."""
    row = parse_row(fields)
    return UsageEvent(
        tenant_id=uuid.UUID(row.tenant_id),
        metric=row.metric,
        quantity=row.quantity,
        occurred_at=row.occurred_at,
        event_id=uuid.UUID(row.event_id),
        endpoint=row.endpoint,
        method=row.method,
        status=row.status,
        agent_id=uuid.UUID(row.agent_id) if row.agent_id is not None else None,
    )


def _parse_ts(text: str) -> datetime:
    if _TS.fullmatch(text):
        try:
            return datetime.fromisoformat(text)  # the shape is checked: UTC, with `Z`
        except ValueError:
            pass  # shaped right, but not a date (month 13, February 30)
    raise InvalidEventError("ts", text, "UTC ISO 8601 such as 2026-02-29T23:59:59.999000Z")
