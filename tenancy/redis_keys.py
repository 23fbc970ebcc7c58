"""Redis key names. Tenant data lives under `tenant:<id>:`; platform data under `platform:`.

What the platform enforces on a tenant (quota blocks, rate-limit state, lifecycle status) is
platform data about the tenant, `platform:<kind>:{<id>}:...`: outside the `tenant:<id>:*`
pattern of the tenant's own ACL user, so a tenant holding its credentials cannot erase its
limits. The tenant id is a Redis Cluster hash tag (`{...}`): every enforcement key of one
tenant hashes to the same slot, so the rate limiter's script, which reads and writes four of
them in one call, runs on one node of a cluster (a script's keys must share a slot there).

A key part that could widen a pattern (`*`, `?`, `[`) or add a level (`:`), or whitespace,
is rejected, so no caller can build a key outside its tenant's namespace or one that an ACL
pattern `~tenant:<id>:*` would match for another tenant.
"""

from __future__ import annotations

import re
import uuid

from tenancy.errors import InvalidInputError
from tenancy.validation import parse_tenant_id

_FORBIDDEN = re.compile(r"[:*?\[\]\s\\]")


def _part(value: object, index: int) -> str:
    text = (
        str(value) if isinstance(value, int | uuid.UUID) and not isinstance(value, bool) else value
    )
    if not isinstance(text, str) or not text or _FORBIDDEN.search(text):
        raise InvalidInputError(
            f"key part {index}",
            value,
            "a non-empty string without ':', '*', '?', '[', ']', '\\\\' or whitespace",
        )
    return text


def tenant_key(tenant_id: uuid.UUID | str, *parts: object) -> str:
    """`tenant:<id>:<part>:<part>...` for one tenant's data."""
    if not parts:
        raise InvalidInputError("key parts", parts, "at least one part after the tenant id")
    tid = parse_tenant_id(tenant_id)
    return ":".join(["tenant", str(tid), *(_part(p, i) for i, p in enumerate(parts, 1))])


def tenant_prefix(tenant_id: uuid.UUID | str) -> str:
    """`tenant:<id>:`, the namespace a tenant's ACL user is limited to."""
    return f"tenant:{parse_tenant_id(tenant_id)}:"


def platform_key(*parts: object) -> str:
    """`platform:<part>...` for data of the platform itself (never reachable by tenant users)."""
    if not parts:
        raise InvalidInputError("key parts", parts, "at least one part")
    return ":".join(["platform", *(_part(p, i) for i, p in enumerate(parts, 1))])


def hash_tag(value: object) -> str:
    """`{<value>}`: the part of a key Redis Cluster hashes (the first `{...}` in the key),
    so keys sharing it share a slot."""
    text = _part(value, 0)
    if "{" in text or "}" in text:
        raise InvalidInputError("hash tag", value, "a key part without '{' or '}'")
    return "{" + text + "}"


def enforcement_key(kind: str, tenant_id: uuid.UUID | str, *parts: object) -> str:
    """`platform:<kind>:{<tenant id>}:<part>...`: enforcement state about one tenant, in the
    tenant's cluster slot."""
    return platform_key(kind, hash_tag(parse_tenant_id(tenant_id)), *parts)


def enforcement_pattern(kind: str, tenant_id: uuid.UUID | str) -> str:
    """The SCAN pattern of every `enforcement_key(kind, tenant_id, ...)`. `{` and `}` are
    literal in Redis patterns; only `*`, `?`, `[` and `\\` are special."""
    return f"{enforcement_key(kind, tenant_id)}:*"
