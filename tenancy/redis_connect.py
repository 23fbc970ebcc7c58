"""A Redis client for a URL: one server, or a Redis Cluster when `TENANCY_REDIS_CLUSTER` says so.

redis-py's `RedisCluster` routes each command to the node owning its key's slot and follows
MOVED/ASK redirections after a failover or a resharding; it offers the same command methods as
`redis.Redis`, so the code on top takes either. Commands of one call (a script's keys, a
MULTI) must share a slot there: see the hash tags in `tenancy.redis_keys` and
`tenancy.usage.shards`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import redis
from redis.cluster import RedisCluster

from tenancy.errors import ConfigurationError

CLUSTER_VARIABLE = "TENANCY_REDIS_CLUSTER"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def cluster_mode(environ: Mapping[str, str]) -> bool:
    """Whether `TENANCY_REDIS_CLUSTER` asks for a cluster client (unset: no)."""
    text = (environ.get(CLUSTER_VARIABLE) or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(
        f"{CLUSTER_VARIABLE} is {text!r}; expected true or false (whether the Redis URL is "
        "a node of a Redis Cluster)"
    )


def connect(url: str, *, cluster: bool, **options: Any) -> redis.Redis:
    """A client for `url`: with `cluster`, a `RedisCluster` that discovers the other nodes
    from this one (typed as `redis.Redis`, whose command methods it shares)."""
    if cluster:
        return cast(redis.Redis, RedisCluster.from_url(url, **options))
    return redis.Redis.from_url(url, **options)


def is_cluster(client: object) -> bool:
    return isinstance(client, RedisCluster)
