"""Rename enforcement keys written before hash tags (`platform:<kind>:<id>:...`) to their
hash-tagged names (`platform:<kind>:{<id>}:...`), keeping value and TTL (RENAME keeps both).

Run once on an existing single-server install when upgrading, before the request path runs
the new code (`tenancy redis migrate-keys`): the published lifecycle status has no TTL, so a
suspended tenant whose status stayed under the old name would be admitted. A key whose new
name exists already (written by the new code meanwhile) is left in place and reported, never
overwritten. Not for a Redis Cluster: RENAME cannot move a key between slots, and a cluster
install starts with the new names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import redis

from tenancy.redis_keys import enforcement_key

KINDS = ("tenant", "quota", "ratelimit", "metered")
_LEGACY = re.compile(
    r"platform:(?P<kind>" + "|".join(KINDS) + r"):(?P<id>[0-9a-f]{8}-[0-9a-f-]{27})(?P<rest>:.+)"
)


@dataclass
class KeyMigration:
    renamed: int = 0
    conflicts: list[str] = field(default_factory=list)


def tagged_name(key: str) -> str | None:
    """The hash-tagged name of a legacy enforcement key, or None for any other key."""
    match = _LEGACY.fullmatch(key)
    if match is None:
        return None
    rest = match["rest"][1:].split(":")
    return enforcement_key(match["kind"], match["id"], *rest)


def migrate_enforcement_keys(client: redis.Redis, batch: int = 500) -> KeyMigration:
    result = KeyMigration()
    for kind in KINDS:
        for raw in client.scan_iter(match=f"platform:{kind}:*", count=batch):
            key = raw.decode() if isinstance(raw, bytes) else str(raw)
            new = tagged_name(key)
            if new is None:
                continue
            if client.renamenx(key, new):
                result.renamed += 1
            else:
                result.conflicts.append(key)
    return result
