"""`usage_events` is partitioned by stream shard, and the hourly schedule asks for one run per
shard. The shard count is read when the code location loads, so it is checked in a process of
its own, as Dagster would load it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import dagster as dg
import pytest
from redis.cluster import RedisCluster

from pipelines.definitions import defs
from pipelines.resources import RedisResource
from pipelines.usage.schedules import ingest_schedule
from tenancy.devstack.redis_cluster import RedisClusterServer
from tenancy.usage.events import api_call
from tenancy.usage.recorder import UsageRecorder
from tenancy.usage.shards import shard_of, stream_key
from tests.cluster.conftest import redis_cluster  # noqa: F401 (a fixture)
from tests.pipelines.conftest import Pipeline

PROBE = """
import json
from datetime import datetime, UTC
import dagster as dg
from pipelines.definitions import defs
from pipelines.usage.schedules import ingest_schedule
asset = defs.resolve_assets_def("usage_events")
context = dg.build_schedule_context(
    scheduled_execution_time=datetime(2026, 11, 2, 7, 5, tzinfo=UTC),
    repository_def=defs.get_repository_def(),
)
requests = ingest_schedule.evaluate_tick(context).run_requests
print(json.dumps({
    "partitions": asset.partitions_def.get_partition_keys(),
    "requests": [[r.partition_key, r.run_key] for r in requests],
}))
"""


def test_default_install_has_one_shard() -> None:
    assert defs.resolve_assets_def("usage_events").partitions_def.get_partition_keys() == ["0"]  # type: ignore[union-attr]
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 2, 7, 5, tzinfo=UTC),
        repository_def=defs.get_repository_def(),
    )
    requests = ingest_schedule.evaluate_tick(context).run_requests or []
    assert [(r.partition_key, r.run_key) for r in requests] == [
        ("0", "ingest-2026-11-02T07-shard-0")
    ]


def test_three_shards_three_partitions_three_runs_an_hour() -> None:
    env = dict(os.environ, TENANCY_USAGE_SHARDS="3")
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["partitions"] == ["0", "1", "2"]
    assert result["requests"] == [[str(s), f"ingest-2026-11-02T07-shard-{s}"] for s in range(3)]


def test_usage_events_on_a_redis_cluster(
    pipeline: Pipeline,
    redis_cluster: RedisClusterServer,  # noqa: F811 (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The asset as Dagster runs it, with TENANCY_REDIS_CLUSTER set: it drains the stream on
    the cluster, and a stream left by a former shard count with it."""
    monkeypatch.setenv("TENANCY_REDIS_CLUSTER", "true")
    client = redis_cluster.client()
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    tenants = list(pipeline.tenants.values())
    now = datetime.now(UTC).replace(microsecond=0)
    UsageRecorder(client, shards=1).record_many(  # type: ignore[arg-type]
        api_call(t, "/v1/agents", "GET", 200, now) for t in tenants for _ in range(5)
    )
    UsageRecorder(client, shards=3).record_many(  # type: ignore[arg-type]
        api_call(t, "/v1/agents", "GET", 200, now) for t in tenants for _ in range(2)
    )
    pipeline.resources["redis"] = RedisResource(url=redis_cluster.url)
    result = pipeline.materialize(["usage_events"], ingest={})
    meta = result.asset_materializations_for_node("usage_events")[0].metadata
    leftovers = sorted({stream_key(shard_of(t, 3), 3) for t in tenants})
    assert meta["streams"].value == [*leftovers, "platform:usage:events"]  # type: ignore[attr-defined]
    rows = pipeline.sql("SELECT tenant_id::VARCHAR, count(*) FROM usage_events GROUP BY 1")
    assert sorted(rows) == sorted((str(t), 7) for t in tenants)
    assert client.exists("platform:usage:events", *leftovers) == 1, "only the current one stays"
    client.close()
