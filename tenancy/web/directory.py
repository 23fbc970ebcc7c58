"""Tenant and membership lookups for the request path, cached briefly.

A request needs its tenant (status, plan, overrides) and whether the caller is a member. Both
come from the registry; caching them for `ttl` seconds keeps the database off the hot path
(a status change reaches the request path within `ttl`; the default is 2 seconds).
"""

from __future__ import annotations

import threading
import uuid

from cachetools import TTLCache

from tenancy.db.session import Database
from tenancy.domains import tenant_for_host
from tenancy.errors import InvalidInputError, NotFoundError
from tenancy.membership import belongs_to_tenant
from tenancy.registry import get_tenant_by_id, get_tenant_by_slug
from tenancy.tenant import Tenant


class TenantDirectory:
    def __init__(self, db: Database, *, ttl: float = 2.0, size: int = 100_000) -> None:
        self.db = db
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe
        self._tenants: TTLCache[tuple[str, str], Tenant | None] = TTLCache(size, ttl)
        self._members: TTLCache[tuple[uuid.UUID, uuid.UUID], bool] = TTLCache(size, ttl)

    def find(self, kind: str, value: str) -> Tenant | None:
        """The tenant with this id, slug or domain, or None."""
        key = (kind, value)
        with self._lock:
            if key in self._tenants:
                return self._tenants[key]
        tenant = self._lookup(kind, value)
        with self._lock:
            self._tenants[key] = tenant
        return tenant

    def _lookup(self, kind: str, value: str) -> Tenant | None:
        try:
            if kind == "id":
                return get_tenant_by_id(self.db, value)
            if kind == "slug":
                return get_tenant_by_slug(self.db, value)
            if kind == "domain":
                return tenant_for_host(self.db, value)
        except (NotFoundError, InvalidInputError):
            return None
        raise ValueError(f"lookup kind is {kind!r}; expected id, slug or domain")

    def is_member(self, user_id: uuid.UUID, tenant_id: uuid.UUID) -> bool:
        key = (user_id, tenant_id)
        with self._lock:
            if key in self._members:
                return self._members[key]
        member = belongs_to_tenant(self.db, user_id, tenant_id)
        with self._lock:
            self._members[key] = member
        return member
