"""The request path as an application sees it: the example service behind TenancyMiddleware,
on the real registry and Redis, driven over ASGI."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
import pytest
import redis
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from tenancy.agents import create_agent
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.devstack.redis import RedisServer
from tenancy.feature_overrides import set_override
from tenancy.metered import MeteredCounters, MeteredQuota
from tenancy.metrics import TenancyMetrics
from tenancy.quota_gate import QuotaBlock, QuotaStateStore
from tenancy.tenant_status import TenantStatusStore
from tenancy.usage.events import parse_fields
from tenancy.usage.stream import STREAM_KEY
from tenancy.web.example import ServiceConfig, create_app
from tests.db.factories import make_tenant


@dataclass
class Service:
    client: TestClient
    tenants: dict[str, uuid.UUID]
    owners: dict[str, uuid.UUID]
    agents: dict[str, uuid.UUID]

    def get(self, path: str, plan: str = "pro", user: str | None = None, **headers: str) -> object:
        sent = {"x-tenant-id": str(self.tenants[plan]), "x-user-id": str(self.owners[plan])}
        if user is not None:
            sent["x-user-id"] = user
        return self.client.get(path, headers=sent | headers)


@pytest.fixture
def service(
    registry: RegistryUrls, db: Database, redis_server: RedisServer, redis_client: redis.Redis
) -> Iterator[Service]:
    tenants, owners, agents = {}, {}, {}
    for plan in ("free", "pro"):
        made = make_tenant(db, f"web-{plan}", plan=plan)
        tenants[plan], owners[plan] = made.tenant.id, made.owner_id
        agents[plan] = create_agent(db, made.tenant.id, f"{plan} agent").id
    app = create_app(ServiceConfig(registry.app, registry.platform, redis_server.url))
    with TestClient(app) as client:
        yield Service(client, tenants, owners, agents)


def test_a_member_sees_its_tenants_agents_with_ratelimit_headers(
    service: Service, redis_client: redis.Redis
) -> None:
    response = service.get("/agents")
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert [a["id"] for a in response.json()] == [str(service.agents["pro"])]  # type: ignore[attr-defined]
    assert response.headers["ratelimit-policy"] == '"tenant";q=600;w=60'  # type: ignore[attr-defined]
    assert response.headers["ratelimit"].startswith('"tenant";r=59;')  # type: ignore[attr-defined]
    one = service.get(f"/agents/{service.agents['pro']}")
    assert one.json()["name"] == "pro agent"  # type: ignore[attr-defined]
    events = [
        parse_fields({k.decode(): v.decode() for k, v in f.items()})
        for _, f in redis_client.xrange(STREAM_KEY)
    ]
    assert [(e.endpoint, e.method, e.status) for e in events] == [
        ("/agents", "GET", 200),
        ("/agents/{agent_id}", "GET", 200),
    ], "the route template is recorded, never the raw path"


def test_another_tenants_agent_is_the_same_404_as_a_random_id(service: Service) -> None:
    foreign = service.get(f"/agents/{service.agents['free']}")
    random_id = service.get(f"/agents/{uuid.uuid4()}")
    garbage = service.get("/agents/not-a-uuid")
    assert foreign.status_code == random_id.status_code == garbage.status_code == 404  # type: ignore[attr-defined]
    assert foreign.json() == random_id.json()  # type: ignore[attr-defined]


def test_unknown_suspended_and_non_member_callers_are_refused(
    service: Service, superuser: psycopg.Connection
) -> None:
    unknown = service.client.get(
        "/agents", headers={"x-tenant-id": str(uuid.uuid4()), "x-user-id": str(uuid.uuid4())}
    )
    assert unknown.status_code == 404 and unknown.json() == {"error": "tenant_not_found"}
    stranger = service.get("/agents", user=str(service.owners["free"]))
    assert stranger.status_code == 403 and stranger.json()["error"] == "not_a_member"  # type: ignore[attr-defined]
    anonymous = service.client.get("/agents", headers={"x-tenant-id": str(service.tenants["pro"])})
    assert anonymous.status_code == 401
    superuser.execute(
        "UPDATE registry.tenants SET status = 'suspended', suspension_reason = 'test' WHERE id = %s",
        (service.tenants["free"],),
    )
    service.client.app.middleware_stack = None  # type: ignore[attr-defined]  # rebuild: fresh caches
    suspended = service.get("/agents", plan="free")
    assert suspended.status_code == 403  # type: ignore[attr-defined]
    assert suspended.json() == {"error": "tenant_suspended", "reason": "tenant is suspended"}  # type: ignore[attr-defined]


def test_rate_limit_answers_429_with_retry_after(service: Service) -> None:
    codes = [service.get("/agents", plan="free").status_code for _ in range(12)]  # type: ignore[attr-defined]
    assert codes[:10] == [200] * 10 and 429 in codes[10:], "free: burst of 10"
    limited = service.get("/agents", plan="free")
    assert limited.status_code == 429  # type: ignore[attr-defined]
    assert int(limited.headers["retry-after"]) >= 1  # type: ignore[attr-defined]
    assert limited.headers["ratelimit"].startswith('"tenant";r=0;')  # type: ignore[attr-defined]
    assert limited.json()["error"] == "rate_limited"  # type: ignore[attr-defined]


def test_the_hard_quota_holds_within_the_request_path(
    service: Service, redis_client: redis.Redis
) -> None:
    quota = MeteredQuota.monthly("api_calls_per_month", 1_000, datetime.now(UTC))
    MeteredCounters(redis_client).reconcile(service.tenants["free"], quota, 999, datetime.now(UTC))
    assert service.get("/agents", plan="free").status_code == 200  # type: ignore[attr-defined]
    over = service.get("/agents", plan="free")
    assert over.status_code == 402  # type: ignore[attr-defined]
    body = over.json()  # type: ignore[attr-defined]
    assert body["limit"] == "api_calls_per_month" and body["allowed"] == 1_000
    assert body["resets_at"] == quota.resets_at.isoformat()
    assert "1,000 of 1,000 API calls this month (plan free)" in body["reason"]


def test_metrics_endpoint_serves_the_registry(service: Service) -> None:
    service.get("/agents")
    text = service.client.get("/metrics").text
    assert (
        f'tenant_api_requests_total{{status_class="2xx",tenant="{service.tenants["pro"]}"}} 1.0'
        in text
    )


def test_metrics_negotiate_openmetrics_and_filter_by_name(service: Service) -> None:
    service.get("/agents")
    open_metrics = service.client.get(
        "/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.endswith("# EOF\n")
    only = service.client.get("/metrics?name[]=tenancy_requests_total").text
    assert "tenancy_requests_total{" in only and "tenant_api_requests_total" not in only


def test_a_tenant_is_found_by_its_host_name_only_once_the_domain_is_proven(
    service: Service, db: Database
) -> None:
    owner = {"x-user-id": str(service.owners["pro"])}
    by_slug = service.client.get("/agents", headers={"host": "web-pro.codexos.example", **owner})
    assert by_slug.status_code == 200
    # `tenants.domain` is whatever the tenant typed: it routes nothing until proven in DNS.
    unproven = service.client.get("/agents", headers={"host": "web-pro.example.com", **owner})
    assert unproven.status_code == 404
    with db.platform() as conn:
        for host, status in (("shop.web-pro.test", "verified"), ("old.web-pro.test", "revoked")):
            conn.execute(
                "INSERT INTO registry.domains (tenant_id, domain, status, token_sha256, "
                "token_expires_at, created_at, updated_at, verified_at) "
                "VALUES (%s, %s, %s, sha256('t'::bytea), now(), now(), now(), now())",
                (service.tenants["pro"], host, status),
            )
    proven = service.client.get("/agents", headers={"host": "SHOP.web-pro.test.", **owner})
    assert proven.status_code == 200
    revoked = service.client.get("/agents", headers={"host": "old.web-pro.test", **owner})
    assert revoked.status_code == 404
    # A tenant that loses the custom-domain feature keeps its claim but serves it nowhere.
    set_override(db, str(service.tenants["pro"]), "custom_domain", False, reason="downgrade")
    with db.platform() as conn:
        conn.execute(
            "INSERT INTO registry.domains (tenant_id, domain, status, token_sha256, "
            "token_expires_at, created_at, updated_at, verified_at) "
            "VALUES (%s, 'api.web-pro.test', 'verified', sha256('t'::bytea), now(), now(), "
            "now(), now())",
            (service.tenants["pro"],),
        )
    withdrawn = service.client.get("/agents", headers={"host": "api.web-pro.test", **owner})
    assert withdrawn.status_code == 404


def test_a_pipeline_block_answers_402_with_its_reason(
    service: Service, redis_client: redis.Redis
) -> None:
    now = datetime.now(UTC)
    until = datetime(now.year + 1, 1, 1, tzinfo=UTC)
    QuotaStateStore(redis_client).replace(
        service.tenants["pro"],
        {"api_calls_per_month": QuotaBlock("tenant is suspended", until)},
        now,
    )
    blocked = service.get("/agents")
    assert blocked.status_code == 402  # type: ignore[attr-defined]
    assert blocked.json()["reason"] == "tenant is suspended"  # type: ignore[attr-defined]
    assert blocked.json()["resets_at"] == until.isoformat()  # type: ignore[attr-defined]


def test_a_published_suspension_refuses_at_once_despite_the_cache(
    service: Service, redis_client: redis.Redis
) -> None:
    assert service.get("/agents").status_code == 200  # type: ignore[attr-defined]  # now cached
    TenantStatusStore(redis_client).publish(service.tenants["pro"], "suspended", "unpaid invoice")
    refused = service.get("/agents")
    assert refused.status_code == 403  # type: ignore[attr-defined]
    assert refused.json() == {"error": "tenant_suspended", "reason": "unpaid invoice"}  # type: ignore[attr-defined]
    TenantStatusStore(redis_client).publish(service.tenants["pro"], "active", None)
    assert service.get("/agents").status_code == 200  # type: ignore[attr-defined]


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_every_decision_is_counted_with_its_reason(
    service: Service, redis_client: redis.Redis
) -> None:
    free, pro = str(service.tenants["free"]), str(service.tenants["pro"])
    assert service.get("/agents").status_code == 200  # type: ignore[attr-defined]
    service.client.get("/agents", headers={"x-tenant-id": str(uuid.uuid4()), "x-user-id": pro})
    service.client.get("/agents", headers={"x-tenant-id": pro})
    service.get("/agents", user=str(service.owners["free"]))
    until = datetime(2100, 1, 1, tzinfo=UTC)
    QuotaStateStore(redis_client).replace(
        free, {"api_calls_per_month": QuotaBlock("over the limit", until)}, datetime.now(UTC)
    )
    assert service.get("/agents", plan="free").status_code == 402  # type: ignore[attr-defined]
    text = service.client.get("/metrics").text
    decisions = _samples(text, "tenancy_requests_total")
    assert decisions == {
        (("decision", "admitted"), ("reason", "admitted")): 1.0,
        (("decision", "refused"), ("reason", "tenant_not_found")): 1.0,
        (("decision", "refused"), ("reason", "unauthenticated")): 1.0,
        (("decision", "refused"), ("reason", "not_a_member")): 1.0,
        (("decision", "refused"), ("reason", "quota_blocked")): 1.0,
    }
    assert _samples(text, "tenant_requests_refused_total") == {
        (("reason", "quota_blocked"), ("tenant", free)): 1.0
    }, "only the quota, block and rate-limit refusals of a known tenant carry its id"


def test_an_unexpected_reason_is_counted_as_unknown() -> None:
    metrics = TenancyMetrics()
    tenant = uuid.uuid4()
    metrics.refused("a reason from a newer release", tenant)
    assert metrics.requests.labels("refused", "unknown")._value.get() == 1.0
    assert not _samples(
        generate_latest(metrics.registry).decode(), "tenant_requests_refused_total"
    ), "a reason outside the closed set never gets a tenant label"
