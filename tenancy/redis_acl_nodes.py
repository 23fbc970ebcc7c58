"""ACL changes on every node of a Redis Cluster, each node named in the outcome.

Each node keeps its own ACL table, so a user must be set on every primary and replica (a
replica promoted by a failover serves with its own table). The nodes are read from
`CLUSTER NODES` on the node the admin URL names, not from redis-py's slot map: the slot map
leaves out replicas that are down, and a change that skipped a node would be reported as
applied. Each node is then reached directly, with the admin URL's credentials and TLS
setting, and asked in turn; every node is tried even after one fails, so a retry has less
left to do, and `NodeApplyError` names every node that failed and why.

The changes are idempotent (`ACL SETUSER ... reset ...` redefines the user whole, `ACL
DELUSER` of a missing user is a no-op), so retrying a partial apply converges.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from tenancy.errors import ServiceError


@dataclass(frozen=True)
class ClusterMember:
    address: str  # host:port, as the cluster announces it
    role: str  # "primary" or "replica"
    flags: tuple[str, ...]


@dataclass(frozen=True)
class NodeFailure:
    member: ClusterMember
    error: str

    def __str__(self) -> str:
        flags = [f for f in self.member.flags if f in ("fail", "fail?", "noaddr", "handshake")]
        state = f", cluster flags {','.join(flags)}" if flags else ""
        return f"{self.member.role} {self.member.address}{state}: {self.error}"


class NodeApplyError(ServiceError):
    """An ACL change reached some nodes of the cluster but not all (`failed`); `applied`
    lists the nodes that have it. Retrying the same change converges."""

    def __init__(self, action: str, failed: list[NodeFailure], applied: list[str]) -> None:
        self.action = action
        self.failed = failed
        self.applied = applied
        done = ", ".join(applied) or "none"
        super().__init__(
            f"{action} failed on {len(failed)} of {len(failed) + len(applied)} Redis Cluster "
            f"node(s): {'; '.join(str(f) for f in failed)} (applied on: {done}); expected "
            "every node, primaries and replicas, to answer: bring the node back and retry"
        )


def cluster_members(seed: redis.Redis) -> list[ClusterMember]:
    """Every node the cluster knows (`CLUSTER NODES` on `seed`), failed ones included."""
    table: Any = seed.execute_command("CLUSTER", "NODES")  # type: ignore[no-untyped-call]
    if isinstance(table, bytes):
        table = table.decode()
    members = []
    for line in str(table).splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        address = fields[1].split("@", 1)[0]
        flags = tuple(fields[2].split(","))
        role = "replica" if "slave" in flags else "primary"
        members.append(ClusterMember(address, role, flags))
    return sorted(members, key=lambda m: (m.role != "primary", m.address))


def node_client(admin_url: str, address: str, **options: Any) -> redis.Redis:
    """A client for one node (host:port) with the admin URL's user, password and TLS."""
    pool = redis.ConnectionPool.from_url(admin_url)
    kwargs = {**pool.connection_kwargs, **options}
    pool.disconnect()
    host, _, port = address.rpartition(":")
    kwargs.update(host=host or "127.0.0.1", port=int(port))
    return redis.Redis(
        connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
    )


def on_every_node(
    admin_url: str,
    action: str,
    change: Callable[[redis.Redis], object],
    **options: Any,
) -> dict[str, object]:
    """Run `change` against every node of the cluster that `admin_url` names; the replies
    by node address. Raises `NodeApplyError` naming each node that failed, after trying
    them all; a seed node that cannot be asked fails before any change."""
    with node_client(admin_url, _address(admin_url), **options) as seed:
        try:
            members = cluster_members(seed)
        except redis.RedisError as exc:
            raise ServiceError(
                f"{action}: the Redis Cluster node of the admin URL ({_address(admin_url)}) "
                f"did not list the cluster's nodes: {exc}; expected a reachable node of a "
                "cluster (tenancy:redisCluster is true)"
            ) from exc
    replies: dict[str, object] = {}
    failed: list[NodeFailure] = []
    for member in members:
        try:
            with node_client(admin_url, member.address, **options) as client:
                replies[member.address] = change(client)
        except redis.RedisError as exc:
            failed.append(NodeFailure(member, f"{type(exc).__name__}: {exc}"))
    if failed:
        raise NodeApplyError(action, failed, sorted(replies))
    return replies


def _address(url: str) -> str:
    kwargs = redis.ConnectionPool.from_url(url).connection_kwargs
    return f"{kwargs.get('host', '127.0.0.1')}:{kwargs.get('port', 6379)}"
