"""What a committed transition changes outside the database, derived from the registry alone.

`apply_runtime_state` is idempotent: it makes Redis say what the registry says (the status the
request path reads, the tenant's ACL user on, off or gone), so it is run after every
transition and can be run again (`tenancy tenants sync`) after a failure between the commit
and Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from tenancy import redis_acl
from tenancy.tenant import Tenant, TenantStatus
from tenancy.tenant_status import TenantStatusStore


@dataclass(frozen=True)
class RuntimeState:
    status: str
    reason: str | None
    redis_user: str  # "enabled", "disabled", "deleted" or "absent"

    def to_json(self) -> dict[str, str | None]:
        return {"status": self.status, "reason": self.reason, "redis_user": self.redis_user}


def _reason(tenant: Tenant) -> str | None:
    if tenant.status is TenantStatus.ACTIVE:
        return None
    if tenant.status is TenantStatus.SUSPENDED:
        return tenant.suspension_reason
    return tenant.status.value


def apply_runtime_state(client: redis.Redis, tenant: Tenant) -> RuntimeState:
    """Publish the tenant's status and switch its Redis ACL user to match.

    Disabling a user does not end the connections it already has, so they are killed too.
    """
    reason = _reason(tenant)
    TenantStatusStore(client).publish(tenant.id, tenant.status.value, reason)
    name = redis_acl.username(tenant.id)
    if tenant.status is TenantStatus.PURGED:
        user = "deleted" if redis_acl.delete_user(client, name) else "absent"
    elif redis_acl.get_user(client, name) is None:
        user = "absent"  # created by the tenant's stack; nothing to switch yet
    elif tenant.status is TenantStatus.ACTIVE:
        client.execute_command("ACL", "SETUSER", name, "on")  # type: ignore[no-untyped-call]
        user = "enabled"
    else:
        client.execute_command("ACL", "SETUSER", name, "off")  # type: ignore[no-untyped-call]
        client.execute_command("CLIENT", "KILL", "USER", name)  # type: ignore[no-untyped-call]
        user = "disabled"
    return RuntimeState(tenant.status.value, reason, user)
