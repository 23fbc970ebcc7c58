"""Each usage shard reports its ingest in its own textfile, labelled with the shard, so one
shard finishing never hides another that is stuck."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from pipelines.lib.drain import DrainStats
from pipelines.lib.pipeline_metrics import ingest, write_ingest


def samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(path.read_text())
        for s in family.samples
    }


def test_two_shards_write_two_files_and_neither_overwrites_the_other(tmp_path: Path) -> None:
    stuck = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    fresh = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    write_ingest(tmp_path, 0, 2, ingest(DrainStats(read=100, quarantined=3), stuck, 0, 2))
    write_ingest(tmp_path, 1, 2, ingest(DrainStats(read=7, inserted=7), fresh, 1, 2))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "usage_ingest_0.prom",
        "usage_ingest_1.prom",
    ]
    first, second = (
        samples(tmp_path / "usage_ingest_0.prom"),
        samples(tmp_path / "usage_ingest_1.prom"),
    )
    stamp = "usage_ingest_last_success_timestamp_seconds"
    assert first[(stamp, (("shard", "0"),))] == stuck.timestamp()
    assert second[(stamp, (("shard", "1"),))] == fresh.timestamp()
    entries = "usage_ingest_last_run_entries"
    assert first[(entries, (("outcome", "quarantined"), ("shard", "0")))] == 3
    assert second[(entries, (("outcome", "inserted"), ("shard", "1")))] == 7
    assert second[("usage_ingest_shards", (("shard", "1"),))] == 2
    assert not set(first) & set(second), "no series is written by two shards"


def test_files_no_current_shard_writes_are_removed(tmp_path: Path) -> None:
    """The unsharded file of earlier releases and the files of shards above a reduced count
    would otherwise report their last success forever."""
    now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    for shard in range(4):
        write_ingest(tmp_path, shard, 4, ingest(DrainStats(), now, shard, 4))
    (tmp_path / "usage_ingest.prom").write_text("usage_ingest_last_success_timestamp_seconds 1\n")
    (tmp_path / "tenant_quotas.prom").write_text("")
    write_ingest(tmp_path, 0, 2, ingest(DrainStats(), now, 0, 2))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "tenant_quotas.prom",
        "usage_ingest_0.prom",
        "usage_ingest_1.prom",
    ]
