"""Throwaway servers for the whole run: one PostgreSQL cluster and one Redis, on free ports.

Each test that needs the registry gets its own database, cloned from a migrated template.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql

from tenancy.db.bootstrap import OWNER_ROLE, RUNTIME_ROLES, RegistryUrls, bootstrap, role_url
from tenancy.db.migrate import migrate
from tenancy.db.session import Database
from tenancy.devstack.ports import free_port
from tenancy.devstack.postgres import PostgresServer
from tenancy.devstack.redis import RedisServer
from tests.support import wait_for_http

ROLE_PASSWORDS = {role: f"{role}-test-secret" for role in (OWNER_ROLE, *RUNTIME_ROLES)}


def pytest_configure(config: pytest.Config) -> None:
    """The tests run in the local profile (throwaway servers for what they leave unset), as
    `make test` documents; tests of production behaviour pass their own environment."""
    os.environ["TENANCY_PROFILE"] = "local"


TEMPLATE_DB = "tenancy_template"


@pytest.fixture(scope="session")
def run_dir() -> Iterator[Path]:
    # mkdtemp is 0700; the cluster runs as an unprivileged user when we are root.
    path = Path(tempfile.mkdtemp(prefix="tenancy-tests-"))
    path.chmod(0o755)
    yield path


@pytest.fixture(scope="session")
def postgres(run_dir: Path) -> Iterator[PostgresServer]:
    server = PostgresServer(run_dir / "postgres")
    server.start()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def redis_server(run_dir: Path) -> Iterator[RedisServer]:
    server = RedisServer(run_dir / "redis")
    server.start()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def registry_template(postgres: PostgresServer) -> str:
    urls = bootstrap(postgres.superuser_url, TEMPLATE_DB, ROLE_PASSWORDS)
    migrate(urls.owner)
    return TEMPLATE_DB


@pytest.fixture
def registry(postgres: PostgresServer, registry_template: str) -> Iterator[RegistryUrls]:
    """A freshly migrated registry database of this test's own."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres.superuser_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(registry_template), sql.Identifier(OWNER_ROLE)
            )
        )
    urls = bootstrap(postgres.superuser_url, name, ROLE_PASSWORDS)
    yield urls
    with psycopg.connect(postgres.superuser_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def db(registry: RegistryUrls) -> Iterator[Database]:
    database = Database(registry.app, registry.platform, max_size=4)
    yield database
    database.close()


@pytest.fixture
def cli_env(registry: RegistryUrls, monkeypatch: pytest.MonkeyPatch) -> RegistryUrls:
    """Point the `tenancy` command at this test's registry."""
    monkeypatch.setenv("TENANCY_DATABASE_URL", registry.owner)
    monkeypatch.setenv("TENANCY_APP_DATABASE_URL", registry.app)
    monkeypatch.setenv("TENANCY_PLATFORM_DATABASE_URL", registry.platform)
    return registry


@pytest.fixture
def superuser(postgres: PostgresServer, registry: RegistryUrls) -> Iterator[psycopg.Connection]:
    """A superuser connection to the test's registry: the attacker who can bypass privileges."""
    dbname = psycopg.conninfo.conninfo_to_dict(registry.app)["dbname"]
    url = role_url(postgres.superuser_url, "postgres", postgres.password, str(dbname))
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """The session's Redis, emptied for this test (data, scripts and ACL users)."""
    client = redis.Redis.from_url(redis_server.url, socket_timeout=10)
    client.flushall()
    client.script_flush()
    yield client
    client.close()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto_server (S3, KMS) on a free loopback port, for the whole run."""
    port = free_port()
    server = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/moto-api/", proc, 30, lambda: "moto_server did not start")
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=10)
