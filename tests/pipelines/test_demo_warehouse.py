"""The demo on the default warehouse, the embedded lake: its reset empties the lake (and only a
warehouse that is the demo's to wipe), and its report reads quota status back from the lake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines import demo
from pipelines.lib.periods import month_start, utc_midnight
from tenancy.errors import ConfigurationError
from tenancy.quota_gate import QuotaGate
from tenancy.registry import get_tenant
from tenancy.settings import Settings
from tenancy.usage.events import api_call
from tenancy.usage_warehouse import open_warehouse, resolve
from tests.pipelines.conftest import Pipeline


def test_reset_empties_the_embedded_lake(tmp_path: Path) -> None:
    where = resolve(
        Settings.from_env({"TENANCY_PROFILE": "local", "TENANCY_RUN_DIR": str(tmp_path)})
    )
    assert where.lake is not None, "the local default is a lake"
    with open_warehouse(where) as conn:
        conn.execute("CREATE TABLE usage_events AS SELECT range AS n FROM range(100)")
    assert where.exists() and any((tmp_path / "warehouse" / "data").rglob("*"))
    demo._clear_warehouse(where, tmp_path)
    assert not where.exists() and not (tmp_path / "warehouse").exists()
    with open_warehouse(where) as conn:  # the next run starts on an empty lake
        assert conn.execute("SELECT count(*) FROM duckdb_tables()").fetchone() == (0,)


def test_reset_empties_one_file_and_leaves_a_configured_lake_alone(tmp_path: Path) -> None:
    single = resolve(
        Settings.from_env(
            {"TENANCY_PROFILE": "local", "TENANCY_WAREHOUSE_PATH": str(tmp_path / "w.duckdb")}
        )
    )
    with open_warehouse(single) as conn:
        conn.execute("CREATE TABLE t (x INT)")
    demo._clear_warehouse(single, tmp_path)
    assert not single.exists()
    elsewhere = resolve(
        Settings.from_env(
            {
                "TENANCY_PROFILE": "local",
                "TENANCY_WAREHOUSE_CATALOG": str(tmp_path / "shared.ducklake"),
                "TENANCY_WAREHOUSE_DATA": str(tmp_path / "shared-data"),
            }
        )
    )
    with open_warehouse(elsewhere) as conn:
        conn.execute("CREATE TABLE t (x INT)")
    with pytest.raises(ConfigurationError, match="unset TENANCY_WAREHOUSE_CATALOG"):
        demo._clear_warehouse(elsewhere, tmp_path)
    assert elsewhere.exists()


@pytest.mark.parametrize("warehouse_kind", ["lake"])
def test_report_reads_quota_status_from_the_lake(pipeline: Pipeline, db: object) -> None:
    assert pipeline.warehouse.lake is not None
    now = datetime.now(UTC)
    start = utc_midnight(month_start(now.date()))
    span = max((now - start).total_seconds() - 60, 1.0)
    free = pipeline.tenants["free"]
    pipeline.recorder.record_many(
        api_call(free, "/v1/agents", "GET", 200, start + timedelta(seconds=span * i / 1214))
        for i in range(1214)
    )
    month = month_start(now.date()).isoformat()
    pipeline.materialize(["usage_events"])
    pipeline.materialize(
        ["daily_tenant_usage"],
        tags={
            "dagster/asset_partition_range_start": month,
            "dagster/asset_partition_range_end": now.date().isoformat(),
        },
    )
    pipeline.materialize(["monthly_tenant_usage", "tenant_quota_status"], partition_key=month)
    tenants = [get_tenant(db, t) for t in pipeline.tenants.values()]  # type: ignore[arg-type]
    with demo.console.capture() as captured:
        demo._report(
            tenants,
            pipeline.warehouse,
            QuotaGate(pipeline.redis),
            {t.slug: 0 for t in tenants},
            month,
        )
    out = captured.get()
    assert "1,214/1,000" in out, out
    assert "blocked acme-free: 1,214 of 1,000 API calls" in " ".join(out.split()), out


def test_reset_leaves_a_configured_lake_laid_out_like_the_embedded_one_alone(
    tmp_path: Path,
) -> None:
    """A lake that TENANCY_WAREHOUSE_CATALOG names, whose data sits beside its catalog in
    `data/`, is still not the demo's: neither it nor its directory's other files go."""
    home = tmp_path / "srv"
    settings = Settings.from_env(
        {
            "TENANCY_PROFILE": "local",
            "TENANCY_RUN_DIR": str(tmp_path / "run"),
            "TENANCY_WAREHOUSE_CATALOG": str(home / "catalog.ducklake"),
            "TENANCY_WAREHOUSE_DATA": str(home / "data"),
        }
    )
    configured = resolve(settings)
    with open_warehouse(configured) as conn:
        conn.execute("CREATE TABLE t (x INT)")
    (home / "keep.txt").write_text("not the demo's")
    with pytest.raises(ConfigurationError, match="unset TENANCY_WAREHOUSE_CATALOG"):
        demo._clear_warehouse(configured, settings.run_dir)
    assert configured.exists() and (home / "keep.txt").exists()
