"""The tenant's lifecycle status as the request path reads it: `platform:tenant:{<id>}:status`
(hash-tagged like every enforcement key, so the rate limiter's script can read it on a cluster).

The registry is the truth; this is its copy in Redis, written after every committed
transition so that the request path (quota gate, rate limiter, middleware) can refuse a
suspended or deleted tenant at once without a database round trip. The key is under
`platform:`, outside every tenant ACL pattern, so a tenant cannot lift its own suspension.
"""

from __future__ import annotations

import json
import uuid

import redis

from tenancy.errors import InvalidInputError
from tenancy.redis_keys import enforcement_key
from tenancy.tenant import TenantStatus
from tenancy.validation import parse_tenant_id


def status_key(tenant_id: uuid.UUID | str) -> str:
    return enforcement_key("tenant", parse_tenant_id(tenant_id), "status")


class TenantStatusStore:
    """Publish and read each tenant's status and the reason for it."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def publish(self, tenant_id: uuid.UUID | str, status: str, reason: str | None) -> None:
        """Replace the tenant's status (one SET, so a reader sees the old or the new value)."""
        try:
            value = TenantStatus(status).value
        except ValueError:
            raise InvalidInputError(
                "tenant status", status, f"one of: {', '.join(s.value for s in TenantStatus)}"
            ) from None
        self._client.set(status_key(tenant_id), json.dumps({"status": value, "reason": reason}))

    def get(self, tenant_id: uuid.UUID | str) -> tuple[str, str | None] | None:
        """(status, reason), or None when nothing was published for the tenant."""
        raw = self._client.get(status_key(tenant_id))
        if raw is None:
            return None
        data = json.loads(raw)
        reason = data.get("reason")
        return str(data["status"]), None if reason is None else str(reason)
