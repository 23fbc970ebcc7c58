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

from pipelines.definitions import defs
from pipelines.usage.schedules import ingest_schedule

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
