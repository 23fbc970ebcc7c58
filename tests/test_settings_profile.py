"""Local is a choice: outside `TENANCY_PROFILE=local`, a missing setting is an error naming it,
never a throwaway server that reports success on an empty registry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines.definitions import ASSETS
from pipelines.quotas.resources import QuotaOutputs
from pipelines.resources import RedisResource, RegistryResource, UsageWarehouse
from pipelines.usage.resources import StorageMeasurer
from tenancy.errors import ConfigurationError
from tenancy.settings import Settings

PRODUCTION = {"TENANCY_RUN_DIR": "/nonexistent"}


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="TENANCY_PROFILE is 'prod'; expected one of"):
        Settings.from_env({"TENANCY_PROFILE": "prod"})


@pytest.mark.parametrize(
    ("ask", "variable"),
    [
        (lambda s: s.uses_local_registry, "TENANCY_DATABASE_URL"),
        (lambda s: s.redis(), "TENANCY_REDIS_URL"),
        (lambda s: s.path("TENANCY_WAREHOUSE_PATH", "usage.duckdb", "x"), "TENANCY_WAREHOUSE_PATH"),
    ],
)
def test_production_names_the_missing_variable(ask: object, variable: str) -> None:
    with pytest.raises(ConfigurationError, match=f"{variable} is not set; expected"):
        ask(Settings.from_env(PRODUCTION))  # type: ignore[operator]
    assert Settings.from_env({**PRODUCTION, "TENANCY_PROFILE": "local"}).local


def test_a_pipeline_run_without_settings_fails_naming_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in [k for k in os.environ if k.startswith("TENANCY_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # nothing local to find either
    result = dg.materialize(
        ASSETS,
        selection=["usage_events"],
        partition_key="0",  # the first usage stream shard
        resources={
            "warehouse_db": UsageWarehouse(),
            "registry": RegistryResource(),
            "redis": RedisResource(),
            "storage": StorageMeasurer(),
            "outputs": QuotaOutputs(),
        },
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = str(failure.step_failure_data.error)  # type: ignore[union-attr]
    assert "is not set; expected" in message and "TENANCY_PROFILE=local" in message
    assert not (tmp_path / ".run").exists(), "no local server was started"


def test_the_cli_refuses_to_guess_a_registry(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANCY_")}
    done = subprocess.run(
        [sys.executable, "-m", "tenancy.cli.main", "tenants", "list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "TENANCY_DATABASE_URL is not set" in done.stdout + done.stderr
    assert not (tmp_path / ".run").exists()
