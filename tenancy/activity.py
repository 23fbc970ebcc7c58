"""`last_active` of a member, kept by the request path with at most one write per member per
`interval` (an hour), however many requests and web processes there are.

Two gates in front of the UPDATE:
- an in-process TTL cache: a member seen by this process within the interval costs nothing,
  not even a Redis round trip (the common case on a busy path);
- a Redis `SET platform:activity:{<tenant>}:<user> 1 NX EX 3600`: across processes, only the
  one that creates the key writes. The key lives under `platform:`, out of reach of the
  tenant's own Redis user.
If Redis is unreachable the process still writes at most once per interval (the local gate);
the request is never failed for it.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import redis
from cachetools import TTLCache

from tenancy.db.session import Database
from tenancy.redis_keys import enforcement_key

INTERVAL = timedelta(hours=1)


class ActivityTracker:
    def __init__(
        self,
        db: Database,
        client: redis.Redis | None,
        *,
        interval: timedelta = INTERVAL,
        size: int = 100_000,
    ) -> None:
        self.db = db
        self.client = client
        self.interval = interval
        self._seen: TTLCache[tuple[uuid.UUID, uuid.UUID], bool] = TTLCache(
            size, interval.total_seconds()
        )
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe

    def touch(self, tenant_id: uuid.UUID, user_id: uuid.UUID, now: datetime | None = None) -> bool:
        """Record that the member was active; returns True when this call wrote."""
        key = (tenant_id, user_id)
        with self._lock:
            if key in self._seen:
                return False
            self._seen[key] = True
        if self.client is not None:
            try:
                first = self.client.set(
                    enforcement_key("activity", tenant_id, user_id),
                    1,
                    nx=True,
                    ex=int(self.interval.total_seconds()),
                )
            except redis.RedisError:
                first = True  # the local gate alone still bounds the writes
            if not first:
                return False
        with self.db.tenant(tenant_id) as conn:
            conn.execute(
                "UPDATE registry.user_tenants SET last_active = %s "
                "WHERE tenant_id = %s AND user_id = %s",
                (now or datetime.now(UTC), tenant_id, user_id),
            )
        return True
