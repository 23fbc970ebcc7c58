"""Resources shared by every domain: the warehouse (DuckDB file or DuckLake), the tenant registry and Redis.

Each field has an embedded default: empty means "from TENANCY_* in the environment, else, in
the local profile (TENANCY_PROFILE=local), the throwaway stack under TENANCY_RUN_DIR", resolved
when a run starts, never at import. Outside the local profile an unset setting fails the run
with an error naming the variable. `dg.EnvVar` is not used because the local profile must run
with nothing configured.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import redis

from pipelines.lib import warehouse
from tenancy import usage_warehouse
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.devstack.stack import LocalStack
from tenancy.lakehouse import LakeLocation
from tenancy.settings import Settings


def run_dir() -> Path:
    return Settings.from_env().run_dir


class UsageWarehouse(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The usage warehouse, wherever `tenancy.usage_warehouse` resolves it: a DuckLake
    (TENANCY_WAREHOUSE_CATALOG `postgres:<conninfo>` for concurrent writers, or a DuckDB
    catalog file; data under TENANCY_WAREHOUSE_DATA, a directory or s3://), one DuckDB file
    (TENANCY_WAREHOUSE_PATH), or in the local profile the embedded lake under
    <run dir>/warehouse/. `database` (a file) or `catalog`/`data` override the environment.
    The same SQL runs on all of them."""

    database: str = ""
    catalog: str = ""
    data: str = ""
    memory_limit: str = "4GB"
    threads: int = 0
    lock_wait_seconds: float = usage_warehouse.LOCK_WAIT_SECONDS

    def location(self) -> usage_warehouse.WarehouseLocation:
        return usage_warehouse.resolve(
            Settings.from_env(),
            file=self.database or None,
            catalog=self.catalog or None,
            data=self.data or None,
        )

    def lake(self) -> LakeLocation | None:
        """Where the DuckLake lives, or None for a single DuckDB file."""
        return self.location().lake

    @contextmanager
    def connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A configured connection. A PostgreSQL-catalog lake takes concurrent writers; a
        DuckDB file (the warehouse, or a local lake's catalog) one process at a time, so there
        a second run waits here (up to lock_wait_seconds) instead of failing."""
        with usage_warehouse.open_warehouse(
            self.location(), read_only=read_only, lock_wait_seconds=self.lock_wait_seconds
        ) as conn:
            if not read_only:
                warehouse.configure(conn, self.memory_limit, self.threads or None)
            yield conn


class RegistryResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The tenant registry, as the control plane (platform role)."""

    app_database_url: str = ""
    platform_database_url: str = ""

    def urls(self) -> RegistryUrls:
        if self.app_database_url and self.platform_database_url:
            return RegistryUrls("", self.app_database_url, self.platform_database_url)
        settings = Settings.from_env()
        if settings.uses_local_registry:
            return LocalStack(settings.run_dir).up().registry
        assert settings.app_database_url and settings.platform_database_url
        return RegistryUrls(
            settings.database_url or "", settings.app_database_url, settings.platform_database_url
        )

    @contextmanager
    def database(self) -> Iterator[Database]:
        urls = self.urls()
        db = Database(urls.app, urls.platform, max_size=2)
        try:
            yield db
        finally:
            db.close()


class RedisResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The Redis holding the usage stream and the quota state."""

    url: str = ""

    def client(self) -> redis.Redis:
        url = self.url or Settings.from_env().redis()
        if not url:
            url = LocalStack(run_dir()).up().redis_url
        return redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10)
