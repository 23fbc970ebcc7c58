"""One Redis Cluster for the whole session (starting it takes about a second); each test
starts from an empty keyspace and no tenant ACL users."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from redis.cluster import RedisCluster

from pipelines.resources import UsageWarehouse
from tenancy.devstack.redis_cluster import RedisClusterServer


def own_dir(run_dir: Path, prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=run_dir))
    path.chmod(0o755)  # as run_dir: readable by the servers whatever user they run as
    return path


@pytest.fixture(scope="session")
def redis_cluster(run_dir: Path) -> Iterator[RedisClusterServer]:
    # A directory of its own: a module that imports this fixture gets a second session
    # instance, and two clusters sharing a directory would delete each other's pid files,
    # so the second could never be stopped.
    cluster = RedisClusterServer(own_dir(run_dir, "redis-cluster-"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def cluster_client(redis_cluster: RedisClusterServer) -> Iterator[RedisCluster]:
    redis_cluster.wait_ok()  # a test that restarted a node leaves the cluster healing
    client = redis_cluster.client()
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    for name in client.execute_command("ACL", "USERS", target_nodes=RedisCluster.RANDOM):
        if name.decode() != "default":
            client.execute_command("ACL", "DELUSER", name, target_nodes=RedisCluster.ALL_NODES)
    yield client
    client.close()


@pytest.fixture(scope="module")
def replicated_cluster(run_dir: Path) -> Iterator[RedisClusterServer]:
    """Three primaries and a replica each, a one-second node timeout (a dead primary's replica
    is promoted within a few seconds) and an aclfile per node; started only by the modules
    that ask for it."""
    cluster = RedisClusterServer(
        own_dir(run_dir, "redis-replicated-"),
        replicas=1,
        node_timeout_ms=1000,
        aclfile=True,
    )
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A single-file warehouse for the drains of a cluster test."""
    with UsageWarehouse(
        database=str(tmp_path / "usage.duckdb"), memory_limit="1GB"
    ).connection() as c:
        yield c
