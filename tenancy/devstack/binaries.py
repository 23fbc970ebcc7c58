"""Find PostgreSQL >= 15 and Redis >= 7 server binaries on this machine."""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tenancy.errors import ConfigurationError

MIN_POSTGRES = 15
MIN_REDIS = 7
INSTALL_HINT = "sudo apt-get install -y postgresql redis-server  (or run `make deps` as root)"


@dataclass(frozen=True)
class PostgresBinaries:
    bindir: Path
    major: int

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


@dataclass(frozen=True)
class RedisBinaries:
    server: str
    major: int


def _version(command: list[str], pattern: str) -> int | None:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(pattern, out)
    return int(match.group(1)) if match else None


def find_postgres() -> PostgresBinaries:
    """The newest PostgreSQL server install >= 15, from Debian's layout or PATH."""
    candidates = {Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")}
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.add(Path(on_path).resolve().parent)
    found: list[PostgresBinaries] = []
    for bindir in candidates:
        if not (bindir / "initdb").exists() or not (bindir / "postgres").exists():
            continue
        major = _version([str(bindir / "pg_ctl"), "--version"], r"\(PostgreSQL\) (\d+)")
        if major is not None and major >= MIN_POSTGRES:
            found.append(PostgresBinaries(bindir, major))
    if not found:
        raise ConfigurationError(
            f"no PostgreSQL >= {MIN_POSTGRES} server found (looked for initdb/pg_ctl/postgres "
            f"under /usr/lib/postgresql/*/bin and on PATH); install it with: {INSTALL_HINT}"
        )
    return max(found, key=lambda b: b.major)


def find_redis() -> RedisBinaries:
    """A redis-server >= 7 on PATH."""
    server = shutil.which("redis-server")
    major = _version([server, "--version"], r"v=(\d+)\.") if server else None
    if server is None or major is None or major < MIN_REDIS:
        seen = f" (found major version {major})" if major is not None else ""
        raise ConfigurationError(
            f"no redis-server >= {MIN_REDIS} on PATH{seen}; install it with: {INSTALL_HINT}"
        )
    return RedisBinaries(server, major)
