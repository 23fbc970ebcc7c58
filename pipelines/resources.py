"""Resources shared by every domain: the warehouse (DuckDB file or DuckLake), the tenant registry and Redis.

Each field has an embedded default: empty means "from TENANCY_* in the environment, else, in
the local profile (TENANCY_PROFILE=local), the throwaway stack under TENANCY_RUN_DIR", resolved
when a run starts, never at import. Outside the local profile an unset setting fails the run
with an error naming the variable. `dg.EnvVar` is not used because the local profile must run
with nothing configured.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import redis

from pipelines.lib import lakehouse, warehouse
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.devstack.stack import LocalStack
from tenancy.settings import Settings


def run_dir() -> Path:
    return Settings.from_env().run_dir


class UsageWarehouse(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The usage warehouse: a DuckLake when a catalog is configured (TENANCY_WAREHOUSE_CATALOG:
    `postgres:<conninfo>` for concurrent writers, or a DuckDB catalog file; data files under
    TENANCY_WAREHOUSE_DATA, a directory or s3://), else one DuckDB file (default:
    <run dir>/usage.duckdb). The same SQL runs on both."""

    database: str = ""
    catalog: str = ""
    data: str = ""
    memory_limit: str = "4GB"
    threads: int = 0
    lock_wait_seconds: float = 600.0

    def path(self) -> str:
        if self.database:
            return self.database
        return str(
            Settings.from_env().path(
                "TENANCY_WAREHOUSE_PATH", "usage.duckdb", "the usage warehouse's DuckDB file"
            )
        )

    def lake(self) -> lakehouse.LakeLocation | None:
        """Where the DuckLake lives, or None for the single DuckDB file."""
        settings = Settings.from_env()
        env = settings.extra or {}
        catalog = self.catalog or env.get("TENANCY_WAREHOUSE_CATALOG", "")
        if not catalog:
            return None
        data = self.data or str(
            settings.path(
                "TENANCY_WAREHOUSE_DATA", "warehouse-data", "the lakehouse's data files' root"
            )
        )
        s3 = None
        if data.startswith("s3://"):
            s3 = lakehouse.S3Access(
                region=env.get("TENANCY_WAREHOUSE_S3_REGION", "us-east-1"),
                key_id=env.get("TENANCY_WAREHOUSE_S3_KEY_ID", ""),
                secret=env.get("TENANCY_WAREHOUSE_S3_SECRET", ""),
                endpoint=env.get("TENANCY_WAREHOUSE_S3_ENDPOINT", ""),
                use_ssl=env.get("TENANCY_WAREHOUSE_S3_USE_SSL", "true") != "false",
            )
        return lakehouse.LakeLocation(catalog, data, s3)

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A configured connection, to the lake if one is configured. A lake takes concurrent
        writers; a single DuckDB file allows one writing process, so there a second run waits
        here (up to lock_wait_seconds) instead of failing."""
        lake = self.lake()
        conn = lakehouse.connect(lake) if lake else self._open_file()
        try:
            warehouse.configure(conn, self.memory_limit, self.threads or None)
            yield conn
        finally:
            conn.close()

    def _open_file(self) -> duckdb.DuckDBPyConnection:
        Path(self.path()).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_wait_seconds
        delay = 0.05
        while True:
            try:
                return duckdb.connect(self.path())
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)


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
