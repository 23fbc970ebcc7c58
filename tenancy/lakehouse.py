"""The warehouse as a DuckLake: Parquet data files plus a SQL catalog, so several processes can
write it at once through the catalog's transactions.

The catalog is a PostgreSQL database (`postgres:<libpq string or URL>`) or, for one process at a
time, a DuckDB catalog file; the data files live in a local directory or under `s3://` (httpfs).
Extensions come from the `duckdb-extension-*` Python packages, never from a download at run time,
and must match the running DuckDB exactly. `duckdb` (dependency group `pipelines`) is imported
only when a lake is opened, so the core's other commands run without it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenancy.errors import ConfigurationError

if TYPE_CHECKING:
    import duckdb

#: The lake's name inside a connection; `USE lake` makes every unqualified table a lake table.
LAKE = "lake"


class ExtensionError(ConfigurationError):
    """A DuckDB extension package is missing or built for another DuckDB release."""


def duckdb_module() -> Any:
    """The `duckdb` module, or an error naming the dependency group that brings it."""
    try:
        import duckdb
    except ImportError:
        raise ConfigurationError(
            "the usage warehouse needs the `duckdb` package (dependency group `pipelines`)"
        ) from None
    return duckdb


@dataclass(frozen=True)
class Extension:
    name: str  # as DuckDB calls it (the file's stem)
    package: str  # the PyPI distribution that ships it

    @property
    def module(self) -> str:
        return self.package.replace("-", "_")

    def path(self) -> Path:
        """The installed extension file for the running DuckDB, or an error that names the
        packages to align."""
        wanted = duckdb_module().__version__
        try:
            installed = importlib.metadata.version(self.package)
            module = importlib.import_module(self.module)
        except (importlib.metadata.PackageNotFoundError, ImportError) as exc:
            raise ExtensionError(
                f"the DuckDB extension {self.name!r} needs the Python package {self.package}"
                f"=={wanted} (DuckDB extensions cannot be downloaded at run time)"
            ) from exc
        if installed != wanted:
            raise ExtensionError(
                f"{self.package} is {installed} but duckdb is {wanted}; an extension loads only "
                f"into the DuckDB release it was built for: pin duckdb and {self.package} to "
                f"the same version"
            )
        assert module.__file__ is not None
        path = (
            Path(module.__file__).parent
            / "extensions"
            / f"v{wanted}"
            / f"{self.name}.duckdb_extension"
        )
        if not path.is_file():
            raise ExtensionError(f"{self.package} {installed} has no extension file at {path}")
        return path


DUCKLAKE = Extension("ducklake", "duckdb-extension-ducklake")
POSTGRES = Extension("postgres_scanner", "duckdb-extension-postgres-scanner")
HTTPFS = Extension("httpfs", "duckdb-extension-httpfs")


def load(conn: duckdb.DuckDBPyConnection, extension: Extension) -> None:
    conn.execute(f"LOAD '{_literal(str(extension.path()))}'")


@dataclass(frozen=True)
class S3Access:
    """How httpfs reaches the bucket; `endpoint` is for S3-compatible stores (host:port)."""

    region: str
    key_id: str = ""
    secret: str = ""
    endpoint: str = ""
    use_ssl: bool = True


def takes_concurrent_writers(catalog: str) -> bool:
    """Whether a lake with this catalog takes several writing processes at once: a
    PostgreSQL catalog does; a DuckDB catalog file is held by one process at a time."""
    return catalog.startswith("postgres:")


@dataclass(frozen=True)
class LakeLocation:
    """Where the lake lives: the catalog and the data files' root."""

    catalog: str  # "postgres:<conninfo>" or a DuckDB catalog file path
    data: str  # a directory or s3://bucket/prefix/
    s3: S3Access | None = None

    def __post_init__(self) -> None:
        if not self.catalog:
            raise ValueError("catalog is empty; expected postgres:<conninfo> or a file path")
        if not self.data:
            raise ValueError("data is empty; expected a directory or s3://bucket/prefix/")
        if self.data.startswith("s3://") and self.s3 is None:
            raise ValueError(f"data is {self.data!r} but no S3 access is configured")

    @property
    def on_postgres(self) -> bool:
        return takes_concurrent_writers(self.catalog)

    def attach_target(self) -> str:
        return f"ducklake:{self.catalog}"

    def data_path(self, create: bool = True) -> str:
        if self.data.startswith("s3://"):
            return self.data.rstrip("/") + "/"
        path = Path(self.data)
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return str(path.resolve()) + "/"

    def exists(self) -> bool:
        """False only for a catalog file not created yet (no run wrote this lake); a
        PostgreSQL catalog is asked when attached."""
        return self.on_postgres or Path(self.catalog).is_file()

    def describe(self) -> str:
        """For messages and records: never the catalog's connection string (it may hold a
        password)."""
        catalog = "a PostgreSQL catalog" if self.on_postgres else f"catalog {self.catalog}"
        return f"DuckLake ({catalog}, data {self.data})"


def attach(
    conn: duckdb.DuckDBPyConnection,
    where: LakeLocation,
    *,
    read_only: bool = False,
    lock_wait_seconds: float = 0.0,
) -> None:
    """Load the extensions this lake needs, attach it as `lake` and make it the default.

    A DuckDB catalog file is held by one process at a time (readers may share it): another
    process's attach waits for it up to `lock_wait_seconds`, then fails with DuckDB's error.
    """
    module = duckdb_module()
    load(conn, DUCKLAKE)
    # Two writers committing at once collide on the next snapshot id even when their changes
    # do not conflict; DuckLake then retries the commit itself, by default after 100 ms
    # (x1.5 each time). A catalog commit takes a few milliseconds, so start far shorter.
    conn.execute("SET ducklake_retry_wait_ms = 10")
    conn.execute("SET ducklake_retry_backoff = 1.5")
    conn.execute("SET ducklake_max_retry_count = 30")
    if where.on_postgres:
        load(conn, POSTGRES)
    elif not read_only:
        Path(where.catalog).parent.mkdir(parents=True, exist_ok=True)
    if where.s3 is not None:
        load(conn, HTTPFS)
        s3 = where.s3
        options = ["TYPE s3", f"REGION '{_literal(s3.region)}'"]
        if s3.key_id:
            options += [f"KEY_ID '{_literal(s3.key_id)}'", f"SECRET '{_literal(s3.secret)}'"]
        if s3.endpoint:
            options += [f"ENDPOINT '{_literal(s3.endpoint)}'", "URL_STYLE 'path'"]
        options.append(f"USE_SSL {str(s3.use_ssl).lower()}")
        conn.execute(f"CREATE OR REPLACE SECRET lake_s3 ({', '.join(options)})")
    data = where.data_path(create=not read_only)
    statement = (
        f"ATTACH '{_literal(where.attach_target())}' AS {LAKE} "
        f"(DATA_PATH '{_literal(data)}'{', READ_ONLY' if read_only else ''})"
    )
    deadline = time.monotonic() + lock_wait_seconds
    delay, attempt = 0.05, 0
    while True:
        attempt += 1
        try:
            conn.execute(statement)
            break
        except module.Error as exc:
            message = str(exc)
            if "Could not set lock" in message and time.monotonic() < deadline:
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            # Two processes attaching a new catalog both create its tables; the loser fails
            # and finds the tables on its next attempt.
            if "Failed to initialize DuckLake" not in message or attempt >= 5:
                raise
            time.sleep(0.2 * attempt)
    conn.execute(f"USE {LAKE}")


def connect(
    where: LakeLocation, *, read_only: bool = False, lock_wait_seconds: float = 0.0
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB session with the lake attached as its default database."""
    conn: duckdb.DuckDBPyConnection = duckdb_module().connect()
    try:
        attach(conn, where, read_only=read_only, lock_wait_seconds=lock_wait_seconds)
    except BaseException:
        conn.close()
        raise
    return conn


def _literal(text: str) -> str:
    """The body of a SQL string literal (ATTACH, LOAD and CREATE SECRET take no parameters)."""
    return text.replace("'", "''")
