"""A throwaway Redis Cluster for tests and benchmarks: primaries (and optionally replicas) on
loopback ports, each in its own directory with its nodes.conf and an append-only file fsynced
on every write, so a node killed with SIGKILL restarts on its port with every write it
acknowledged (replication to the replicas stays asynchronous, as in production)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
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
    def __init__(
        self,
        base_dir: Path,
        port: int,
        password: str,
        fsync: str = "always",
        node_timeout_ms: int = 2000,
        aclfile: bool = False,
    ) -> None:
        self.dir = base_dir / str(port)
        self.fsync = fsync
        self.port = port
        self.password = password
        self.node_timeout_ms = node_timeout_ms
        self.pid_file = self.dir / "redis.pid"
        # With an aclfile, users live in `users.acl` (written by ACL SAVE, read at start).
        self.aclfile = self.dir / "users.acl" if aclfile else None

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "redis.conf"
        acl = ""
        if self.aclfile is not None:
            if not self.aclfile.exists():
                # An aclfile replaces requirepass: the default user's password goes in it.
                self.aclfile.touch(mode=0o600)
                self.aclfile.write_text(f"user default on >{self.password} ~* &* +@all\n")
            acl = f"aclfile {self.aclfile}\n"
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\nrequirepass {self.password}\n"
            f"masterauth {self.password}\n{acl}cluster-enabled yes\n"
            f"cluster-config-file {self.dir / 'nodes.conf'}\n"
            f"cluster-node-timeout {self.node_timeout_ms}\n"
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
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

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
        """SIGTERM, then SIGKILL after 10 s. Waits on the process, not its pid file: a node
        may drop the file while its shutdown is still saving, or refuse to exit when the save
        fails, and would then outlive its removed directory."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.02)
        self.pid_file.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user took the pid: ours is gone
        return False
    # A daemonized node that exited is a zombie until init reaps it (some inits poll for
    # that every few seconds); it answers signals but is gone.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc to ask: the signal's answer stands
    return state not in ("Z", "X")


class RedisClusterServer:
    """`size` primaries, each owning a contiguous range of the slots, and `replicas` replicas
    of each (the first `size` nodes start as the primaries)."""

    def __init__(
        self,
        base_dir: Path,
        size: int = 3,
        fsync: str = "always",
        *,
        replicas: int = 0,
        node_timeout_ms: int = 2000,
        aclfile: bool = False,
    ) -> None:
        """`fsync`: the nodes' `appendfsync`; "always" loses no acknowledged write to a kill.
        `node_timeout_ms`: how long a primary may be unreachable before its replica is
        promoted. `aclfile`: each node keeps its ACL users in a file (ACL SAVE / restart)."""
        self.base_dir = base_dir
        self.size = size
        self.password = secrets.token_urlsafe(18)
        self.nodes = [
            ClusterNodeServer(
                base_dir, _cluster_port(), self.password, fsync, node_timeout_ms, aclfile
            )
            for _ in range(size * (1 + replicas))
        ]

    @property
    def url(self) -> str:
        return f"redis://default:{quote(self.password, safe='')}@127.0.0.1:{self.nodes[0].port}/0"

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        # What `redis-cli --cluster create` does, through redis-py: split the 16384 slots
        # into contiguous ranges, one per node, then introduce the nodes to each other.
        size = self.size
        for i, node in enumerate(self.nodes[:size]):
            with self._admin(node) as c:
                c.execute_command(
                    "CLUSTER", "ADDSLOTSRANGE", i * SLOTS // size, (i + 1) * SLOTS // size - 1
                )
        with self._admin(self.nodes[0]) as c:
            for node in self.nodes[1:]:
                c.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)
        replicas = self.nodes[size:]
        if replicas:
            self._wait(lambda: all(self._known(n) == len(self.nodes) for n in replicas))
            for i, node in enumerate(replicas):
                with self._admin(self.nodes[i % size]) as c:
                    primary_id = c.execute_command("CLUSTER", "MYID")
                with self._admin(node) as c:
                    c.execute_command("CLUSTER", "REPLICATE", primary_id)
            # A replica that never synced cannot be promoted: wait for every link.
            self._wait(lambda: all(self._linked(n) for n in replicas))
        self.wait_ok()

    def _admin(self, node: ClusterNodeServer) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=node.port, password=self.password, socket_timeout=2
        )

    def _known(self, node: ClusterNodeServer) -> int:
        with self._admin(node) as c:
            return int(c.cluster("info")["cluster_known_nodes"])

    def _linked(self, node: ClusterNodeServer) -> bool:
        with self._admin(node) as c:
            return bool(c.info("replication").get("master_link_status") == "up")

    def _wait(self, done: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise ServiceError("the cluster's nodes never met and synced")
            time.sleep(0.05)

    def primaries(self) -> list[ClusterNodeServer]:
        """The nodes that are primaries now (after a failover, a former replica is one)."""
        out = []
        for node in self.nodes:
            try:
                with self._admin(node) as c:
                    if c.info("replication").get("role") == "master":
                        out.append(node)
            except redis.RedisError:
                continue
        return out

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
