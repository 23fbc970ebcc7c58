"""Who belongs to which tenant, checked on the request path (runtime role)."""

from __future__ import annotations

import uuid

from tenancy.db.session import Database
from tenancy.validation import parse_tenant_id, parse_uuid


def belongs_to_tenant(db: Database, user_id: uuid.UUID | str, tenant_id: uuid.UUID | str) -> bool:
    """True when the user is a member of the tenant, in any role."""
    uid = parse_uuid(user_id, "user id")
    tid = parse_tenant_id(tenant_id)
    with db.tenant(tid) as conn:
        row = conn.execute(
            "SELECT 1 FROM registry.user_tenants WHERE user_id = %s AND tenant_id = %s", (uid, tid)
        ).fetchone()
    return row is not None
