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
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from tenancy.errors import InvalidInputError
from tenancy.validation import parse_tenant_id, parse_uuid

SCHEMA_VERSION = 1
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_ENDPOINT = re.compile(r"/[\w{}./-]{0,200}")
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class Metric(StrEnum):
    API_CALL = "api_call"
    AGENT_EXECUTION = "agent_execution"
    STORAGE_BYTES_ADDED = "storage_bytes_added"
    STORAGE_BYTES_REMOVED = "storage_bytes_removed"


class InvalidEventError(InvalidInputError):
    """An event that does not match the schema; the pipeline quarantines it with this reason."""


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
        or event.quantity < 1
    ):
        raise bad("quantity", event.quantity, "an integer >= 1")
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


def parse_fields(fields: dict[str, str]) -> UsageEvent:
    """An event back from stream fields; raises InvalidEventError naming the first bad field."""
    try:
        version = fields.get("v")
        if version != str(SCHEMA_VERSION):
            raise InvalidEventError("v", version, f"schema version {SCHEMA_VERSION}")
        for name in ("id", "tenant", "metric", "qty", "ts"):
            if name not in fields:
                raise InvalidEventError(name, None, "a value (the field is missing)")
        try:
            metric = Metric(fields["metric"])
        except ValueError:
            raise InvalidEventError(
                "metric", fields["metric"], f"one of: {', '.join(m.value for m in Metric)}"
            ) from None
        try:
            occurred = datetime.strptime(fields["ts"], _TS_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise InvalidEventError(
                "ts", fields["ts"], "UTC ISO 8601 such as 2026-02-29T23:59:59.999000Z"
            ) from None
        qty_text = fields["qty"]
        if not qty_text.isdigit():
            raise InvalidEventError("qty", qty_text, "an integer >= 1")
        status = fields.get("status")
        if status is not None and not status.isdigit():
            raise InvalidEventError("status", status, "an HTTP status code 100-599")
        return UsageEvent(
            tenant_id=parse_uuid(fields["tenant"], "tenant"),
            metric=metric,
            quantity=int(qty_text),
            occurred_at=occurred,
            event_id=parse_uuid(fields["id"], "id"),
            endpoint=fields.get("endpoint"),
            method=fields.get("method"),
            status=int(status) if status is not None else None,
            agent_id=parse_uuid(fields["agent"], "agent") if "agent" in fields else None,
        )
    except InvalidEventError:
        raise
    except InvalidInputError as exc:
        raise InvalidEventError(exc.field, exc.value, exc.expected) from None
