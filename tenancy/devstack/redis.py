"""A throwaway Redis server on a free loopback port, with a password on the default user."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

from tenancy.devstack.binaries import find_redis
from tenancy.devstack.ports import free_port
from tenancy.errors import ServiceError


class RedisServer:
    """Run `redis-server` daemonized with its pid, log and (empty) data under `base_dir`."""

    def __init__(
        self,
        base_dir: Path,
        port: int | None = None,
        password: str | None = None,
        aclfile: bool = False,
    ) -> None:
        self.base_dir = base_dir.resolve()
        self.port = port or free_port()
        self.password = password or secrets.token_urlsafe(18)
        self.pid_file = base_dir / "redis.pid"
        # With an aclfile, users live in `users.acl` (written by ACL SAVE, read at start).
        self.aclfile = self.base_dir / "users.acl" if aclfile else None

    @property
    def url(self) -> str:
        return f"redis://default:{quote(self.password, safe='')}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        conf = self.base_dir / "redis.conf"
        # The password lives in a 0600 file, not on a command line that `ps` shows.
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\nrequirepass {self.password}\n"
            f'save ""\nappendonly no\ndaemonize yes\ndir {self.base_dir}\n'
            f"pidfile {self.pid_file}\nlogfile {self.base_dir / 'redis.log'}\n"
        )
        if self.aclfile is not None:
            if not self.aclfile.exists():
                self.aclfile.touch(mode=0o600)
            with conf.open("a") as out:
                out.write(f"aclfile {self.aclfile}\n")
        conf.chmod(0o600)
        result = subprocess.run(
            [find_redis().server, str(conf)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(
                f"redis-server failed (exit {result.returncode}): {result.stderr.strip()}"
            )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 20) -> None:
        import redis

        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url, socket_timeout=2)
        while True:
            try:
                client.ping()
                client.close()
                return
            except redis.RedisError as exc:
                if time.monotonic() > deadline:
                    log = self.base_dir / "redis.log"
                    tail = log.read_text().strip().splitlines()[-3:] if log.exists() else []
                    raise ServiceError(
                        f"Redis on port {self.port} never answered ({exc}); its log ends: {' | '.join(tail)}"
                    ) from exc
                time.sleep(0.05)

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return self._answering_pid()
        return pid

    def _answering_pid(self) -> int | None:
        """The pid of our server if it answers on our port with our password.

        Redis deletes its pid file when it exits, including a second instance that failed to
        bind the same port, so the file alone cannot tell whether ours is still up.
        """
        import redis

        try:
            with redis.Redis.from_url(
                self.url, socket_timeout=1, socket_connect_timeout=1
            ) as client:
                return int(client.info("server")["process_id"])
        except (redis.RedisError, KeyError, ValueError):
            return None

    def running(self) -> bool:
        return self._pid() is not None

    def stop(self, timeout: float = 10) -> None:
        pid = self._pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self._pid() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._pid() is not None:
            os.kill(pid, signal.SIGKILL)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)
