"""A circuit breaker for the request path's Redis calls, and the client they should use.

When Redis is down, every guard would otherwise pay a connect timeout (and redis-py's default
retries with backoff: about 4.5 s per call). After one failure the breaker stays open for
`cooldown` seconds: calls fail at once, without touching the network, and the guard applies
its fail mode. Then a single call is let through to probe (half-open); success closes it.
"""

from __future__ import annotations

import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from tenancy.redis_connect import connect

#: Failures that mean "Redis is unreachable", as opposed to a bad command. On a Redis Cluster
#: also: a node answering CLUSTERDOWN or a slot without a live owner (during a failover), and
#: redis-py's `RedisClusterException` when no node answers its topology refresh at all.
UNREACHABLE: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterError,
    redis.exceptions.RedisClusterException,
)


class CircuitOpenError(redis.exceptions.ConnectionError):
    """Raised instead of calling Redis while the breaker is open."""


class CircuitBreaker:
    """One breaker per Redis node: `node` names the server that owns the call's keys (see
    `node_of`; "" for a single server). On a Redis Cluster a dead primary then opens only its
    own breaker, and tenants whose keys live on the other nodes keep their exact decisions."""

    def __init__(self, cooldown: float = 1.0) -> None:
        self.cooldown = cooldown
        self._open_until: dict[str, float] = {}
        #: node -> when its probe's turn ends: a probe that never reports (it raised an error
        #: that is neither success nor "unreachable", e.g. a Redis OOM or READONLY reply, or
        #: its thread died) gives way to the next one after a cooldown, never blocks forever.
        self._probing: dict[str, float] = {}
        self._lock = threading.Lock()

    def before(self, node: str = "") -> None:
        """Raise `CircuitOpenError` while `node`'s breaker is open; let one probe through once
        its cooldown ends."""
        if not self._open_until:
            return
        with self._lock:
            until = self._open_until.get(node)
            if until is None:
                return
            now = time.monotonic()
            if now < until or now < self._probing.get(node, now):
                where = f" ({node})" if node else ""
                raise CircuitOpenError(
                    f"Redis{where} unreachable; retrying after {self.cooldown:g}s"
                )
            self._probing[node] = now + self.cooldown

    def succeeded(self, node: str = "") -> None:
        if self._open_until:
            with self._lock:
                self._open_until.pop(node, None)
                self._probing.pop(node, None)

    def failed(self, node: str = "") -> None:
        with self._lock:
            self._open_until[node] = time.monotonic() + self.cooldown
            self._probing.pop(node, None)

    @property
    def open(self) -> bool:
        """Whether any node's breaker is open."""
        return bool(self._open_until)

    def open_for(self, node: str = "") -> bool:
        return node in self._open_until


def node_of(client: redis.Redis, key: str) -> str:
    """The breaker name of the node that owns `key`: "host:port" on a Redis Cluster (from
    redis-py's slot map, so a promoted replica gets a breaker of its own), "" on one server."""
    if not isinstance(client, RedisCluster):
        return ""
    node = client.get_node_from_key(key)
    return str(node.name) if node is not None else ""


def guard_client(
    url: str,
    *,
    cluster: bool = False,
    connect_timeout: float = 0.05,
    timeout: float = 0.25,
) -> redis.Redis:
    """A Redis client for the request path: short timeouts and no hidden retries, so an
    unreachable Redis costs one short timeout before the breaker opens.

    With `cluster` (`TENANCY_REDIS_CLUSTER`), a `RedisCluster` with the same timeouts and no
    cluster-level retry: a call to a primary that is down fails after one connect attempt
    (redis-py then refreshes its slot map from the other nodes, so once a replica is
    promoted the next call reaches it). Unlike a single-server client, it reads the slot map
    when it is built, so the cluster must answer then."""
    return connect(
        url,
        cluster=cluster,
        socket_connect_timeout=connect_timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
    )
