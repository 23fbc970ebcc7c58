"""Hard metered quotas on the request path: a per-tenant counter per period in Redis.

A metered limit is hard when the plan sells no overage for it (the free plan's monthly API
calls): the request path must stop at the limit itself instead of waiting for the next
pipeline run. The limiter's script checks and increments the counter atomically with the
rate-limit decision (see `tenancy.ratelimit`), so concurrent callers cannot overrun it: with
990 of 1,000 used, any number of simultaneous calls admits exactly 10.

The counter counts admissions; the warehouse counts recorded usage and stays the truth for
billing. After each ingest the pipeline raises the counter to the warehouse's exact count
(`reconcile` never lowers it: calls admitted but not yet ingested are in the counter only),
so a lost Redis (counter gone) is corrected to what was ingested, and the overrun is then at
most the calls admitted since the last ingest before the loss.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from tenancy.plans import Plan
from tenancy.redis_keys import enforcement_key

#: A counter outlives its period by this much, for the pipeline's last reconciliation.
COUNTER_GRACE = timedelta(days=2)
API_CALLS = "api_calls_per_month"

# KEYS[1] = counter; ARGV = exact count, ttl ms. Raise only: never lower an admission count.
_RAISE = """
local current = tonumber(redis.call('GET', KEYS[1]) or 0)
local exact = tonumber(ARGV[1])
if exact > current then
  redis.call('SET', KEYS[1], exact, 'PX', ARGV[2])
  return exact
end
return current
"""


@dataclass(frozen=True)
class MeteredQuota:
    """A hard limit on a metered count for one period, e.g. 1,000 API calls in 2026-11."""

    metric: str
    limit: int
    period: str  # e.g. "2026-11"
    resets_at: datetime

    @classmethod
    def monthly(cls, metric: str, limit: int, now: datetime) -> MeteredQuota:
        at = now.astimezone(UTC)
        resets = datetime(at.year + at.month // 12, at.month % 12 + 1, 1, tzinfo=UTC)
        return cls(metric, limit, f"{at:%Y-%m}", resets)

    def key(self, tenant_id: uuid.UUID | str) -> str:
        return enforcement_key("metered", tenant_id, self.metric, self.period)

    def ttl_ms(self, now: datetime) -> int:
        return max(1, int((self.resets_at + COUNTER_GRACE - now).total_seconds() * 1000))


def hard_api_quota(
    plan: Plan, overrides: Mapping[str, Any] | None, now: datetime
) -> MeteredQuota | None:
    """The tenant's monthly API-call quota when it is hard (a limit, and no overage sold)."""
    if API_CALLS in plan.pricing.overage:
        return None
    limit = plan.effective_limits(overrides)[API_CALLS]
    if limit.maximum is None:
        return None
    return MeteredQuota.monthly(API_CALLS, limit.maximum, now)


class MeteredCounters:
    """Reads and reconciles the request path's metered counters (the pipeline's side)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def used(self, tenant_id: uuid.UUID | str, quota: MeteredQuota) -> int:
        raw = self.client.get(quota.key(tenant_id))
        return int(raw) if raw is not None else 0

    def reconcile(
        self, tenant_id: uuid.UUID | str, quota: MeteredQuota, exact: int, now: datetime
    ) -> int:
        """Raise the counter to `exact` (the warehouse's count) if it is lower; returns the
        counter's value afterwards."""
        value = self.client.eval(_RAISE, 1, quota.key(tenant_id), int(exact), quota.ttl_ms(now))
        return int(value)
