"""A pipeline wired to this test's registry, the session's Redis and a fresh warehouse: one
DuckDB file, or the embedded DuckLake (the local default) where a test overrides
`warehouse_kind` with `@pytest.mark.parametrize("warehouse_kind", KINDS)`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
import redis

from pipelines.definitions import ASSETS, RETENTION_ASSETS
from pipelines.quotas.resources import QuotaOutputs
from pipelines.resources import RedisResource, RegistryResource, UsageWarehouse
from pipelines.retention.resources import RetentionTargets
from pipelines.usage.resources import StorageMeasurer
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.devstack.redis import RedisServer
from tenancy.usage.recorder import UsageRecorder
from tenancy.usage_warehouse import WarehouseLocation, open_warehouse
from tests.db.factories import make_tenant
from tests.warehouses import warehouse_at

REPLAY_WINDOW = {"max_lateness_days": 3650}


@dataclass
class Pipeline:
    resources: dict[str, Any]
    warehouse: WarehouseLocation
    #: What `--warehouse` takes: the DuckDB file, or the embedded lake's directory.
    warehouse_path: Path
    objects: Path
    textfile: Path
    recorder: UsageRecorder
    redis: redis.Redis
    tenants: dict[str, uuid.UUID]
    #: `usage_events` run config. The tests replay 2024, far behind the production lateness
    #: window, so by default they widen it; window tests pass their own.
    ingest: dict[str, Any] = field(default_factory=lambda: dict(REPLAY_WINDOW))

    def materialize(
        self,
        assets: Sequence[str],
        partition_key: str | None = None,
        tags: dict[str, str] | None = None,
        raise_on_error: bool = True,
        ingest: dict[str, Any] | None = None,
    ) -> dg.ExecuteInProcessResult:
        run_config = None
        if "usage_events" in assets:
            config = self.ingest if ingest is None else ingest
            run_config = {"ops": {"usage_events": {"config": config}}}
            partition_key = partition_key or "0"  # the only shard of a default install
        return dg.materialize(
            [*ASSETS, *RETENTION_ASSETS],
            selection=list(assets),
            partition_key=partition_key,
            resources=self.resources,
            tags=tags,
            raise_on_error=raise_on_error,
            run_config=run_config,
        )

    def sql(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with open_warehouse(self.warehouse, read_only=True) as conn:
            return conn.execute(query, params or []).fetchall()

    def write(self, *statements: tuple[str, list[Any]]) -> None:
        """Change the warehouse behind the pipeline's back, in one transaction."""
        with open_warehouse(self.warehouse) as conn:
            conn.execute("BEGIN")
            for query, params in statements:
                conn.execute(query, params)
            conn.execute("COMMIT")

    @property
    def lock_file(self) -> Path:
        """The DuckDB file a second process waits for: the warehouse, or the lake's catalog."""
        if self.warehouse.lake is not None:
            return Path(self.warehouse.lake.catalog)
        assert self.warehouse.file is not None
        return self.warehouse.file


@pytest.fixture
def warehouse_kind() -> str:
    """One DuckDB file by default: the whole pipeline suite took about 40 % longer on the
    embedded lake (every open attaches the lake and loads its extension), so the lake runs
    the key ingest, rollup, quota, billing and CLI tests, which override this."""
    return "file"


@pytest.fixture
def pipeline(
    warehouse_kind: str,
    tmp_path: Path,
    registry: RegistryUrls,
    db: Database,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    superuser: psycopg.Connection,
) -> Iterator[Pipeline]:
    tenants = {
        plan: make_tenant(db, f"acme-{plan}", plan=plan).tenant.id
        for plan in ("free", "pro", "enterprise")
    }
    # The tests replay 2024 (a leap year); the tenants must have existed then.
    superuser.execute("UPDATE registry.tenants SET created_at = '2024-01-01T00:00:00Z'")
    where = warehouse_at(warehouse_kind, tmp_path)
    if where.lake is not None:
        warehouse_db = UsageWarehouse(
            catalog=where.lake.catalog, data=where.lake.data, memory_limit="1GB"
        )
        warehouse_path = Path(where.lake.catalog).parent
    else:
        assert where.file is not None
        warehouse_db = UsageWarehouse(database=str(where.file), memory_limit="1GB")
        warehouse_path = where.file
    resources = {
        "warehouse_db": warehouse_db,
        "registry": RegistryResource(
            app_database_url=registry.app, platform_database_url=registry.platform
        ),
        "redis": RedisResource(url=redis_server.url),
        "storage": StorageMeasurer(root=str(tmp_path / "objects")),
        "outputs": QuotaOutputs(textfile=str(tmp_path / "metrics" / "usage.prom")),
        "retention": RetentionTargets(root=str(tmp_path / "objects")),
    }
    yield Pipeline(
        resources,
        where,
        warehouse_path,
        tmp_path / "objects",
        tmp_path / "metrics" / "usage.prom",
        UsageRecorder(redis_client),
        redis_client,
        tenants,
    )
