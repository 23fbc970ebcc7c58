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
    def __init__(self, cooldown: float = 1.0) -> None:
        self.cooldown = cooldown
        self._open_until = 0.0
        self._probing = False
        self._lock = threading.Lock()

    def before(self) -> None:
        """Raise `CircuitOpenError` while open; let one probe through once the cooldown ends."""
        if self._open_until == 0.0:
            return
        with self._lock:
            now = time.monotonic()
            if now < self._open_until or self._probing:
                raise CircuitOpenError(f"Redis unreachable; retrying after {self.cooldown:g}s")
            self._probing = True

    def succeeded(self) -> None:
        if self._open_until:
            with self._lock:
                self._open_until, self._probing = 0.0, False

    def failed(self) -> None:
        with self._lock:
            self._open_until = time.monotonic() + self.cooldown
            self._probing = False

    @property
    def open(self) -> bool:
        return self._open_until != 0.0


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
