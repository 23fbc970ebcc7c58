"""Usage shards draining into one DuckLake (PostgreSQL catalog) at the same time: each shard
commits on its own fence, copies of an event in two streams count once, a writer left with a
former shard count is cut off, batch ids stay unique and the late-usage sensor misses no
batch that commits after a newer one. One drain is held inside its transaction (before its
commit) while another runs to the end, so the interleaving is the same on every run."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pyarrow as pa
import pytest
import redis

from pipelines.definitions import defs
from pipelines.lib import event_store, ingest_batches, shard_layout, warehouse
from pipelines.lib.drain import Drain
from pipelines.lib.ingest import IngestWindow
from pipelines.lib.shard_drain import ShardDrain
from pipelines.resources import UsageWarehouse
from pipelines.usage.sensors import late_usage_sensor
from tenancy import lakehouse
from tenancy.usage.events import api_call
from tenancy.usage.shards import SINGLE_STREAM_KEY, shard_of, sharded_key, stream_key
from tenancy.usage.stream import PIPELINE_GROUP, UsageConsumer
from tests.pipelines.test_lakehouse import catalog  # noqa: F401 (a fixture)

NOW = datetime.now(UTC).replace(microsecond=0)
WINDOW = IngestWindow.around(
    NOW, timedelta(days=35), timedelta(minutes=5), floor=datetime(2024, 1, 1, tzinfo=UTC)
)
CONSUMER = "shard-claims-test"


def tenant(**shards_to_shard: int) -> uuid.UUID:
    """A tenant whose shard is `shard` under each given count (`n2=1` means shard 1 of 2)."""
    for n in range(1, 10_000):
        candidate = uuid.UUID(int=0x5000_0000 + n)
        if all(shard_of(candidate, int(k[1:])) == v for k, v in shards_to_shard.items()):
            return candidate
    raise AssertionError(f"no tenant with shards {shards_to_shard}")


@dataclass
class Lake:
    location: lakehouse.LakeLocation

    def connect(self) -> duckdb.DuckDBPyConnection:
        conn = lakehouse.connect(self.location)
        warehouse.configure(conn, "512MB", 1)
        return conn

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            return conn.execute(query).fetchall()
        finally:
            conn.close()


@pytest.fixture
def lake(tmp_path: Path, catalog: str) -> Lake:  # noqa: F811 (the fixture imported above)
    return Lake(lakehouse.LakeLocation(catalog, str(tmp_path / "lake-data")))


@dataclass
class Held:
    """Holds the drain of one connection inside its first storing transaction, after its
    claims and events are written and before it commits, until `release` is set; counts how
    many times each connection ran the claim check (a retry after a lost commit runs it
    again)."""

    conn: duckdb.DuckDBPyConnection | None = None
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    attempts: Counter[int] = field(default_factory=Counter)


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Held:
    hold = Held()
    insert_events, insert_quarantine = event_store.insert_events, event_store.insert_quarantine

    def counted(conn: duckdb.DuckDBPyConnection, *args: Any, **kwargs: Any) -> Any:
        hold.attempts[id(conn)] += 1
        return insert_events(conn, *args, **kwargs)

    def holding(conn: duckdb.DuckDBPyConnection, *args: Any, **kwargs: Any) -> Any:
        if conn is hold.conn and not hold.release.is_set():
            hold.holding.set()
            assert hold.release.wait(120), "never released"
        return insert_quarantine(conn, *args, **kwargs)

    monkeypatch.setattr(event_store, "insert_events", counted)
    monkeypatch.setattr(event_store, "insert_quarantine", holding)
    return hold


def drain(
    conn: duckdb.DuckDBPyConnection,
    client: redis.Redis,
    shard: int,
    shards: int,
    tenants: set[uuid.UUID],
    abandoned_after_ms: int = 5 * 60 * 1000,
) -> ShardDrain:
    return ShardDrain(
        conn,
        client,
        shard,
        shards,
        CONSUMER,
        lambda: tenants,
        WINDOW,
        log=lambda _: None,
        abandoned_after_ms=abandoned_after_ms,
    )


def in_background(held: Held, run: Callable[[], object]) -> tuple[threading.Thread, list[Any]]:
    """Start `run` in a thread and wait until it holds inside its transaction."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(run())
        except Exception as exc:  # handed to the test, which asserts on it
            outcome.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    assert held.holding.wait(120), f"the held drain never reached its commit: {outcome}"
    return thread, outcome


def finish(held: Held, thread: threading.Thread) -> None:
    held.release.set()
    thread.join(120)
    assert not thread.is_alive()


def record(client: redis.Redis, stream: str, who: uuid.UUID, when: datetime, n: int = 1) -> None:
    for _ in range(n):
        client.xadd(stream, api_call(who, "/v1/a", "GET", 200, when).to_fields())  # type: ignore[arg-type]


def test_two_shards_commit_side_by_side_with_exact_totals(
    lake: Lake, redis_client: redis.Redis, held: Held
) -> None:
    """Shard 0 holds its transaction open while shard 1 stores and commits: shard 0 then
    commits at its first attempt (no conflict between different shards) and every event
    counts once, under batch ids of their own."""
    first, second = tenant(n2=0), tenant(n2=1)
    record(redis_client, stream_key(0, 2), first, NOW - timedelta(hours=1), 5)
    record(redis_client, stream_key(1, 2), second, NOW - timedelta(hours=2), 7)
    conn0, conn1 = lake.connect(), lake.connect()
    held.conn = conn0
    thread, outcome = in_background(held, drain(conn0, redis_client, 0, 2, {first, second}).run)
    other = drain(conn1, redis_client, 1, 2, {first, second}).run()
    finish(held, thread)

    assert other.inserted == 7 and outcome[0].inserted == 5, outcome
    assert held.attempts[id(conn1)] == 1
    assert held.attempts[id(conn0)] == 1, "shard 0 lost its commit to shard 1: one fence for all"
    per_tenant = lake.sql(
        "SELECT CAST(tenant_id AS VARCHAR), count(*) FROM usage_events GROUP BY ALL ORDER BY 2"
    )
    assert per_tenant == [(str(first), 5), (str(second), 7)]
    ids = [r[0] for r in lake.sql("SELECT batch_id FROM ingest_batches")]
    assert len(ids) == len(set(ids)) == 2
    assert sorted(ingest_batches.batch_partition(i) for i in ids) == [0, 1]


def test_copies_in_a_leftover_stream_and_the_new_shard_stream_count_once(
    lake: Lake, redis_client: redis.Redis, held: Held
) -> None:
    """The shard count went from 1 to 2: a retried event sits in the single stream (drained by
    partition 0) and in its tenant's new stream (partition 1). Partition 0 holds its claim of
    it open while partition 1 claims and commits the other copy: one of them counts."""
    who = tenant(n2=1)
    when = NOW - timedelta(hours=3)
    fields = api_call(who, "/v1/a", "GET", 200, when).to_fields()
    redis_client.xadd(SINGLE_STREAM_KEY, fields)  # type: ignore[arg-type]
    redis_client.xadd(stream_key(1, 2), fields)  # type: ignore[arg-type]
    conn0, conn1 = lake.connect(), lake.connect()
    held.conn = conn0
    thread, outcome = in_background(held, drain(conn0, redis_client, 0, 2, {who}).run)
    drain(conn1, redis_client, 1, 2, {who}).run()
    finish(held, thread)

    assert not isinstance(outcome[0], Exception), outcome
    assert outcome[0].duplicates == 1, "the leftover copy was counted as well"
    assert lake.sql("SELECT count(*) FROM usage_events") == [(1,)]
    assert lake.sql("SELECT count(*) FROM usage_event_claims") == [(1,)]


def test_a_writer_with_a_former_shard_count_is_refused_and_loses_nothing(
    lake: Lake, redis_client: redis.Redis, held: Held
) -> None:
    """A run with 2 shards holds its transaction open when a run with 4 starts, records 4 and
    counts a copy of one of its events (written to the tenant's new stream meanwhile): the old
    run's commit is refused with a message naming both counts, its entries stay pending, and
    the runs with 4 shards count each event once."""
    who = tenant(n2=1, n4=3)
    retried = api_call(who, "/v1/a", "GET", 200, NOW - timedelta(hours=4)).to_fields()
    redis_client.xadd(sharded_key(1), retried)  # type: ignore[arg-type]
    record(redis_client, sharded_key(1), who, NOW - timedelta(hours=5))
    old, new = lake.connect(), lake.connect()
    held.conn = old
    thread, outcome = in_background(held, drain(old, redis_client, 1, 2, {who}).run)
    redis_client.xadd(sharded_key(3), retried)  # type: ignore[arg-type]
    drain(new, redis_client, 3, 4, {who}).run()
    finish(held, thread)

    refused = outcome[0]
    assert isinstance(refused, shard_layout.ShardLayoutChangedError), outcome
    assert "records 4 usage shard(s) but this run drains with 2 (TENANCY_USAGE_SHARDS=2)" in str(
        refused
    )
    assert redis_client.xpending(sharded_key(1), PIPELINE_GROUP)["pending"] == 2
    assert lake.sql("SELECT count(*) FROM usage_events") == [(1,)]
    consumer = UsageConsumer(redis_client, CONSUMER, stream=sharded_key(1))
    with pytest.raises(shard_layout.ShardLayoutChangedError, match="records 4 usage shard"):
        Drain(lake.connect(), consumer, lambda: {who}, WINDOW, shards=2, partition=1).run()

    # The next run of shard 1 with 4 shards takes over the old run's pending entries.
    stats = drain(lake.connect(), redis_client, 1, 4, {who}, abandoned_after_ms=0).run()
    assert (stats.inserted, stats.duplicates) == (1, 1)
    assert lake.sql("SELECT count(*), count(DISTINCT event_id) FROM usage_events") == [(2, 2)]


def test_batch_ids_stay_unique_and_the_sensor_sees_a_batch_that_commits_late(
    lake: Lake, redis_client: redis.Redis, held: Held
) -> None:
    """Shard 0 takes its batch id and holds; shard 1 commits a batch and the sensor ticks; then
    shard 0 commits. The ids differ, and the next tick re-rolls shard 0's day."""
    first, second = tenant(n2=0), tenant(n2=1)
    early, later = (NOW - timedelta(days=3)).date(), (NOW - timedelta(days=2)).date()
    record(redis_client, stream_key(0, 2), first, datetime.combine(early, datetime.min.time(), UTC))
    record(
        redis_client, stream_key(1, 2), second, datetime.combine(later, datetime.min.time(), UTC)
    )
    resource = UsageWarehouse(
        catalog=lake.location.catalog, data=lake.location.data, memory_limit="512MB", threads=1
    )

    def tick(cursor: str | None) -> tuple[str | None, list[str]]:
        context = dg.build_sensor_context(
            cursor=cursor,
            resources={"warehouse_db": resource},
            repository_def=defs.get_repository_def(),
        )
        result = late_usage_sensor(context)
        if isinstance(result, dg.SkipReason):
            return cursor, []
        requests = [
            r.partition_key for r in result.run_requests or [] if r.job_name == "daily_rollup_job"
        ]
        return result.cursor, sorted(str(k) for k in requests)

    cursor, _ = tick(None)
    conn0, conn1 = lake.connect(), lake.connect()
    held.conn = conn0
    thread, outcome = in_background(held, drain(conn0, redis_client, 0, 2, {first, second}).run)
    drain(conn1, redis_client, 1, 2, {first, second}).run()
    cursor, seen_first = tick(cursor)
    finish(held, thread)
    cursor, seen_then = tick(cursor)

    assert not isinstance(outcome[0], Exception), outcome
    ids = [r[0] for r in lake.sql("SELECT batch_id FROM ingest_batches")]
    assert len(ids) == len(set(ids)) == 2, ids
    assert seen_first == [str(later)]
    assert seen_then == [str(early)], "the batch that committed after a newer one was missed"


@pytest.mark.parametrize("kind", ["file", "lake"])
def test_claims_of_a_warehouse_from_before_claim_days_take_their_events_day(
    tmp_path: Path, lake: Lake, kind: str
) -> None:
    """An existing warehouse's claims get the `day` of their event when it opens, so the
    window-limited claim check still finds them (a retried old copy is not counted again)."""
    path = str(tmp_path / "old.duckdb")

    def connect() -> duckdb.DuckDBPyConnection:
        return warehouse.connect(path, memory_limit="256MB") if kind == "file" else lake.connect()

    conn = connect()
    events = _one_event()
    event_store.insert_events(conn, events, 1)
    conn.execute("ALTER TABLE usage_event_claims DROP COLUMN day")
    conn.execute("DROP TABLE usage_shard_layout")
    conn.close()

    conn = connect()
    assert conn.execute("SELECT day FROM usage_event_claims").fetchall() == [(date(2026, 3, 2),)]
    again = event_store.insert_events(
        conn, events, 2, claim_days=(date(2026, 2, 1), date(2026, 3, 3))
    )
    assert (again.inserted, again.duplicates) == (0, 1)
    assert shard_layout.recorded(conn) is None
    conn.close()


def _one_event() -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "event_id": str(uuid.UUID(int=1)),
                "tenant_id": str(uuid.UUID(int=2)),
                "metric": "api_call",
                "quantity": 1,
                "occurred_at": datetime(2026, 3, 2, 10),
                "endpoint": "/v1/a",
                "method": "GET",
                "status": 200,
                "agent_id": None,
                "entry_id": "1-0",
                "copy": 1,
            }
        ],
        schema=warehouse.EVENT_COLUMNS,
    )
