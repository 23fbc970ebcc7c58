"""Per-tenant, per-endpoint rate limiting with GCRA, and hard monthly quotas, in one atomic
Redis script: one round trip decides both.

GCRA keeps one value per key, the theoretical arrival time (TAT). With a limit of L requests
per period P the emission interval is T = P / L; a request is admitted when the new TAT lies no
more than T x C ahead of now, where C = max(1, burst). So C requests may arrive at once, and
in any window of length P at most L + C are admitted. Time is Redis server time in
microseconds and T is fractional, so a limit that does not divide a minute (7,000/min) or one
above 60,000/min is kept (the stored TAT is rounded up to the microsecond, which errs on the
side of admitting less, by at most 1 µs per request). The key is written only by `SET key tat PX ttl`, in the
same atomic script that reads it: no key ever lacks a TTL. It lives under
`platform:ratelimit:{<tenant id>}:<endpoint>`, outside the tenant's ACL pattern, so a tenant
cannot refill its own bucket by deleting it.

A `MeteredQuota` (a hard monthly limit, e.g. the free plan's API calls) adds a per-tenant,
per-period counter (`tenancy.metered`), checked and incremented by the same script only when
the request is admitted: concurrent callers can never push it past the limit.

When Redis cannot be reached the limiter fails open by default (the request is admitted and
`degraded` is set) and a circuit breaker skips Redis for a second, so a check costs
microseconds instead of a timeout; `RateLimiter(client, fail_open=False)` refuses instead.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from tenancy.circuit import UNREACHABLE, CircuitBreaker, CircuitOpenError, node_of
from tenancy.errors import InvalidInputError
from tenancy.limits import LIMIT_KEYS, parse_overrides
from tenancy.metered import MeteredQuota
from tenancy.metrics import TenancyMetrics
from tenancy.plans import Plan
from tenancy.quota_gate import state_key
from tenancy.redis_keys import enforcement_key
from tenancy.tenant_status import status_key

PERIOD_US = 60_000_000
KEY_CACHE_SIZE = 100_000

# KEYS[1] = limiter key, KEYS[2] = metered counter key, KEYS[3] = the quota gate's state hash,
# KEYS[4] = the tenant's lifecycle status (`tenancy.tenant_status`)
# ARGV = interval_us (0: no rate limit), capacity, cost, quota ('' : none), counter ttl ms,
#        gated metric ('' : none), check status ('1' or '')
# Reply: {admitted, remaining, retry_after_us, now_us,
#         refused_by (0 none, 1 rate, 2 quota, 3 blocked, 4 status), used, JSON detail}
ADMIT = """
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if ARGV[7] == '1' then
  local published = redis.call('GET', KEYS[4])
  if published and cjson.decode(published)['status'] ~= 'active' then
    return {0, 0, 0, now, 4, -1, published}
  end
end
if ARGV[6] ~= '' then
  local blocked_until = tonumber(redis.call('HGET', KEYS[3], ARGV[6] .. ':until_us') or 0)
  if blocked_until > now then
    return {0, 0, blocked_until - now, now, 3, -1, redis.call('HGET', KEYS[3], ARGV[6])}
  end
end
local new_tat = nil
local remaining = -1
local unspent = -1
if interval > 0 then
  local tat = tonumber(redis.call('GET', KEYS[1]) or now)
  if tat < now then tat = now end
  new_tat = tat + interval * cost
  local limit = interval * capacity
  if new_tat - now > limit then
    return {0, 0, math.ceil(new_tat - now - limit), now, 1, -1}
  end
  remaining = math.floor((limit - (new_tat - now)) / interval)
  unspent = math.floor((limit - (tat - now)) / interval)
end
local used = -1
if ARGV[4] ~= '' then
  used = tonumber(redis.call('GET', KEYS[2]) or 0)
  if used + cost > tonumber(ARGV[4]) then
    return {0, unspent, 0, now, 2, used}
  end
  used = redis.call('INCRBY', KEYS[2], cost)
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
if new_tat then
  new_tat = math.ceil(new_tat)
  redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000))
end
return {1, remaining, 0, now, 0, used}
"""


@dataclass(frozen=True)
class RatePolicy:
    """`requests_per_minute` (None = unlimited) and the burst capacity C."""

    requests_per_minute: int | None
    burst: int

    @classmethod
    def for_tenant(cls, plan: Plan, overrides: Mapping[str, Any] | None = None) -> RatePolicy:
        """The plan's rate limit with the tenant's `requests_per_minute` / `burst` overrides."""
        parsed = parse_overrides(overrides)  # one schema for every override
        rpm: int | None = plan.rate_limit.requests_per_minute
        if "requests_per_minute" in parsed:
            rpm = parsed["requests_per_minute"].maximum
        burst = plan.rate_limit.burst
        if "burst" in parsed:
            burst = parsed["burst"].maximum or 0
        return cls(rpm, burst)

    @property
    def capacity(self) -> int:
        return max(1, self.burst)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    retry_after_us: int
    degraded: bool = False  # Redis was unreachable; the decision is the fail mode's
    decided_at_us: int | None = None  # Redis server time of the decision
    refused_by: str | None = None  # "rate_limit", "quota" or "blocked" (by the pipeline)
    quota_used: int | None = None  # the metered count after this decision
    block_reason: str | None = None  # for "blocked" and "status": the reason given
    block_until: datetime | None = None  # for "blocked": when the pipeline's block ends
    tenant_status: str | None = None  # for "status": the published lifecycle status

    @property
    def retry_after_ms(self) -> int:
        return math.ceil(self.retry_after_us / 1000)

    @property
    def retry_after_seconds(self) -> int:
        """For a Retry-After header: whole seconds, rounded up."""
        return math.ceil(self.retry_after_us / 1_000_000)

    @property
    def decided_at_ms(self) -> int | None:
        return None if self.decided_at_us is None else self.decided_at_us // 1000


_REFUSED_BY = {0: None, 1: "rate_limit", 2: "quota", 3: "blocked", 4: "status"}


class RateLimiter:
    """`check(tenant, endpoint, policy[, quota])`: one EVALSHA per call; `check_many` answers
    many in one pipelined round trip. A NOSCRIPT reply (e.g. after a Redis restart) loads the
    script and retries once."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        fail_open: bool = True,
        metrics: TenancyMetrics | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.client = client
        self.fail_open = fail_open
        self.metrics = metrics
        self.breaker = breaker or CircuitBreaker()
        self._sha: str | None = None
        self._keys: dict[tuple[str, str], str] = {}
        self._state_keys: dict[str, str] = {}

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

    def _state_key(self, tenant_id: uuid.UUID | str) -> str:
        text = str(tenant_id)
        key = self._state_keys.get(text)
        if key is None:
            key = state_key(tenant_id)
            if len(self._state_keys) >= KEY_CACHE_SIZE:
                self._state_keys.clear()
            self._state_keys[text] = key
        return key

    def _load(self) -> str:
        self._sha = str(self.client.script_load(ADMIT))
        return self._sha

    def _args(
        self,
        tenant_id: uuid.UUID | str,
        endpoint: str,
        policy: RatePolicy,
        cost: int,
        quota: MeteredQuota | None,
        gate: str | None,
        status: bool = False,
    ) -> tuple[list[str], list[object]]:
        if cost < 1:
            raise InvalidInputError("cost", cost, "an integer >= 1")
        if gate is not None and gate not in LIMIT_KEYS:
            raise InvalidInputError("quota metric", gate, f"one of: {', '.join(LIMIT_KEYS)}")
        rpm = policy.requests_per_minute
        interval = 0.0 if rpm is None else PERIOD_US / rpm
        limiter_key = self._key(tenant_id, endpoint)
        counter = quota.key(tenant_id) if quota else limiter_key  # unused without a quota
        state = self._state_key(tenant_id) if gate else limiter_key  # unused without a gate
        published = status_key(tenant_id) if status else limiter_key  # unused without status
        ttl_ms = str(quota.ttl_ms(datetime.now(UTC))) if quota else ""
        return [limiter_key, counter, state, published], [
            repr(interval),
            policy.capacity,
            cost,
            "" if quota is None else quota.limit,
            ttl_ms,
            gate or "",
            "1" if status else "",
        ]

    def check(
        self,
        tenant_id: uuid.UUID | str,
        endpoint: str,
        policy: RatePolicy,
        cost: int = 1,
        quota: MeteredQuota | None = None,
        gate: str | None = None,
        status: bool = False,
    ) -> Decision:
        """Decide one request. `quota`: a hard metered quota to check and count; `gate`: a
        limit whose pipeline block (the `QuotaGate` state) refuses the request; `status`:
        refuse a tenant whose published lifecycle status is not active. All in one round
        trip."""
        if policy.requests_per_minute == 0:
            return self._record(Decision(False, 0, PERIOD_US, refused_by="rate_limit"), "limited")
        if policy.requests_per_minute is None and quota is None and gate is None and not status:
            return Decision(True, -1, 0)
        keys, args = self._args(tenant_id, endpoint, policy, cost, quota, gate, status)
        node = ""
        try:
            node = node_of(self.client, keys[0])
            self.breaker.before(node)
            try:
                reply = self.client.evalsha(self._sha or self._load(), 4, *keys, *args)  # type: ignore[arg-type]
            except redis.exceptions.NoScriptError:
                reply = self.client.evalsha(self._load(), 4, *keys, *args)  # type: ignore[arg-type]
        except CircuitOpenError:
            return self._unreachable()
        except UNREACHABLE:
            self.breaker.failed(node)
            return self._unreachable()
        self.breaker.succeeded(node)
        return self._decision(reply)

    def check_many(
        self,
        requests: Sequence[tuple[uuid.UUID | str, str, RatePolicy, MeteredQuota | None]],
    ) -> list[Decision]:
        """Decide many requests (tenant, endpoint, policy, quota) in one pipelined round trip,
        each as `check` would (cost 1)."""
        out: list[Decision | None] = [None] * len(requests)
        todo = []
        for i, (tenant_id, endpoint, policy, quota) in enumerate(requests):
            if policy.requests_per_minute == 0:
                out[i] = Decision(False, 0, PERIOD_US, refused_by="rate_limit")
            elif policy.requests_per_minute is None and quota is None:
                out[i] = Decision(True, -1, 0)
            else:
                todo.append((i, self._args(tenant_id, endpoint, policy, 1, quota, None)))
        # One pipelined round trip per node (one on a single server), each behind its node's
        # breaker: a dead cluster node degrades only the requests whose keys it owns.
        by_node: dict[str, list[tuple[int, tuple[list[str], list[object]]]]] = {}
        for i, call in todo:
            try:
                node = node_of(self.client, call[0][0])
            except UNREACHABLE:
                node = ""
            by_node.setdefault(node, []).append((i, call))
        for node, group in by_node.items():
            try:
                self.breaker.before(node)
                replies = self._pipelined([call for _, call in group])
            except CircuitOpenError:
                replies = None
            except UNREACHABLE:
                self.breaker.failed(node)
                replies = None
            else:
                self.breaker.succeeded(node)
            for n, (i, _) in enumerate(group):
                out[i] = self._unreachable() if replies is None else self._decision(replies[n])
        return [d for d in out if d is not None]

    def _pipelined(self, calls: list[tuple[list[str], list[object]]]) -> list[Any]:
        sha = self._sha or self._load()
        for attempt in range(2):
            pipe = self.client.pipeline(transaction=False)
            for keys, args in calls:
                # Not `pipe.evalsha`: redis-py's cluster pipeline refuses that method, though it
                # routes the command itself by its keys' slot like any other.
                pipe.execute_command("EVALSHA", sha, 4, *keys, *args)  # type: ignore[no-untyped-call]
            replies = pipe.execute(raise_on_error=False)
            if attempt == 0 and any(isinstance(r, redis.exceptions.NoScriptError) for r in replies):
                sha = self._load()
                continue
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            return replies
        raise AssertionError("unreachable")

    def _decision(self, reply: list[Any]) -> Decision:
        admitted, remaining, retry_us, now_us, refused, used = reply[:6]
        detail = json.loads(reply[6]) if len(reply) > 6 and reply[6] else None
        refused_by = _REFUSED_BY[int(refused)]
        decision = Decision(
            bool(admitted),
            int(remaining),
            int(retry_us),
            decided_at_us=int(now_us),
            refused_by=refused_by,
            quota_used=None if int(used) < 0 else int(used),
            block_reason=detail.get("reason") if detail else None,
            block_until=(
                datetime.fromisoformat(detail["until"])
                if detail and refused_by == "blocked"
                else None
            ),
            tenant_status=detail["status"] if detail and refused_by == "status" else None,
        )
        outcome = "allowed" if decision.allowed else "limited"
        return self._record(decision, outcome)

    def _unreachable(self) -> Decision:
        if self.fail_open:
            return self._record(Decision(True, 0, 0, degraded=True), "error_open")
        return self._record(Decision(False, 0, 1_000_000, degraded=True), "error_closed")

    def _record(self, decision: Decision, outcome: str) -> Decision:
        if self.metrics is not None:
            self.metrics.ratelimit_decisions.labels(outcome).inc()
        return decision
