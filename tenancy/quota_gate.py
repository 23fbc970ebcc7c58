"""The quota gate: the request path's view of the enforcement state the pipeline writes.

The state of a tenant is one Redis hash, `platform:quota:{<id>}:state`, metric -> JSON
`{"reason": ..., "until": ISO-8601 UTC}` for each blocked metric. The pipeline replaces the
whole hash in one transaction with a TTL past the latest `until`; no state, or an expired
block, means allowed. The key is outside the tenant's own namespace, so the tenant's Redis
ACL user can neither read nor delete it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis

from tenancy.circuit import UNREACHABLE, CircuitBreaker, CircuitOpenError, node_of
from tenancy.errors import InvalidInputError
from tenancy.limits import LIMIT_KEYS
from tenancy.redis_keys import enforcement_key

#: The state outlives its latest block by this much, so a late pipeline run is not a gap.
STATE_GRACE = timedelta(days=1)


@dataclass(frozen=True)
class QuotaBlock:
    reason: str
    until: datetime


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    reason: str | None = None
    until: datetime | None = None


#: Suffix of the field holding a block's end in epoch microseconds, beside its JSON.
UNTIL_US = ":until_us"


def state_key(tenant_id: uuid.UUID | str) -> str:
    """The Redis hash of a tenant's enforcement state."""
    return _key(tenant_id)


def _key(tenant_id: uuid.UUID | str) -> str:
    return enforcement_key("quota", tenant_id, "state")


class QuotaStateStore:
    """Writes and reads the per-tenant enforcement state (the pipeline is the writer)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def replace(
        self, tenant_id: uuid.UUID | str, blocks: Mapping[str, QuotaBlock], now: datetime
    ) -> None:
        """Make `blocks` the tenant's whole state (an empty mapping clears it), atomically."""
        for metric, block in blocks.items():
            if metric not in LIMIT_KEYS:
                raise InvalidInputError("quota metric", metric, f"one of: {', '.join(LIMIT_KEYS)}")
            if block.until.utcoffset() is None:
                raise InvalidInputError("until", block.until, "a timezone-aware datetime")
        key = _key(tenant_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(key)
        if blocks:
            mapping: dict[str, str | int] = {}
            for metric, b in blocks.items():
                mapping[metric] = json.dumps(
                    {"reason": b.reason, "until": b.until.astimezone(UTC).isoformat()}
                )
                # The same instant as a number, for the limiter's script (Lua parses no dates).
                mapping[f"{metric}{UNTIL_US}"] = int(b.until.timestamp() * 1_000_000)
            pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
            expires = max(b.until for b in blocks.values()) + STATE_GRACE
            pipe.pexpireat(key, max(expires, now + STATE_GRACE))
        pipe.execute()

    def read(self, tenant_id: uuid.UUID | str) -> dict[str, QuotaBlock]:
        raw = self.client.hgetall(_key(tenant_id))
        out = {}
        for field, value in raw.items():
            metric = field.decode() if isinstance(field, bytes) else str(field)
            if metric.endswith(UNTIL_US):
                continue
            data = json.loads(value)
            out[metric] = QuotaBlock(data["reason"], datetime.fromisoformat(data["until"]))
        return out


class QuotaGate:
    """`check(tenant, metric)`: allowed unless the pipeline blocked that metric until later.

    The metric must be one of the plan limits: a typo is an error, not an open door. When Redis
    is unreachable the gate applies its fail mode (open by default), and its circuit breaker
    skips Redis for a moment so the request path does not wait on every call.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        fail_open: bool = True,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.store = QuotaStateStore(client)
        self.fail_open = fail_open
        self.breaker = breaker or CircuitBreaker()

    def check(
        self,
        tenant_id: uuid.UUID | str,
        metric: str = "api_calls_per_month",
        now: datetime | None = None,
    ) -> GateDecision:
        if metric not in LIMIT_KEYS:
            raise InvalidInputError("quota metric", metric, f"one of: {', '.join(LIMIT_KEYS)}")
        now = now or datetime.now(UTC)
        node = ""
        try:
            node = node_of(self.store.client, state_key(tenant_id))
            self.breaker.before(node)
            state = self.store.read(tenant_id)
        except CircuitOpenError:
            return self._unavailable()
        except UNREACHABLE:
            self.breaker.failed(node)
            return self._unavailable()
        self.breaker.succeeded(node)
        block = state.get(metric)
        if block is None or block.until <= now:
            return GateDecision(True)
        return GateDecision(False, block.reason, block.until)

    def _unavailable(self) -> GateDecision:
        return GateDecision(self.fail_open, None if self.fail_open else "quota state unavailable")
