"""usage_events: exactly once from the stream, malformed entries quarantined, ack after commit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tenancy.usage.events import api_call, storage_delta
from tenancy.usage.stream import STREAM_KEY, UsageConsumer
from tests.pipelines.conftest import Pipeline
from tests.warehouses import KINDS

T0 = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


def totals(p: Pipeline) -> list[tuple[object, ...]]:
    return p.sql(
        "SELECT tenant_id, metric, count(*), sum(quantity) FROM usage_events GROUP BY ALL ORDER BY ALL"
    )


@pytest.mark.parametrize("warehouse_kind", KINDS)
def test_drains_everything_once_and_acknowledges(pipeline: Pipeline) -> None:
    free = pipeline.tenants["free"]
    pipeline.recorder.record_many(
        api_call(free, "/v1/agents", "GET", 200, T0 + timedelta(minutes=i)) for i in range(250)
    )
    result = pipeline.materialize(["usage_events"])
    meta = result.asset_materializations_for_node("usage_events")[0].metadata
    assert (
        meta["read"].value == 250
        and meta["inserted"].value == 250
        and meta["quarantined"].value == 0
    )
    assert pipeline.sql("SELECT count(*) FROM usage_events") == [(250,)]
    assert pipeline.redis.xpending(STREAM_KEY, "usage-pipeline")["pending"] == 0
    pipeline.materialize(["usage_events"])  # nothing new: nothing changes
    assert pipeline.sql("SELECT count(*) FROM usage_events") == [(250,)]


@pytest.mark.parametrize("warehouse_kind", KINDS)
def test_duplicate_events_count_once(pipeline: Pipeline) -> None:
    event = api_call(pipeline.tenants["pro"], "/v1/agents", "POST", 201, T0)
    pipeline.recorder.record(event)
    pipeline.recorder.record(event)  # a client retry
    pipeline.materialize(["usage_events"])
    pipeline.recorder.record(event)  # and again, in a later run
    pipeline.materialize(["usage_events"])
    assert pipeline.sql("SELECT count(*), count(DISTINCT entry_id) FROM usage_events") == [(1, 1)]
    assert pipeline.sql("SELECT sum(duplicates) FROM ingest_batches") == [(2,)]


def test_crash_between_commit_and_ack_does_not_double_count(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.recorder.record_many(
        storage_delta(pipeline.tenants["enterprise"], 10, T0 + timedelta(seconds=i))
        for i in range(40)
    )

    def crash(self: UsageConsumer, ids: list[str]) -> int:
        raise ConnectionError("process killed after the DuckDB commit, before XACK")

    with monkeypatch.context() as m:
        m.setattr(UsageConsumer, "ack", crash)
        failed = pipeline.materialize(["usage_events"], raise_on_error=False)
    assert not failed.success
    assert pipeline.sql("SELECT count(*) FROM usage_events") == [(40,)], "the commit happened"
    assert pipeline.redis.xpending(STREAM_KEY, "usage-pipeline")["pending"] == 40, (
        "but nothing was acknowledged"
    )
    before = totals(pipeline)
    pipeline.materialize(["usage_events"])  # the replay: same consumer, pending entries first
    assert totals(pipeline) == before, "replayed events must not be counted twice"
    assert pipeline.redis.xpending(STREAM_KEY, "usage-pipeline")["pending"] == 0


def test_malformed_and_unknown_tenant_entries_are_quarantined_with_reason(
    pipeline: Pipeline,
) -> None:
    good = api_call(pipeline.tenants["free"], "/v1/agents", "GET", 200, T0)
    pipeline.recorder.record(good)
    stranger = api_call(uuid.uuid4(), "/v1/agents", "GET", 200, T0)
    pipeline.recorder.record(stranger)
    bad_qty = dict(good.to_fields(), id=str(uuid.uuid4()), qty="-5")
    pipeline.redis.xadd(STREAM_KEY, bad_qty)
    pipeline.redis.xadd(STREAM_KEY, {"garbage": "yes"})
    result = pipeline.materialize(["usage_events"], raise_on_error=False)
    reasons = sorted(r for (r,) in pipeline.sql("SELECT reason FROM usage_quarantine"))
    assert reasons == sorted(
        [
            f"tenant {stranger.tenant_id} is not in the registry",
            "qty is '-5'; expected an integer >= 1 and <= 1000000 in ASCII digits",
            "v is None; expected schema version 1",
        ]
    )
    assert pipeline.sql("SELECT count(*) FROM usage_events") == [(1,)], "never counted"
    assert pipeline.redis.xpending(STREAM_KEY, "usage-pipeline")["pending"] == 0, (
        "kept, so acknowledged"
    )
    check = result.get_asset_check_evaluations()[0]
    assert check.check_name == "usage_events_quarantine_rate" and not check.passed, (
        "3 of 4 is far above 1 %"
    )
    pipeline.materialize(["usage_events"])
    assert pipeline.sql("SELECT count(*) FROM usage_quarantine") == [(3,)], "quarantined once"


def test_a_tenant_registered_during_the_drain_is_not_quarantined(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipelines.usage.assets as usage_assets

    real = usage_assets.list_tenants
    calls = []

    def stale_first(db):  # type: ignore[no-untyped-def]
        calls.append(1)
        tenants = real(db)
        return (
            [t for t in tenants if t.id != pipeline.tenants["pro"]] if len(calls) == 1 else tenants
        )

    monkeypatch.setattr(usage_assets, "list_tenants", stale_first)
    pipeline.recorder.record(api_call(pipeline.tenants["pro"], "/v1/a", "GET", 200, T0))
    pipeline.materialize(["usage_events"])
    # twice for the drain (again when an unknown tenant shows up), once for the quota counters
    assert len(calls) == 3, "the registry is read again when an unknown tenant shows up"
    assert pipeline.sql("SELECT count(*) FROM usage_events") == [(1,)]
    assert pipeline.sql("SELECT count(*) FROM usage_quarantine") == [(0,)]
