"""A throwaway Redis for benchmarks."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from bench.common import scratch_dir
from tenancy.devstack.redis import RedisServer


@contextmanager
def throwaway_redis() -> Iterator[redis.Redis]:
    base = scratch_dir("bench-redis-")
    server = RedisServer(base / "redis")
    server.start()
    try:
        client = redis.Redis.from_url(server.url)
        yield client
        client.close()
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
