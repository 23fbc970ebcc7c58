"""Where the usage warehouse is, and one way to open it, for the pipeline and the core alike.

Resolution, from settings (an explicit file or catalog given by a caller comes first):
- `TENANCY_WAREHOUSE_CATALOG` set: a DuckLake whose catalog is `postgres:<conninfo>` (several
  writers at once) or a DuckDB catalog file, with its data files under
  `TENANCY_WAREHOUSE_DATA` (a directory or `s3://bucket/prefix/`; required outside the local
  profile);
- `TENANCY_WAREHOUSE_PATH` set: one DuckDB file (small installs);
- neither: in the local profile a local DuckLake under `<run dir>/warehouse/`; anywhere else an
  error naming the variables. Both CATALOG and PATH set is an error naming both.

The embedded lake's catalog is a DuckDB file, not SQLite: DuckLake's SQLite catalog answers a
second process committing at the same time with "database is locked", which DuckLake does not
retry (measured: four processes each committing 40 small transactions lost about half of them).
A DuckDB catalog file is held by one process at a time, so an opener waits for it, as for the
single file; concurrent writers belong on the PostgreSQL catalog.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tenancy.errors import ConfigurationError
from tenancy.lakehouse import LAKE, LakeLocation, S3Access, connect, duckdb_module
from tenancy.settings import PROFILE_VAR, Settings

if TYPE_CHECKING:
    import duckdb

CATALOG = "TENANCY_WAREHOUSE_CATALOG"
DATA = "TENANCY_WAREHOUSE_DATA"
PATH = "TENANCY_WAREHOUSE_PATH"
S3_KEY_ID = "TENANCY_WAREHOUSE_S3_KEY_ID"
S3_SECRET = "TENANCY_WAREHOUSE_S3_SECRET"  # noqa: S105 - a variable name, not a secret
#: The embedded lake, under the run directory: `catalog.ducklake` and `data/`.
LOCAL_LAKE = "warehouse"
CATALOG_FILE = "catalog.ducklake"
#: How long an opener waits for a DuckDB file (warehouse or catalog) another process holds.
LOCK_WAIT_SECONDS = 600.0


@dataclass(frozen=True)
class WarehouseLocation:
    """Exactly one of `file` (a single DuckDB file) and `lake`."""

    file: Path | None = None
    lake: LakeLocation | None = None

    def __post_init__(self) -> None:
        if (self.file is None) == (self.lake is None):
            raise ValueError("a warehouse is either one DuckDB file or a DuckLake, not both")

    @classmethod
    def single_file(cls, path: Path | str) -> WarehouseLocation:
        return cls(file=Path(path))

    @classmethod
    def local_lake(cls, root: Path | str) -> WarehouseLocation:
        """The embedded layout: `<root>/catalog.ducklake` and `<root>/data/`."""
        root = Path(root)
        return cls(lake=LakeLocation(str(root / CATALOG_FILE), str(root / "data")))

    def exists(self) -> bool:
        """False when nothing was ever written there (no file, no catalog file yet)."""
        if self.lake is not None:
            return self.lake.exists()
        assert self.file is not None
        return self.file.exists()

    def describe(self) -> str:
        return self.lake.describe() if self.lake is not None else str(self.file)


def resolve(
    settings: Settings,
    *,
    file: Path | str | None = None,
    catalog: str | None = None,
    data: str | None = None,
) -> WarehouseLocation:
    """The warehouse the settings name. `file` (a DuckDB file, or a directory holding an
    embedded lake's `catalog.ducklake`) or `catalog` (with `data`) override the environment."""
    env = settings.extra or {}
    if file and catalog:
        raise ConfigurationError(
            f"both a warehouse file ({file}) and a lake catalog are given; expected one"
        )
    if file:
        path = Path(file)
        if path.is_dir():
            if not (path / CATALOG_FILE).is_file():
                raise ConfigurationError(
                    f"warehouse {path} is a directory without {CATALOG_FILE}; expected a "
                    "DuckDB file or an embedded lake's directory"
                )
            return WarehouseLocation.local_lake(path)
        return WarehouseLocation.single_file(path)
    if catalog:
        return WarehouseLocation(lake=_lake(settings, catalog, data or env.get(DATA)))
    if env.get(CATALOG) and env.get(PATH):
        raise ConfigurationError(
            f"both {CATALOG} (a DuckLake) and {PATH} (one DuckDB file) are set; "
            "expected one of them"
        )
    if env.get(CATALOG):
        return WarehouseLocation(lake=_lake(settings, env[CATALOG], data or env.get(DATA)))
    if env.get(PATH):
        return WarehouseLocation.single_file(env[PATH])
    if not settings.local:
        raise ConfigurationError(
            f"{CATALOG} and {PATH} are not set; expected the usage warehouse: {CATALOG} and "
            f"{DATA} for a DuckLake (postgres:<conninfo>; a directory or s3://bucket/prefix/) "
            f"or {PATH} for one DuckDB file. Outside the local profile every setting must be "
            f"given (set {PROFILE_VAR}=local for an embedded lake under the run directory)"
        )
    return WarehouseLocation.local_lake(settings.run_dir / LOCAL_LAKE)


def _lake(settings: Settings, catalog: str, data: str | None) -> LakeLocation:
    if not data:
        settings.require_local(DATA, "the lake's data files' root: a directory or s3://")
        data = str(settings.run_dir / LOCAL_LAKE / "data")
    s3 = None
    if data.startswith("s3://"):
        env = settings.extra or {}
        key_id, secret = env.get(S3_KEY_ID, ""), env.get(S3_SECRET, "")
        if bool(key_id) != bool(secret):
            given, missing = (S3_KEY_ID, S3_SECRET) if key_id else (S3_SECRET, S3_KEY_ID)
            raise ConfigurationError(
                f"{given} is set but {missing} is not; expected both (the S3 key of {data})"
            )
        if not key_id:
            # httpfs has no credential chain here: without a key it reads and writes
            # anonymously, and the first write would fail far from this setting.
            settings.require_local(
                f"{S3_KEY_ID} (and {S3_SECRET})", f"the S3 key for the lake's data at {data}"
            )
        s3 = S3Access(
            region=env.get("TENANCY_WAREHOUSE_S3_REGION", "us-east-1"),
            key_id=key_id,
            secret=secret,
            endpoint=env.get("TENANCY_WAREHOUSE_S3_ENDPOINT", ""),
            use_ssl=env.get("TENANCY_WAREHOUSE_S3_USE_SSL", "true") != "false",
        )
    return LakeLocation(catalog, data, s3)


@contextmanager
def open_warehouse(
    where: WarehouseLocation,
    *,
    read_only: bool = False,
    lock_wait_seconds: float = LOCK_WAIT_SECONDS,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection whose default database is the warehouse, in UTC, closed on exit. A DuckDB
    file (the warehouse or a lake's catalog) that another process holds is waited for, up to
    `lock_wait_seconds`, instead of failing at once."""
    if where.lake is not None:
        conn = connect(where.lake, read_only=read_only, lock_wait_seconds=lock_wait_seconds)
    else:
        assert where.file is not None
        conn = _open_file(where.file, read_only, lock_wait_seconds)
    try:
        conn.execute("SET TimeZone = 'UTC'")
        yield conn
    finally:
        conn.close()


def table_names(conn: duckdb.DuckDBPyConnection) -> set[str]:
    """The warehouse's tables (in the connection's default database only)."""
    rows = conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
    ).fetchall()
    return {str(r[0]) for r in rows}


def has_column(conn: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    """Whether `table` has `column` (a warehouse from before the column was added has not).
    Run it outside an explicit transaction: the failed probe would abort one."""
    try:
        conn.execute(f'SELECT "{column}" FROM "{table}" LIMIT 0')
    except duckdb_module().BinderException:
        return False
    return True


def _open_file(path: Path, read_only: bool, wait: float) -> duckdb.DuckDBPyConnection:
    module = duckdb_module()
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    delay = 0.05
    while True:
        try:
            conn: duckdb.DuckDBPyConnection = module.connect(str(path), read_only=read_only)
            return conn
        except module.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def erase_deleted(
    conn: duckdb.DuckDBPyConnection, where: WarehouseLocation, tables: list[str]
) -> int:
    """Make rows just deleted from `tables` unreadable in the lake's files too (a purge), and
    return how many data files were removed. A DuckLake DELETE only writes a delete file: the
    rows stay in their Parquet file, and older snapshots still read them. So each file with
    deletes is rewritten without them, every snapshot before now is expired, and the files no
    current snapshot uses are deleted at once. This ends time travel to before the purge for
    every tenant, and a reader still on an older snapshot may find its files gone; a purge is
    rare and must leave nothing behind. A single DuckDB file has no snapshots, and nothing
    here rewrites it: a deleted row whose row group still holds other rows can stay in the
    file's bytes until DuckDB rewrites that block (README: "Deletes on a lake")."""
    if where.lake is None:
        return 0
    # Small inserts live in the catalog ("inlined"), deleted rows included until flushed.
    conn.execute(f"CALL ducklake_flush_inlined_data('{LAKE}')")
    for table in tables:
        conn.execute(
            f"CALL ducklake_rewrite_data_files('{LAKE}', '{table}', delete_threshold => 0)"
        )
    conn.execute(f"CALL ducklake_expire_snapshots('{LAKE}', older_than => now())")
    removed = conn.execute(
        f"CALL ducklake_cleanup_old_files('{LAKE}', cleanup_all => true)"
    ).fetchall()
    return len(removed)
