"""Property: whatever the stream holds, ingestion never raises, counts exactly the valid
unique events and quarantines everything else, once each (real Redis, real DuckDB).

The expected outcome of every generated entry is decided by how it was generated (a model
walk over the entries), never by asking the code under test.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.lib import warehouse
from pipelines.lib.drain import Drain
from pipelines.lib.ingest import IngestWindow
from pipelines.partitions import PARTITIONS_START
from tenancy.usage.events import MAX_BYTES, MAX_COUNT, Metric
from tenancy.usage.stream import STREAM_KEY, UsageConsumer

KNOWN = [uuid.UUID(int=n) for n in (0x1111, 0x2222, 0x3333)]
NOW = datetime.now(UTC).replace(microsecond=0)
WINDOW = IngestWindow.around(
    NOW,
    timedelta(days=35),
    timedelta(minutes=5),
    datetime.fromisoformat(PARTITIONS_START).replace(tzinfo=UTC),
)
TS = "%Y-%m-%dT%H:%M:%S.%fZ"
REQUIRED = ("v", "id", "tenant", "metric", "qty", "ts")


@dataclass(frozen=True)
class Spec:
    fields: dict[bytes, bytes]
    valid: bool  # a well-formed, in-window event of a known tenant


def _event_fields(
    tenant: uuid.UUID, event_id: uuid.UUID, metric: Metric, qty: int, when: datetime
) -> dict[str, str]:
    fields = {
        "v": "1",
        "id": str(event_id),
        "tenant": str(tenant),
        "metric": metric.value,
        "qty": str(qty),
        "ts": when.strftime(TS),
    }
    if metric is Metric.API_CALL:
        fields |= {"endpoint": "/v1/items/{id}", "method": "GET", "status": "200"}
    return fields


def _encode(fields: dict[str, str]) -> dict[bytes, bytes]:
    return {k.encode(): v.encode() for k, v in fields.items()}


metrics = st.sampled_from(list(Metric))
in_window = st.integers(-(35 * 86400 - 3600), 240).map(lambda s: NOW + timedelta(seconds=s))


@st.composite
def valid_event(draw: st.DrawFn) -> dict[str, str]:
    metric = draw(metrics)
    top = MAX_BYTES if metric.value.startswith("storage") else MAX_COUNT
    fields = _event_fields(
        draw(st.sampled_from(KNOWN)),
        draw(st.uuids(version=4)),
        metric,
        draw(st.integers(1, top)),
        draw(in_window),
    )
    extra = draw(
        st.dictionaries(
            st.from_regex(r"x_[a-z]{1,8}", fullmatch=True), st.text(max_size=30), max_size=2
        )
    )
    return fields | extra  # unknown small fields are allowed and ignored


@st.composite
def invalid_entry(draw: st.DrawFn) -> dict[bytes, bytes]:
    base = draw(valid_event())
    kind = draw(
        st.sampled_from(
            ["bytes", "qty", "missing", "oversized", "tenant", "window", "ts", "version", "utf8"]
        )
    )
    if kind == "bytes":
        return draw(
            st.dictionaries(
                st.binary(min_size=1, max_size=12), st.binary(max_size=40), min_size=1, max_size=6
            )
        )
    if kind == "qty":
        base["qty"] = draw(
            st.sampled_from(
                ["0", "-3", "9" * 30, "²", "١٢", "1e3", " 5", "", "12345678901234567890123"]
            )
            | st.integers(MAX_BYTES + 1, 10**40).map(str)
        )
    elif kind == "missing":
        del base[draw(st.sampled_from(REQUIRED))]
    elif kind == "oversized":
        base["x_blob"] = "y" * draw(st.integers(1025, 4000))
    elif kind == "tenant":
        base["tenant"] = str(draw(st.uuids(version=4)))
    elif kind == "window":
        late = st.integers(35 * 86400 + 3600, 3650 * 86400).map(
            lambda s: NOW - timedelta(seconds=s)
        )
        early = st.integers(600, 10**9).map(lambda s: NOW + timedelta(seconds=s))
        base["ts"] = draw(late | early).strftime(TS)
    elif kind == "ts":
        base["ts"] = draw(
            st.sampled_from(
                [
                    "2026-02-30T00:00:00.000000Z",
                    "yesterday",
                    "2026-01-01T00:00:00Z",
                    "\uff12\uff10\uff12\uff16-01-01T00:00:00.000000Z",  # fullwidth digits
                ]
            )
        )
    elif kind == "version":
        base["v"] = draw(st.sampled_from(["2", "", "1.0", "¹"]))
    else:  # a field that is not UTF-8
        raw = _encode(base)
        raw[b"endpoint"] = b"/v1/\xc3\x28"
        return raw
    return _encode(base)


@st.composite
def streams(draw: st.DrawFn) -> list[Spec]:
    specs: list[Spec] = []
    for _ in range(draw(st.integers(1, 40))):
        valid_so_far = [s for s in specs if s.valid]
        choice = draw(st.sampled_from(["valid", "invalid", "copy", "changed"]))
        if choice in ("copy", "changed") and valid_so_far:
            fields = dict(draw(st.sampled_from(valid_so_far)).fields)
            if choice == "changed":
                field = draw(st.sampled_from([b"ts", b"qty"]))
                if field == b"ts":
                    fields[b"ts"] = draw(in_window).strftime(TS).encode()
                else:
                    fields[b"qty"] = str(draw(st.integers(1, MAX_COUNT))).encode()
            specs.append(Spec(fields, True))
        elif choice == "invalid":
            specs.append(Spec(draw(invalid_entry()), False))
        else:
            specs.append(Spec(_encode(draw(valid_event())), True))
    return specs


def _content(fields: dict[bytes, bytes]) -> tuple[bytes | None, ...]:
    return tuple(
        fields.get(k)
        for k in (b"metric", b"qty", b"ts", b"endpoint", b"method", b"status", b"agent")
    )


def expected(specs: list[Spec], entry_ids: list[str]) -> tuple[Counter[tuple[str, str]], set[str]]:
    """The model: sums per (tenant, metric) that must be counted, and entries to quarantine."""
    sums: Counter[tuple[str, str]] = Counter()
    claimed: dict[tuple[bytes, bytes], tuple[bytes | None, ...]] = {}
    quarantine = set()
    for spec, entry_id in zip(specs, entry_ids, strict=True):
        if not spec.valid:
            quarantine.add(entry_id)
            continue
        key = (spec.fields[b"tenant"], spec.fields[b"id"])
        if key not in claimed:
            claimed[key] = _content(spec.fields)
            sums[(spec.fields[b"tenant"].decode(), spec.fields[b"metric"].decode())] += int(
                spec.fields[b"qty"]
            )
        elif claimed[key] != _content(spec.fields):
            quarantine.add(entry_id)  # a conflicting copy; an identical one is skipped
    return sums, quarantine


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=streams(), read_batch=st.integers(1, 9), split=st.integers(0, 40))
def test_ingestion_counts_exactly_the_valid_unique_events(
    redis_client: redis.Redis, specs: list[Spec], read_batch: int, split: int
) -> None:
    redis_client.delete(STREAM_KEY)
    conn = duckdb.connect(":memory:")
    warehouse.configure(conn, memory_limit="512MB")
    entry_ids: list[str] = []

    def drain() -> None:
        consumer = UsageConsumer(redis_client, "property")
        Drain(
            conn, consumer, lambda: set(KNOWN), WINDOW, log=lambda _: None, read_batch=read_batch
        ).run()

    for n, spec in enumerate(specs):
        if n == split:
            drain()  # some duplicates meet their original in a later run, some in the same batch
        entry_ids.append(redis_client.xadd(STREAM_KEY, spec.fields).decode())  # type: ignore[arg-type]
    drain()

    sums, quarantine = expected(specs, entry_ids)
    got = {
        (str(t), m): int(q)
        for t, m, q in conn.execute(
            "SELECT tenant_id, metric, sum(quantity) FROM usage_events GROUP BY ALL"
        ).fetchall()
    }
    assert got == dict(sums)
    rows = conn.execute("SELECT entry_id, code, reason FROM usage_quarantine").fetchall()
    assert {r[0] for r in rows} == quarantine and len(rows) == len(quarantine)
    assert all(code and reason for _, code, reason in rows)
    assert redis_client.xpending(STREAM_KEY, "usage-pipeline")["pending"] == 0
    conn.close()
