"""A throwaway Redis Cluster for tests and benchmarks: primaries on loopback ports, each in
its own directory with its nodes.conf and an append-only file fsynced on every write, so a
node killed with SIGKILL restarts on its port with every write it acknowledged."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import redis
from redis.cluster import ClusterNode, RedisCluster

from tenancy.devstack.binaries import find_redis
from tenancy.devstack.ports import free_port
from tenancy.errors import ServiceError

SLOTS = 16384


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too; Redis refuses a cluster
    port above 55535 for that reason."""
    while True:
        port = free_port()
        if port <= 55535 and _free(port + 10000):
            return port


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class ClusterNodeServer:
    def __init__(self, base_dir: Path, port: int, password: str, fsync: str = "always") -> None:
        self.dir = base_dir / str(port)
        self.fsync = fsync
        self.port = port
        self.password = password
        self.pid_file = self.dir / "redis.pid"

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "redis.conf"
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\nrequirepass {self.password}\n"
            f"masterauth {self.password}\ncluster-enabled yes\n"
            f"cluster-config-file {self.dir / 'nodes.conf'}\ncluster-node-timeout 2000\n"
            # The other shards keep serving while one primary is down.
            "cluster-require-full-coverage no\n"
            f'save ""\nappendonly yes\nappendfsync {self.fsync}\ndaemonize yes\n'
            f"dir {self.dir}\npidfile {self.pid_file}\nlogfile {self.dir / 'redis.log'}\n"
        )
        conf.chmod(0o600)
        subprocess.run([find_redis().server, str(conf)], check=True, timeout=30)
        deadline = time.monotonic() + 20
        while True:
            try:
                with redis.Redis(
                    host="127.0.0.1", port=self.port, password=self.password, socket_timeout=2
                ) as c:
                    c.ping()
                    return
            except redis.RedisError as exc:
                if time.monotonic() > deadline:
                    raise ServiceError(f"cluster node {self.port} never answered: {exc}") from exc
                time.sleep(0.05)

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def kill(self) -> None:
        """SIGKILL: no shutdown save, only what the append-only file already holds."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL)
        while self.pid() is not None:
            time.sleep(0.02)
        self.pid_file.unlink(missing_ok=True)

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while self.pid() is not None and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.pid() is not None:
                self.kill()


class RedisClusterServer:
    """`size` primaries (no replicas), each owning a contiguous range of the slots."""

    def __init__(self, base_dir: Path, size: int = 3, fsync: str = "always") -> None:
        """`fsync`: the nodes' `appendfsync`; "always" loses no acknowledged write to a kill."""
        self.base_dir = base_dir
        self.password = secrets.token_urlsafe(18)
        self.nodes = [
            ClusterNodeServer(base_dir, _cluster_port(), self.password, fsync) for _ in range(size)
        ]

    @property
    def url(self) -> str:
        return f"redis://default:{quote(self.password, safe='')}@127.0.0.1:{self.nodes[0].port}/0"

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        # What `redis-cli --cluster create` does, through redis-py: split the 16384 slots
        # into contiguous ranges, one per node, then introduce the nodes to each other.
        size = len(self.nodes)
        for i, node in enumerate(self.nodes):
            with redis.Redis(host="127.0.0.1", port=node.port, password=self.password) as c:
                c.execute_command(
                    "CLUSTER", "ADDSLOTSRANGE", i * SLOTS // size, (i + 1) * SLOTS // size - 1
                )
        with redis.Redis(host="127.0.0.1", port=self.nodes[0].port, password=self.password) as c:
            for node in self.nodes[1:]:
                c.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)
        self.wait_ok()

    def wait_ok(self, timeout: float = 30) -> None:
        """Until every node reports `cluster_state:ok` and knows every other as connected."""
        deadline = time.monotonic() + timeout
        while True:
            states = []
            for node in self.nodes:
                try:
                    with redis.Redis(
                        host="127.0.0.1", port=node.port, password=self.password, socket_timeout=2
                    ) as c:
                        info = c.cluster("info")
                        states.append(
                            info["cluster_state"] == "ok"
                            and int(info["cluster_known_nodes"]) == len(self.nodes)
                        )
                except redis.RedisError:
                    states.append(False)
            if all(states):
                return
            if time.monotonic() > deadline:
                raise ServiceError(f"the cluster never became ok: {states}")
            time.sleep(0.1)

    def client(self, **options: object) -> RedisCluster:
        return RedisCluster(
            startup_nodes=[ClusterNode("127.0.0.1", n.port) for n in self.nodes],  # type: ignore[no-untyped-call]
            password=self.password,
            **options,  # type: ignore[arg-type]
        )

    def node_of(self, client: RedisCluster, key: str) -> ClusterNodeServer:
        port = client.get_node_from_key(key).port  # type: ignore[no-untyped-call]
        return next(n for n in self.nodes if n.port == port)

    def destroy(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)
