"""Where purge, retention sweeps and exports find the usage warehouse, and a lakehouse refused
rather than silently reported as swept."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.resources import UsageWarehouse
from pipelines.retention.assets import _warehouse_file
from tenancy.errors import ConfigurationError
from tenancy.settings import Settings
from tenancy.warehouse_file import usage_warehouse_file


def test_the_pipeline_setting_is_where_the_core_looks(tmp_path: Path) -> None:
    local = Settings.from_env({"TENANCY_PROFILE": "local", "TENANCY_RUN_DIR": str(tmp_path)})
    assert usage_warehouse_file(local) == local.run_dir / "usage.duckdb"
    chosen = tmp_path / "w.duckdb"
    production = Settings.from_env({"TENANCY_WAREHOUSE_PATH": str(chosen)})
    assert usage_warehouse_file(production) == chosen
    assert usage_warehouse_file(production, tmp_path / "x.duckdb") == tmp_path / "x.duckdb"
    with pytest.raises(ConfigurationError, match="TENANCY_WAREHOUSE_PATH"):
        usage_warehouse_file(Settings.from_env({}))


def test_a_lakehouse_is_refused_not_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = {"TENANCY_WAREHOUSE_CATALOG": "postgres:dbname=lake", "TENANCY_PROFILE": "local"}
    with pytest.raises(ConfigurationError, match="TENANCY_WAREHOUSE_CATALOG is set"):
        usage_warehouse_file(Settings.from_env(lake), tmp_path / "usage.duckdb")
    monkeypatch.delenv("TENANCY_WAREHOUSE_CATALOG", raising=False)
    with pytest.raises(ConfigurationError, match="TENANCY_WAREHOUSE_CATALOG is set"):
        _warehouse_file(UsageWarehouse(catalog="postgres:dbname=lake", data=str(tmp_path)))
    single = tmp_path / "usage.duckdb"
    assert _warehouse_file(UsageWarehouse(database=str(single))) == single
