"""A throwaway PostgreSQL cluster in a directory of its own, on a free loopback port.

PostgreSQL refuses to run as root, so when we are root the cluster is created and run as an
unprivileged system user (`postgres` when the Debian package made one, else `nobody`).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

from tenancy.devstack.binaries import PostgresBinaries, find_postgres
from tenancy.devstack.ports import free_port
from tenancy.errors import ServiceError

SUPERUSER = "postgres"
# Durability is pointless for a throwaway cluster and costs most of the test time.
THROWAWAY_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "256MB",
    "log_min_messages": "warning",
}


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise ServiceError(
        "running as root and no unprivileged user (postgres, nobody) to run PostgreSQL"
    )


class PostgresServer:
    """Create (once) and run a PostgreSQL cluster under `base_dir`."""

    def __init__(
        self, base_dir: Path, port: int | None = None, password: str | None = None
    ) -> None:
        self.base_dir = base_dir.resolve()
        self.data_dir = base_dir / "data"
        self.port = port or free_port()
        self.password = password or secrets.token_urlsafe(18)
        self._bins: PostgresBinaries | None = None
        self._user = _run_as()

    @property
    def bins(self) -> PostgresBinaries:
        if self._bins is None:
            self._bins = find_postgres()
        return self._bins

    def url(
        self, user: str = SUPERUSER, password: str | None = None, dbname: str = "postgres"
    ) -> str:
        secret = quote(password if password is not None else self.password, safe="")
        return f"postgresql://{quote(user, safe='')}:{secret}@127.0.0.1:{self.port}/{dbname}"

    @property
    def superuser_url(self) -> str:
        return self.url()

    def _run(self, *args: str, timeout: float = 120) -> None:
        result = subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            timeout=timeout,
            user=self._user,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(
                f"{Path(args[0]).name} failed (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-2000:]}"
            )

    def _chown(self, path: Path) -> None:
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def init(self) -> None:
        """Run initdb with password authentication if the cluster does not exist yet."""
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.base_dir.chmod(0o755)
        self._chown(self.base_dir)
        pwfile = self.base_dir / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        self._chown(pwfile)
        try:
            self._run(
                self.bins.tool("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            for key, value in THROWAWAY_SETTINGS.items():
                conf.write(f"{key} = {value}\n")
            # TCP only: a socket path under a deep run directory can pass the 107-byte limit.
            conf.write("unix_socket_directories = ''\n")

    def start(self) -> None:
        self.init()
        self._run(
            self.bins.tool("pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.base_dir / "server.log"),
            "-o",
            f"-p {self.port}",
            "-w",
            "-t",
            "60",
            "start",
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.superuser_url, connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise ServiceError(
                        f"PostgreSQL on port {self.port} never accepted: {exc}"
                    ) from exc
                time.sleep(0.1)

    def running(self) -> bool:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return False
        try:
            os.kill(int(pid_file.read_text().split()[0]), 0)
        except (OSError, ValueError, IndexError):
            return False
        return True

    def stop(self) -> None:
        if self.running():
            self._run(
                self.bins.tool("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"
            )

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)
