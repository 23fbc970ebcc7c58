"""Redis key names. Tenant data lives under `tenant:<id>:`; platform data under `platform:`.

What the platform enforces on a tenant (quota blocks, rate-limit state) is platform data
about the tenant, `platform:<kind>:<id>:...`: outside the `tenant:<id>:*` pattern of the
tenant's own ACL user, so a tenant holding its credentials cannot erase its limits.

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


def enforcement_key(kind: str, tenant_id: uuid.UUID | str, *parts: object) -> str:
    """`platform:<kind>:<tenant id>:<part>...`: enforcement state about one tenant."""
    return platform_key(kind, parse_tenant_id(tenant_id), *parts)
