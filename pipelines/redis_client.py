"""The Redis client every asset uses: the `RedisResource`'s, or with `TENANCY_REDIS_CLUSTER`
set, a Redis Cluster client for the same URL (any node of the cluster), which routes each key
to the node holding its slot."""

from __future__ import annotations

import redis

from pipelines.resources import RedisResource
from tenancy.errors import ConfigurationError
from tenancy.redis_connect import CLUSTER_VARIABLE, cluster_mode, connect
from tenancy.settings import Settings


def redis_client(resource: RedisResource) -> redis.Redis:
    settings = Settings.from_env()
    if not cluster_mode(settings.extra or {}):
        return resource.client()
    url = resource.url or settings.redis()
    if not url:
        raise ConfigurationError(
            f"{CLUSTER_VARIABLE} is set but TENANCY_REDIS_URL is not; expected the URL of a "
            "node of the Redis Cluster (the local stack runs a single server)"
        )
    return connect(url, cluster=True, socket_timeout=30, socket_connect_timeout=10)
