"""Usage stream shards: which stream a tenant's events go to, and every stream's key.

With N shards (`TENANCY_USAGE_SHARDS`, default 1) a tenant's events all go to shard
`crc32(tenant uuid bytes) mod N`, so one tenant's events stay in order in one stream while
the tenants spread over N streams, each drained by its own `usage_events` partition.

Key names: with one shard the stream keeps its historical name, `platform:usage:events`, so a
small install changes nothing. With N > 1, shard i is `platform:usage:{usage-<i>}:events`:
the hash tag `{usage-<i>}` puts the stream (its consumer group and pending entries live inside
the key) and any key added beside it for that shard on one Redis Cluster slot, and the N
streams on different slots, hence on different nodes of a cluster once N is at least the
number of primaries.

Changing N on a live install loses nothing: every stream that is not one of the N current
ones (the single-shard key after going to N > 1, `{usage-i}` with i >= N after lowering N)
is an *orphan*, assigned to partition `i mod N` (the single-shard key to partition 0), and
drained by that partition's run beside its own stream until it is empty, then deleted.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import redis
from redis.cluster import RedisCluster

from tenancy.errors import ConfigurationError
from tenancy.redis_connect import is_cluster
from tenancy.redis_keys import hash_tag, platform_key
from tenancy.validation import parse_tenant_id

SHARDS_VARIABLE = "TENANCY_USAGE_SHARDS"
#: An upper bound on N, so that orphan streams can be found with one EXISTS per possible
#: shard (no SCAN over a cluster's keys) and the Dagster partitions stay few.
MAX_SHARDS = 256
SINGLE_STREAM_KEY = platform_key("usage", "events")

# Deletes a drained orphan stream only if it is still empty: an old recorder may append to
# it between the drain and the delete, and that entry must survive to the next run.
_DELETE_IF_EMPTY = """
if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('XLEN', KEYS[1]) == 0 then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def shard_count(environ: Mapping[str, str]) -> int:
    """N from `TENANCY_USAGE_SHARDS` (unset or empty: 1); an error names the variable."""
    text = (environ.get(SHARDS_VARIABLE) or "1").strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_SHARDS:
        raise ConfigurationError(
            f"{SHARDS_VARIABLE} is {text!r}; expected a whole number from 1 to {MAX_SHARDS} "
            "(the number of usage stream shards)"
        )
    return int(text)


def _check(shard: int, shards: int) -> None:
    if not 1 <= shards <= MAX_SHARDS:
        raise ConfigurationError(f"usage shards is {shards}; expected 1 to {MAX_SHARDS}")
    if not 0 <= shard < shards:
        raise ConfigurationError(f"usage shard is {shard}; expected 0 to {shards - 1}")


def shard_of(tenant_id: uuid.UUID | str, shards: int) -> int:
    """The shard of a tenant: stable across processes, machines and Python versions (crc32
    of the 16 uuid bytes, not Python's salted `hash`)."""
    _check(0, shards)
    return zlib.crc32(parse_tenant_id(tenant_id).bytes) % shards


def stream_key(shard: int, shards: int) -> str:
    """The stream of `shard` when there are `shards` of them."""
    _check(shard, shards)
    return SINGLE_STREAM_KEY if shards == 1 else sharded_key(shard)


def sharded_key(shard: int) -> str:
    return platform_key("usage", hash_tag(f"usage-{shard}"), "events")


def stream_keys(shards: int) -> list[str]:
    return [stream_key(i, shards) for i in range(shards)]


def orphan_candidates(shard: int, shards: int) -> list[str]:
    """Keys of streams a former N may have left that partition `shard` of `shards` drains."""
    _check(shard, shards)
    keys = [SINGLE_STREAM_KEY] if shards > 1 and shard == 0 else []
    first = 0 if shards == 1 else shards
    keys += [sharded_key(i) for i in range(first, MAX_SHARDS) if i % shards == shard]
    return keys


@dataclass(frozen=True)
class Orphans:
    found: list[str]
    #: Candidates on a node that could not be asked (down, failing over): checked next run.
    unchecked: list[str]


def existing_orphans(client: redis.Redis, shard: int, shards: int) -> Orphans:
    """The orphan streams of partition `shard` that exist: one pipelined EXISTS per candidate,
    one pipeline per node of a cluster, so that a node that is down delays only the orphans
    it holds, not the drain of the shards on the other nodes."""
    candidates = orphan_candidates(shard, shards)
    groups: dict[str, tuple[redis.Redis, list[str]]] = {}
    if is_cluster(client):
        cluster = cast(RedisCluster, client)
        for key in candidates:
            node = cluster.get_node_from_key(key)  # type: ignore[no-untyped-call]
            groups.setdefault(node.name, (cluster.get_redis_connection(node), []))[1].append(key)
    else:
        groups["server"] = (client, candidates)
    found: list[str] = []
    unchecked: list[str] = []
    for node_client, keys in groups.values():
        pipe = node_client.pipeline(transaction=False)
        for key in keys:
            pipe.exists(key)
        try:
            replies: list[Any] = pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError):
            unchecked += keys
            continue
        found += [key for key, n in zip(keys, replies, strict=True) if int(n)]
    order = {key: i for i, key in enumerate(candidates)}
    return Orphans(sorted(found, key=order.__getitem__), sorted(unchecked, key=order.__getitem__))


def delete_if_empty(client: redis.Redis, key: str) -> bool:
    """Delete a drained stream (and its consumer groups) unless an entry arrived meanwhile."""
    return bool(client.eval(_DELETE_IF_EMPTY, 1, key))
