"""Process settings from the environment, read when asked for (never at import time).

Two profiles. `TENANCY_PROFILE=local` (what `make demo`, `make ui` and the tests select) runs
on throwaway servers the project starts itself under `TENANCY_RUN_DIR`, for every setting
left unset. Any other deployment (the default, `production`) must configure everything it
uses: a missing setting is a `ConfigurationError` naming the variable, never a silent local
server that would report success on an empty registry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tenancy.errors import ConfigurationError

PROFILE_VAR = "TENANCY_PROFILE"
PROFILES = ("local", "production")

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
    profile: str = "production"
    extra: Mapping[str, str] | None = None  # other TENANCY_* variables, for `path`

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        profile = env.get(PROFILE_VAR) or "production"
        if profile not in PROFILES:
            raise ConfigurationError(
                f"{PROFILE_VAR} is {profile!r}; expected one of: {', '.join(PROFILES)}"
            )
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
            profile=profile,
            extra={k: v for k, v in env.items() if k.startswith("TENANCY_") and v},
        )

    @property
    def local(self) -> bool:
        """The local profile: unset settings fall back to throwaway local servers."""
        return self.profile == "local"

    @property
    def uses_local_registry(self) -> bool:
        """No registry configured, in the local profile; outside it, an error naming the
        variable (see `require_registry`)."""
        if self.database_url is None:
            self.require_local("TENANCY_DATABASE_URL", "the registry (the three database URLs)")
            return True
        return False

    def require_local(self, variable: str, what: str) -> None:
        """Raise unless the local profile may stand in for `variable`."""
        if not self.local:
            raise ConfigurationError(
                f"{variable} is not set; expected {what}. Outside the local profile every "
                f"setting must be given (set {PROFILE_VAR}=local for throwaway local servers)"
            )

    def redis(self) -> str | None:
        """The configured Redis URL, or None in the local profile (use the local stack)."""
        if self.redis_url is None:
            self.require_local("TENANCY_REDIS_URL", "the Redis URL of the runtime guards")
        return self.redis_url

    def path(self, variable: str, default: str, what: str) -> Path:
        """A file or directory: `variable` if set, else `<run dir>/<default>` in the local
        profile, else an error naming the variable."""
        value = (self.extra or {}).get(variable)
        if value:
            return Path(value)
        self.require_local(variable, what)
        return self.run_dir / default
