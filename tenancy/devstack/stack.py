"""The local stack: one throwaway PostgreSQL and one Redis under the run directory.

`services.json` (mode 0600) remembers ports and generated passwords, so later commands find
the same servers. Nothing here is meant for production; it is the embedded default.
"""

from __future__ import annotations

import json
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tenancy.audit_anchor_config import LOCAL_STORE_DIR
from tenancy.db.bootstrap import OWNER_ROLE, RUNTIME_ROLES, RegistryUrls, bootstrap
from tenancy.db.migrate import migrate
from tenancy.devstack.postgres import PostgresServer
from tenancy.devstack.redis import RedisServer
from tenancy.devstack.stripe_local import stop_local_stripe

DEFAULT_DATABASE = "tenancy"


@dataclass(frozen=True)
class LocalServices:
    superuser_url: str
    redis_url: str
    registry: RegistryUrls


class LocalStack:
    """Start, reuse and stop the throwaway servers under `run_dir`."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.state_file = run_dir / "services.json"
        state = self._load()
        self.postgres = PostgresServer(
            run_dir / "postgres",
            port=state.get("postgres_port"),
            password=state.get("postgres_password"),
        )
        self.redis = RedisServer(
            run_dir / "redis", port=state.get("redis_port"), password=state.get("redis_password")
        )
        self.role_passwords: dict[str, str] = state.get("role_passwords") or {
            role: secrets.token_urlsafe(18) for role in (OWNER_ROLE, *RUNTIME_ROLES)
        }

    def _load(self) -> dict[str, Any]:
        if not self.state_file.exists():
            return {}
        data: dict[str, Any] = json.loads(self.state_file.read_text())
        return data

    def _save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.chmod(0o755)
        state = {
            "postgres_port": self.postgres.port,
            "postgres_password": self.postgres.password,
            "redis_port": self.redis.port,
            "redis_password": self.redis.password,
            "role_passwords": self.role_passwords,
        }
        self.state_file.write_text(json.dumps(state, indent=2))
        self.state_file.chmod(0o600)

    def up(self, database: str = DEFAULT_DATABASE) -> LocalServices:
        """Start whatever is not running, then bootstrap and migrate `database`."""
        self._save()
        if not self.postgres.running():
            self.postgres.start()
        if not self.redis.running():
            self.redis.start()
        registry = bootstrap(self.postgres.superuser_url, database, self.role_passwords)
        migrate(registry.owner)
        return LocalServices(self.postgres.superuser_url, self.redis.url, registry)

    def fresh_database(self, database: str) -> RegistryUrls:
        """Drop `database` if it exists and create it migrated: a throwaway registry."""
        self.up()
        with psycopg.connect(self.postgres.superuser_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
        if database == DEFAULT_DATABASE:
            # The local profile's audit anchors vouch for the registry just dropped.
            shutil.rmtree(self.run_dir / LOCAL_STORE_DIR, ignore_errors=True)
        registry = bootstrap(self.postgres.superuser_url, database, self.role_passwords)
        migrate(registry.owner)
        return registry

    def running(self) -> dict[str, bool]:
        return {"postgres": self.postgres.running(), "redis": self.redis.running()}

    def down(self) -> None:
        self.postgres.stop()
        self.redis.stop()
        stop_local_stripe(self.run_dir)
