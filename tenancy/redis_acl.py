"""Per-tenant Redis ACL users: their key pattern and the explicit command allow-list.

ACL categories are too coarse (`-@dangerous` still admits FUNCTION FLUSH), so tenant users
get `-@all` plus named commands. Left out on purpose: KEYS and SCAN (they enumerate every
tenant's key names), FLUSHDB/FLUSHALL, CONFIG, EVAL/EVALSHA/FCALL/FUNCTION (scripts), DEBUG,
MIGRATE/RESTORE, and the pub/sub PATTERN commands.

ACL users live on each server, not in the keyspace: on a Redis Cluster, ACL SETUSER and
DELUSER must reach every node, primaries and replicas (a replica promoted by a failover must
know the users). Given a `RedisCluster` client, `set_user` and `delete_user` go to the nodes
of redis-py's slot map, which leaves out a replica that is down, silently; to apply a change
to every node and learn which failed, use `tenancy.redis_acl_nodes.on_every_node` (as the
Pulumi provider does). A node added to the cluster later has none until the users are set
again (or loaded from an ACL file).
"""

from __future__ import annotations

import uuid

import redis
from redis.cluster import RedisCluster

from tenancy.redis_connect import is_cluster
from tenancy.validation import parse_tenant_id

TENANT_COMMANDS = (
    "ping",
    "echo",
    "multi",
    "exec",
    "discard",
    "watch",
    "unwatch",
    "get",
    "set",
    "setex",
    "psetex",
    "getdel",
    "getex",
    "mget",
    "mset",
    "incr",
    "incrby",
    "incrbyfloat",
    "decr",
    "decrby",
    "append",
    "strlen",
    "del",
    "unlink",
    "exists",
    "expire",
    "pexpire",
    "expireat",
    "ttl",
    "pttl",
    "persist",
    "type",
    "hget",
    "hset",
    "hsetnx",
    "hmget",
    "hdel",
    "hgetall",
    "hincrby",
    "hexists",
    "hlen",
    "hkeys",
    "lpush",
    "rpush",
    "lpop",
    "rpop",
    "lrange",
    "llen",
    "ltrim",
    "sadd",
    "srem",
    "smembers",
    "sismember",
    "scard",
    "zadd",
    "zrem",
    "zrange",
    "zrangebyscore",
    "zremrangebyscore",
    "zcard",
    "zscore",
    "zincrby",
    "xadd",
    "xrange",
    "xrevrange",
    "xlen",
    "xread",
    "xack",
    "xreadgroup",
    "publish",
    "subscribe",
    "unsubscribe",
)


#: What a cluster client needs to find its way: the slot map (CLUSTER SLOTS) and the key
#: positions of commands (COMMAND, which redis-py's cluster client reads once). Neither reads
#: or lists any key.
CLUSTER_CLIENT_COMMANDS = ("cluster|slots", "command")


def username(tenant_id: uuid.UUID | str) -> str:
    return f"tenant-{parse_tenant_id(tenant_id)}"


def key_pattern(tenant_id: uuid.UUID | str) -> str:
    return f"tenant:{parse_tenant_id(tenant_id)}:*"


def acl_rules(
    tenant_id: uuid.UUID | str,
    commands: tuple[str, ...] = TENANT_COMMANDS,
    *,
    cluster: bool = False,
) -> list[str]:
    """The ACL SETUSER rules (without password or on/off) for a tenant's user; `cluster` adds
    what a Redis Cluster client needs to discover the nodes."""
    pattern = key_pattern(tenant_id)
    if cluster:
        commands = (*commands, *CLUSTER_CLIENT_COMMANDS)
    return [
        "resetkeys",
        f"~{pattern}",
        "resetchannels",
        f"&{pattern}",
        "-@all",
        *(f"+{c}" for c in commands),
    ]


def set_user(client: redis.Redis, name: str, password: str, rules: list[str]) -> None:
    """Create or fully redefine an ACL user (`reset` first, so no old grant survives)."""
    client.execute_command(  # type: ignore[no-untyped-call]
        "ACL", "SETUSER", name, "reset", "on", f">{password}", *rules, **_every_node(client)
    )


def delete_user(client: redis.Redis, name: str) -> bool:
    """Remove the user; False when it did not exist."""
    reply = client.execute_command("ACL", "DELUSER", name, **_every_node(client))  # type: ignore[no-untyped-call]
    if isinstance(reply, dict):  # a cluster: one reply per node
        return any(int(n) for n in reply.values())
    return bool(reply)


def _every_node(client: redis.Redis) -> dict[str, object]:
    return {"target_nodes": RedisCluster.ALL_NODES} if is_cluster(client) else {}


def get_user(client: redis.Redis, name: str) -> dict[str, object] | None:
    """The user's ACL as the server holds it (on a cluster: as one node holds it; see
    `nodes_without_user` for the others)."""
    raw = client.execute_command("ACL", "GETUSER", name)  # type: ignore[no-untyped-call]
    if raw is None:
        return None
    if isinstance(raw, dict):
        return {str(k): v for k, v in raw.items()}
    items = list(raw)
    return {str(items[i]): items[i + 1] for i in range(0, len(items), 2)}


def nodes_without_user(client: redis.Redis, name: str) -> list[str]:
    """Nodes of a cluster (host:port) that do not know the user; [] for a single server."""
    if not is_cluster(client):
        return [] if get_user(client, name) is not None else ["the server"]
    replies = client.execute_command(  # type: ignore[no-untyped-call]
        "ACL", "GETUSER", name, target_nodes=RedisCluster.ALL_NODES
    )
    return sorted(str(node) for node, raw in replies.items() if raw is None)
