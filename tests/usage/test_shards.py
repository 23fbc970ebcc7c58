"""Shard choice and key names of the usage stream, and the recorder writing to shards."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
import redis
from redis.crc import key_slot

from tenancy.errors import ConfigurationError
from tenancy.usage.events import api_call
from tenancy.usage.recorder import UsageRecorder
from tenancy.usage.shards import (
    MAX_SHARDS,
    SINGLE_STREAM_KEY,
    delete_if_empty,
    existing_orphans,
    orphan_candidates,
    shard_count,
    shard_of,
    sharded_key,
    stream_key,
    stream_keys,
)

TENANT = uuid.UUID("0b7e4c1a-5f0e-4d5e-9a53-6f1c2d3e4a01")
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def test_shard_count_defaults_to_one_and_names_the_variable() -> None:
    assert shard_count({}) == 1
    assert shard_count({"TENANCY_USAGE_SHARDS": ""}) == 1
    assert shard_count({"TENANCY_USAGE_SHARDS": " 8 "}) == 8
    for bad in ("0", "-1", "2.5", "many", str(MAX_SHARDS + 1), "٣"):
        with pytest.raises(ConfigurationError, match=f"TENANCY_USAGE_SHARDS is '{bad}'"):
            shard_count({"TENANCY_USAGE_SHARDS": bad})


def test_one_shard_keeps_the_historical_key() -> None:
    assert stream_keys(1) == ["platform:usage:events"] == [SINGLE_STREAM_KEY]
    assert shard_of(TENANT, 1) == 0


def test_shard_keys_are_hash_tagged_one_slot_each() -> None:
    keys = stream_keys(4)
    assert keys[2] == "platform:usage:{usage-2}:events"
    slots = [key_slot(k.encode()) for k in keys]
    assert len(set(slots)) == 4, f"each shard on its own slot: {slots}"
    # The tag alone decides the slot: a key beside a shard's stream shares its slot.
    assert key_slot(b"platform:usage:{usage-2}:anything") == slots[2]
    with pytest.raises(ConfigurationError, match="usage shard is 4; expected 0 to 3"):
        stream_key(4, 4)


def test_the_shard_of_a_tenant_is_stable_and_spread() -> None:
    # crc32 of the uuid's 16 bytes: the same in every process and release (Python's own
    # `hash` of a str is salted per process, which would scatter a tenant's events).
    assert shard_of(TENANT, 4) == 2229618913 % 4
    assert shard_of(str(TENANT).upper(), 4) == shard_of(TENANT, 4)
    spread = Counter(shard_of(uuid.uuid4(), 4) for _ in range(4000))
    assert set(spread) == {0, 1, 2, 3} and min(spread.values()) > 800, spread


@pytest.mark.parametrize("shards", [1, 2, 3, 7, MAX_SHARDS])
def test_every_former_stream_has_exactly_one_owner(shards: int) -> None:
    every = {SINGLE_STREAM_KEY, *(sharded_key(i) for i in range(MAX_SHARDS))}
    current = set(stream_keys(shards))
    owned = [k for s in range(shards) for k in orphan_candidates(s, shards)]
    assert len(owned) == len(set(owned)), "no stream is drained by two partitions"
    assert set(owned) == every - current


def test_recorder_sends_each_tenant_to_its_shard(redis_client: redis.Redis) -> None:
    tenants = [uuid.uuid4() for _ in range(40)]
    recorder = UsageRecorder(redis_client, shards=3, batch_size=16)
    recorder.record_many(api_call(t, "/v1/x", "GET", 200, NOW) for t in tenants for _ in range(3))
    recorder.record(api_call(tenants[0], "/v1/x", "GET", 200, NOW))
    seen: Counter[str] = Counter()
    for shard, key in enumerate(stream_keys(3)):
        for _, fields in redis_client.xrange(key):
            tenant = fields[b"tenant"].decode()
            assert shard_of(tenant, 3) == shard, f"{tenant} in shard {shard}"
            seen[tenant] += 1
    assert seen == Counter({str(t): 3 for t in tenants}) + Counter({str(tenants[0]): 1})
    assert redis_client.exists(SINGLE_STREAM_KEY) == 0
    for key in stream_keys(3):
        redis_client.delete(key)


def test_orphans_are_found_and_deleted_only_when_empty(redis_client: redis.Redis) -> None:
    redis_client.xadd(SINGLE_STREAM_KEY, {"v": "1"})
    redis_client.xadd(sharded_key(5), {"v": "1"})
    assert existing_orphans(redis_client, 0, 2).found == [SINGLE_STREAM_KEY]
    assert existing_orphans(redis_client, 1, 2).found == [sharded_key(5)]
    assert existing_orphans(redis_client, 0, 1).found == [sharded_key(5)]
    assert not delete_if_empty(redis_client, SINGLE_STREAM_KEY), "an entry is still there"
    entry = redis_client.xrange(SINGLE_STREAM_KEY)[0][0]
    redis_client.xdel(SINGLE_STREAM_KEY, entry)
    assert delete_if_empty(redis_client, SINGLE_STREAM_KEY)
    assert not redis_client.exists(SINGLE_STREAM_KEY)
    redis_client.delete(sharded_key(5))
