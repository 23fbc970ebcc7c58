"""The versioned usage event schema: construction, round trip, and clear rejections."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tenancy.errors import InvalidInputError
from tenancy.usage.events import (
    InvalidEventError,
    Metric,
    UsageEvent,
    agent_execution,
    api_call,
    parse_fields,
    storage_delta,
)

TENANT = uuid.UUID("0b7e4c1a-5f0e-4d5e-9a53-6f1c2d3e4a01")
WHEN = datetime(2028, 2, 29, 23, 59, 59, 999000, tzinfo=UTC)


def test_round_trip_through_stream_fields() -> None:
    events = [
        api_call(TENANT, "/v1/agents/{id}", "POST", 201, WHEN),
        agent_execution(TENANT, uuid.uuid4(), WHEN),
        storage_delta(TENANT, 4096, WHEN),
        storage_delta(TENANT, -1024, WHEN),
    ]
    for event in events:
        assert parse_fields(event.to_fields()) == event
    assert events[0].to_fields()["ts"] == "2028-02-29T23:59:59.999000Z"
    assert [e.metric for e in events[2:]] == [
        Metric.STORAGE_BYTES_ADDED,
        Metric.STORAGE_BYTES_REMOVED,
    ]
    assert events[3].quantity == 1024


def test_non_utc_times_are_stored_as_utc() -> None:
    local = datetime(2028, 3, 1, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    assert (
        api_call(TENANT, "/v1/x", "GET", 200, local).to_fields()["ts"]
        == "2028-02-29T23:00:00.000000Z"
    )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: UsageEvent(TENANT, "cpu_seconds", 1, WHEN),
            "metric is 'cpu_seconds'; expected one of: api_call",
        ),  # type: ignore[arg-type]
        (
            lambda: UsageEvent(TENANT, Metric.AGENT_EXECUTION, -3, WHEN),
            "quantity is -3; expected an integer >= 1",
        ),
        (
            lambda: UsageEvent(TENANT, Metric.AGENT_EXECUTION, 0, WHEN),
            "quantity is 0; expected an integer >= 1",
        ),
        (
            lambda: UsageEvent(TENANT, Metric.AGENT_EXECUTION, 1, datetime(2026, 1, 1)),
            "occurred_at is .*; expected a timezone-aware datetime",
        ),
        (
            lambda: api_call("not-a-tenant", "/v1/x", "GET", 200),
            "tenant id is 'not-a-tenant'; expected a UUID",
        ),
        (
            lambda: api_call(TENANT, "v1/no-slash", "GET", 200),
            "endpoint is 'v1/no-slash'; expected a route template",
        ),
        (lambda: api_call(TENANT, "/v1/x", "FETCH", 200), "method is 'FETCH'; expected one of"),
        (
            lambda: api_call(TENANT, "/v1/x", "GET", 999),
            "status is 999; expected an HTTP status code",
        ),
        (lambda: storage_delta(TENANT, 0), "delta_bytes is 0; expected a non-zero integer"),
    ],
)
def test_invalid_events_are_refused_at_the_call_site(build: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"v": "2"}, "v is '2'; expected schema version 1"),
        ({"qty": "-1"}, "qty is '-1'; expected an integer >= 1"),
        ({"ts": "yesterday"}, "ts is 'yesterday'; expected UTC ISO 8601"),
        ({"tenant": "' OR 1=1"}, 'tenant is "\' OR 1=1"; expected a UUID'),
        ({"metric": "bogus"}, "metric is 'bogus'"),
        ({"id": None}, "id is None; expected a value"),
    ],
)
def test_malformed_fields_name_the_field(change: dict[str, str | None], message: str) -> None:
    fields = api_call(TENANT, "/v1/x", "GET", 200, WHEN).to_fields()
    for key, value in change.items():
        if value is None:
            del fields[key]
        else:
            fields[key] = value
    with pytest.raises(InvalidEventError, match=message):
        parse_fields(fields)
