"""Per-tenant, per-endpoint rate limiting with GCRA in one atomic Redis script.

GCRA keeps one value per key, the theoretical arrival time (TAT). With a limit of L requests
per period P the emission interval is T = P / L; a request is admitted when the new TAT lies no
more than T x C ahead of now, where C = max(1, burst). So C requests may arrive at once, and
in any window of length P at most L + C are admitted. The key is written only by
`SET key tat PX ttl`, in the same atomic script that reads it: no key ever lacks a TTL, and
there is no INCR-then-EXPIRE race. Time comes from the Redis server, not the callers' clocks.
The key, `platform:ratelimit:<tenant id>:<endpoint>`, is outside the tenant's ACL pattern, so
a tenant cannot refill its own bucket by deleting it.

When Redis cannot be reached the limiter fails open by default (the request is admitted and
`degraded` is set): rate limiting protects capacity, while quotas and billing are enforced
from the usage pipeline. `RateLimiter(client, fail_open=False)` refuses instead.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis

from tenancy.errors import InvalidInputError
from tenancy.limits import Limit
from tenancy.metrics import TenancyMetrics
from tenancy.plans import Plan
from tenancy.redis_keys import enforcement_key

PERIOD_MS = 60_000
KEY_CACHE_SIZE = 100_000

# KEYS[1] = the limiter key; ARGV = interval_ms, capacity, cost
GCRA = """
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval * cost
local limit = interval * capacity
if new_tat - now > limit then
  return {0, 0, new_tat - now - limit, now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return {1, math.floor((limit - (new_tat - now)) / interval), 0, now}
"""


@dataclass(frozen=True)
class RatePolicy:
    """`requests_per_minute` (None = unlimited) and the burst capacity C."""

    requests_per_minute: int | None
    burst: int

    @classmethod
    def for_tenant(cls, plan: Plan, overrides: Mapping[str, Any] | None = None) -> RatePolicy:
        """The plan's rate limit with the tenant's `requests_per_minute` / `burst` overrides."""
        overrides = overrides or {}
        rpm = plan.rate_limit.requests_per_minute
        if "requests_per_minute" in overrides:
            rpm_limit = Limit.parse(
                overrides["requests_per_minute"], "limit override `requests_per_minute`"
            )
            rpm = rpm_limit.maximum  # type: ignore[assignment]
        burst = plan.rate_limit.burst
        if "burst" in overrides:
            burst_value = Limit.parse(overrides["burst"], "limit override `burst`").maximum
            if burst_value is None:
                raise InvalidInputError("limit override `burst`", "unlimited", "a number >= 0")
            burst = burst_value
        return cls(rpm, burst)

    @property
    def capacity(self) -> int:
        return max(1, self.burst)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    retry_after_ms: int
    degraded: bool = False  # Redis was unreachable; the decision is the fail mode's
    decided_at_ms: int | None = None  # Redis server time of the decision

    @property
    def retry_after_seconds(self) -> int:
        """For a Retry-After header: whole seconds, rounded up."""
        return math.ceil(self.retry_after_ms / 1000)


class RateLimiter:
    """`check(tenant, endpoint, policy)`: one EVALSHA per call (a NOSCRIPT reply, e.g. after a
    Redis restart, loads the script and retries once)."""

    def __init__(
        self, client: redis.Redis, *, fail_open: bool = True, metrics: TenancyMetrics | None = None
    ) -> None:
        self.client = client
        self.fail_open = fail_open
        self.metrics = metrics
        self._sha: str | None = None
        self._keys: dict[tuple[str, str], str] = {}

    def _key(self, tenant_id: uuid.UUID | str, endpoint: str) -> str:
        # Validating a key costs about as much as a tenth of the round trip; requests repeat
        # the same few (tenant, endpoint) pairs, so validated keys are remembered (bounded).
        cache_key = (str(tenant_id), endpoint)
        key = self._keys.get(cache_key)
        if key is None:
            key = enforcement_key("ratelimit", tenant_id, endpoint)
            if len(self._keys) >= KEY_CACHE_SIZE:
                self._keys.clear()
            self._keys[cache_key] = key
        return key

    def _load(self) -> str:
        self._sha = str(self.client.script_load(GCRA))
        return self._sha

    def _run(self, key: str, args: list[int]) -> list[int]:
        sha = self._sha or self._load()
        try:
            return self.client.evalsha(sha, 1, key, *args)  # type: ignore[no-any-return]
        except redis.exceptions.NoScriptError:
            return self.client.evalsha(self._load(), 1, key, *args)  # type: ignore[no-any-return]

    def check(
        self, tenant_id: uuid.UUID | str, endpoint: str, policy: RatePolicy, cost: int = 1
    ) -> Decision:
        if policy.requests_per_minute is None:
            return Decision(True, -1, 0)
        if cost < 1:
            raise InvalidInputError("cost", cost, "an integer >= 1")
        key = self._key(tenant_id, endpoint)
        if policy.requests_per_minute == 0:
            return self._record(Decision(False, 0, PERIOD_MS), "limited")
        interval = max(1, PERIOD_MS // policy.requests_per_minute)
        try:
            allowed, remaining, retry_after, now_ms = self._run(
                key, [interval, policy.capacity, cost]
            )
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            if self.fail_open:
                return self._record(Decision(True, 0, 0, degraded=True), "error_open")
            return self._record(Decision(False, 0, 1000, degraded=True), "error_closed")
        decision = Decision(
            bool(allowed), int(remaining), int(retry_after), decided_at_ms=int(now_ms)
        )
        return self._record(decision, "allowed" if decision.allowed else "limited")

    def _record(self, decision: Decision, outcome: str) -> Decision:
        if self.metrics is not None:
            self.metrics.ratelimit_decisions.labels(outcome).inc()
        return decision
