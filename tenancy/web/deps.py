"""FastAPI dependencies for endpoints behind `TenancyMiddleware`: the spec's pattern of
`current_user`, `current_tenant`, a membership check, and `get_by_id_and_tenant`.

The middleware has already resolved the tenant, refused non-members and applied limits; the
dependencies hand its results to the endpoint, and fail closed (500) if the middleware is
missing, rather than serve a request with no tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TypeVar

from fastapi import HTTPException, Request

from tenancy.db.session import Database
from tenancy.errors import InvalidInputError, NotFoundError
from tenancy.tenant import Tenant

T = TypeVar("T")


def current_tenant(request: Request) -> Tenant:
    tenant = getattr(request.state, "tenant", None)
    if not isinstance(tenant, Tenant):
        raise HTTPException(500, "TenancyMiddleware is not installed: no tenant on the request")
    return tenant


def current_user(request: Request) -> uuid.UUID:
    """The authenticated member's user id (the middleware checked the membership)."""
    user_id = getattr(request.state, "user_id", None)
    if not isinstance(user_id, uuid.UUID):
        raise HTTPException(401, "no authenticated user on the request")
    return user_id


def get_by_id_and_tenant(
    read: Callable[[Database, uuid.UUID, uuid.UUID], T],
    db: Database,
    object_id: str,
    tenant: Tenant,
) -> T:
    """`read(db, id, tenant id)` for a tenant-scoped object; another tenant's object and a
    malformed id are the same 404 (no oracle for which ids exist elsewhere)."""
    try:
        return read(db, uuid.UUID(object_id), tenant.id)
    except (ValueError, InvalidInputError, NotFoundError):
        raise HTTPException(404, "not found") from None
