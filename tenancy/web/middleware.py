"""`TenancyMiddleware`: everything the request path needs, as one pure ASGI middleware.

Per HTTP request, in order:

1. `/metrics` is answered by prometheus_client's ASGI app over the middleware's registry;
   `public_paths` pass untouched.
2. The tenant is resolved (`tenancy.web.resolve`): unknown -> 404; suspended or deleted -> 403
   with the reason, both from the registry (cached briefly) and, at once, from the status the
   lifecycle publishes in Redis (`tenancy.tenant_status`), read by the script of step 4.
3. The caller (the user id the authentication layer in front puts in `user_header`) must be
   a member of the tenant: no user -> 401, non-member -> 403.
4. One Redis script, one round trip, decides: a block the pipeline set (the `QuotaGate`
   state) -> 402 with its reason; the rate limit -> 429 with `Retry-After` and the IETF
   `RateLimit` / `RateLimit-Policy` headers; for hard quotas (a plan limit with no overage
   sold, e.g. the free plan's API calls) the monthly counter, checked and counted -> 402
   naming the limit and when it resets.
5. The app runs with `scope["state"]["tenant"]` and `["user_id"]` set; admitted responses
   carry the `RateLimit` headers.
6. After the response, usage is recorded (route template, never the raw path; method; status;
   with a `SpoolingRecorder`, to a local spool while Redis is unreachable) and counted in `tenant_api_requests_total`; with an `ActivityTracker`, the member's
   `last_active` is kept (at most one write per member per hour). Every decision (admitted,
   or refused with its reason) is counted in `tenancy_requests_total` (see `tenancy.metrics`).

Redis and the registry are reached through blocking clients, so each request makes one hop to
a worker thread for steps 2-4 and one for step 6; lookups are cached (`TenantDirectory`).
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from prometheus_client import make_asgi_app

from tenancy.activity import ActivityTracker
from tenancy.errors import InvalidInputError
from tenancy.metered import hard_api_quota
from tenancy.metrics import TenancyMetrics
from tenancy.plans import PlanCatalog
from tenancy.ratelimit import Decision, RateLimiter, RatePolicy
from tenancy.tenant import Tenant, TenantStatus
from tenancy.usage.events import api_call
from tenancy.usage.recorder import UsageRecorder
from tenancy.usage.spooling_recorder import SpoolingRecorder
from tenancy.web.directory import TenantDirectory
from tenancy.web.resolve import TenantResolver, header

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The bucket name when the whole tenant shares one rate limit (the plan's requests/minute).
TENANT_BUCKET = "all"
_CONVERTER = re.compile(r"\{(\w+):[^}]*\}")


@dataclass(frozen=True)
class Refusal:
    status: int
    body: dict[str, Any]
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    reason: str = "unknown"  # `tenancy_requests_total`'s reason label
    tenant_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Admission:
    tenant: Tenant
    user_id: uuid.UUID | None
    decision: Decision
    policy: RatePolicy
    route: str


class TenancyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        directory: TenantDirectory,
        limiter: RateLimiter,
        catalog: PlanCatalog,
        resolver: TenantResolver,
        recorder: UsageRecorder | SpoolingRecorder | None = None,
        metrics: TenancyMetrics | None = None,
        user_header: str = "x-user-id",
        require_member: bool = True,
        per_route_limits: bool = False,
        metrics_path: str = "/metrics",
        public_paths: tuple[str, ...] = ("/healthz",),
        activity: ActivityTracker | None = None,
    ) -> None:
        self.app = app
        self.directory = directory
        self.limiter = limiter
        self.catalog = catalog
        self.resolver = resolver
        self.recorder = recorder
        self.metrics = metrics or TenancyMetrics()
        self.user_header = user_header.lower().encode("latin-1")
        self.require_member = require_member
        self.per_route_limits = per_route_limits
        self.metrics_path = metrics_path
        # prometheus_client's own ASGI app: content negotiation (OpenMetrics when the scraper
        # asks for it), gzip, and `name[]` filters, instead of a hand-written exposition.
        self.metrics_app = make_asgi_app(self.metrics.registry)
        self.public_paths = public_paths
        self.activity = activity

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == self.metrics_path:
            await self.metrics_app(scope, receive, send)
            return
        if path in self.public_paths:
            await self.app(scope, receive, send)
            return
        outcome = await anyio.to_thread.run_sync(self._admit, scope)
        if isinstance(outcome, Refusal):
            self.metrics.refused(outcome.reason, outcome.tenant_id)
            await _respond(
                send,
                outcome.status,
                json.dumps(outcome.body).encode(),
                [(b"content-type", b"application/json"), *outcome.headers],
            )
            return
        self.metrics.admitted()
        scope.setdefault("state", {})
        scope["state"]["tenant"] = outcome.tenant
        scope["state"]["user_id"] = outcome.user_id
        status = 500
        limit_headers = _ratelimit_headers(outcome.decision, outcome.policy)

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), *limit_headers]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            await anyio.to_thread.run_sync(
                self._record,
                outcome.tenant.id,
                outcome.route,
                scope["method"],
                status,
                outcome.user_id,
            )

    def _admit(self, scope: Scope) -> Admission | Refusal:
        key = self.resolver(scope)
        tenant = self.directory.find(*key) if key else None
        if tenant is None:
            return Refusal(404, {"error": "tenant_not_found"}, reason="tenant_not_found")
        if tenant.status is not TenantStatus.ACTIVE:
            return Refusal(
                403,
                {"error": f"tenant_{tenant.status.value}", "reason": f"tenant is {tenant.status}"},
                reason=f"tenant_{tenant.status.value}",
                tenant_id=tenant.id,
            )
        user_id = None
        raw_user = header(scope, self.user_header)
        if self.require_member:
            try:
                user_id = uuid.UUID(raw_user) if raw_user else None
            except ValueError:
                user_id = None
            if user_id is None:
                return Refusal(401, {"error": "unauthenticated"}, reason="unauthenticated")
            if not self.directory.is_member(user_id, tenant.id):
                return Refusal(403, {"error": "not_a_member"}, reason="not_a_member")
        plan = self.catalog.get(tenant.plan)
        policy = RatePolicy.for_tenant(plan, tenant.limit_overrides)
        now = datetime.now(UTC)
        quota = hard_api_quota(plan, tenant.limit_overrides, now)
        route = route_template(self.app, scope)
        bucket = route if self.per_route_limits else TENANT_BUCKET
        decision = self.limiter.check(
            tenant.id, bucket, policy, quota=quota, gate="api_calls_per_month", status=True
        )
        if decision.refused_by == "status":  # suspended since the directory cached the tenant
            return Refusal(
                403,
                {
                    "error": f"tenant_{decision.tenant_status}",
                    "reason": decision.block_reason or f"tenant is {decision.tenant_status}",
                },
                reason=f"tenant_{decision.tenant_status}",
                tenant_id=tenant.id,
            )
        if decision.refused_by == "blocked":
            return _quota_refusal(
                decision.block_reason or "blocked",
                "api_calls_per_month",
                decision.block_until,
                None,
                ("quota_blocked", tenant.id),
            )
        if decision.refused_by == "quota" and quota is not None:
            return _quota_refusal(
                f"{decision.quota_used:,} of {quota.limit:,} API calls this month "
                f"(plan {plan.name})",
                quota.metric,
                quota.resets_at,
                quota.limit,
                ("quota_exceeded", tenant.id),
            )
        if not decision.allowed:
            return Refusal(
                429,
                {"error": "rate_limited", "retry_after_seconds": decision.retry_after_seconds},
                [
                    (b"retry-after", str(decision.retry_after_seconds).encode()),
                    *_ratelimit_headers(decision, policy),
                ],
                reason="rate_limited",
                tenant_id=tenant.id,
            )
        return Admission(tenant, user_id, decision, policy, route)

    def _record(
        self,
        tenant_id: uuid.UUID,
        route: str,
        method: str,
        status: int,
        user_id: uuid.UUID | None = None,
    ) -> None:
        self.metrics.api_request(tenant_id, status)
        if self.activity is not None and user_id is not None:
            self.activity.touch(tenant_id, user_id)
        if self.recorder is None:
            return
        try:
            event = api_call(tenant_id, route, method, status)
        except InvalidInputError:
            return  # a method or route the usage schema does not know; metrics have it
        self.recorder.record(event)


def _quota_refusal(
    reason: str,
    limit: str,
    until: datetime | None,
    allowed: int | None,
    counted: tuple[str, uuid.UUID],
) -> Refusal:
    body: dict[str, Any] = {"error": "quota_exceeded", "limit": limit, "reason": reason}
    headers = []
    if allowed is not None:
        body["allowed"] = allowed
    if until is not None:
        body["resets_at"] = until.astimezone(UTC).isoformat()
        wait = max(0, math.ceil((until - datetime.now(UTC)).total_seconds()))
        headers.append((b"retry-after", str(wait).encode()))
    return Refusal(402, body, headers, reason=counted[0], tenant_id=counted[1])


def _ratelimit_headers(decision: Decision, policy: RatePolicy) -> list[tuple[bytes, bytes]]:
    """The IETF draft's structured fields: the policy (quota per window) and what remains,
    with the seconds until the bucket is full again."""
    if policy.requests_per_minute is None or decision.degraded:
        return []
    interval_s = 60 / max(policy.requests_per_minute, 1)
    remaining = max(decision.remaining, 0)
    reset = (
        decision.retry_after_seconds
        if not decision.allowed
        else math.ceil((policy.capacity - remaining) * interval_s)
    )
    return [
        (b"ratelimit-policy", f'"tenant";q={policy.requests_per_minute};w=60'.encode()),
        (b"ratelimit", f'"tenant";r={remaining};t={reset}'.encode()),
    ]


def route_template(app: Any, scope: Scope) -> str:
    """The matched route's template (`/agents/{agent_id}`), found by asking the Starlette or
    FastAPI router the middleware wraps; `/unmatched` when no route matches."""
    routes = _routes(app)
    for route in routes:
        matches = getattr(route, "matches", None)
        path = getattr(route, "path", None)
        if matches is None or path is None:
            continue
        match, _ = matches(scope)
        if getattr(match, "name", "") == "FULL":
            return _CONVERTER.sub(r"{\1}", path) or "/"
    return "/unmatched"


def _routes(app: Any) -> list[Any]:
    for _ in range(16):  # middleware stacks wrap the router in `.app` attributes
        routes = getattr(app, "routes", None)
        if routes is not None:
            return list(routes)
        app = getattr(app, "app", None)
        if app is None:
            break
    return []


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})
