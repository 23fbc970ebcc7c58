"""Per-tenant Redis ACL users: their key pattern and the explicit command allow-list.

ACL categories are too coarse (`-@dangerous` still admits FUNCTION FLUSH), so tenant users
get `-@all` plus named commands. Left out on purpose: KEYS and SCAN (they enumerate every
tenant's key names), FLUSHDB/FLUSHALL, CONFIG, EVAL/EVALSHA/FCALL/FUNCTION (scripts), DEBUG,
MIGRATE/RESTORE, and the pub/sub PATTERN commands.
"""

from __future__ import annotations

import uuid

import redis

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


def username(tenant_id: uuid.UUID | str) -> str:
    return f"tenant-{parse_tenant_id(tenant_id)}"


def key_pattern(tenant_id: uuid.UUID | str) -> str:
    return f"tenant:{parse_tenant_id(tenant_id)}:*"


def acl_rules(tenant_id: uuid.UUID | str, commands: tuple[str, ...] = TENANT_COMMANDS) -> list[str]:
    """The ACL SETUSER rules (without password or on/off) for a tenant's user."""
    pattern = key_pattern(tenant_id)
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
    client.execute_command("ACL", "SETUSER", name, "reset", "on", f">{password}", *rules)  # type: ignore[no-untyped-call]


def delete_user(client: redis.Redis, name: str) -> bool:
    """Remove the user; False when it did not exist."""
    return bool(client.execute_command("ACL", "DELUSER", name))  # type: ignore[no-untyped-call]


def get_user(client: redis.Redis, name: str) -> dict[str, object] | None:
    raw = client.execute_command("ACL", "GETUSER", name)  # type: ignore[no-untyped-call]
    if raw is None:
        return None
    if isinstance(raw, dict):
        return {str(k): v for k, v in raw.items()}
    items = list(raw)
    return {str(items[i]): items[i + 1] for i in range(0, len(items), 2)}
