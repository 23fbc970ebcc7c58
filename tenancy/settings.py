"""Process settings from the environment, read when asked for (never at import time)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tenancy.errors import ConfigurationError

_REGISTRY_VARS = (
    "TENANCY_DATABASE_URL",
    "TENANCY_APP_DATABASE_URL",
    "TENANCY_PLATFORM_DATABASE_URL",
)


@dataclass(frozen=True)
class Settings:
    """Where the registry and Redis live; all None means "use the local throwaway stack"."""

    database_url: str | None
    app_database_url: str | None
    platform_database_url: str | None
    redis_url: str | None
    run_dir: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        given = [name for name in _REGISTRY_VARS if env.get(name)]
        if given and len(given) != len(_REGISTRY_VARS):
            missing = [name for name in _REGISTRY_VARS if name not in given]
            raise ConfigurationError(
                f"{', '.join(given)} set but {', '.join(missing)} not; set all three "
                f"(migration owner, request path, control plane) or none for the local stack"
            )
        return cls(
            database_url=env.get("TENANCY_DATABASE_URL") or None,
            app_database_url=env.get("TENANCY_APP_DATABASE_URL") or None,
            platform_database_url=env.get("TENANCY_PLATFORM_DATABASE_URL") or None,
            redis_url=env.get("TENANCY_REDIS_URL") or None,
            run_dir=Path(env.get("TENANCY_RUN_DIR") or ".run"),
        )

    @property
    def uses_local_registry(self) -> bool:
        return self.database_url is None
