"""Every dashboard panel and alert rule, run by a real Prometheus over real metrics.

Prometheus (Debian's package) scrapes the example service's `/metrics` and a node exporter
reading the pipeline's textfiles while a small workload runs: requests through the middleware
(admitted, rate limited, unknown tenant, then blocked by the quota gate) on the test's
PostgreSQL and Redis; the usage pipeline drained (malformed entries quarantined), rolled up
and enforced for this month; this month's drafts pushed to the Stripe emulator with an edited
copy, so reconciliation holds them. Then every expression goes through `/api/v1/query`: a
parse or evaluation error fails, and so does an empty result where the workload made data.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import psycopg
import pytest
import uvicorn
import yaml

from pipelines.definitions import ASSETS, BILLING_ASSETS
from pipelines.lib.periods import month_start, utc_midnight
from policies.observability import queries as q
from policies.observability.dashboards import dashboards, expressions
from tenancy.db.bootstrap import RegistryUrls
from tenancy.devstack.ports import free_port
from tenancy.devstack.redis import RedisServer
from tenancy.devstack.stripe_emulator import StripeEmulator
from tenancy.usage.events import api_call
from tenancy.usage.stream import STREAM_KEY
from tenancy.web.example import ServiceConfig, create_app
from tests.pipelines.billing_support import emulator, materialize, resources
from tests.pipelines.conftest import Pipeline
from tests.prometheus import Prometheus, node_exporter, prometheus

ROOT = Path(__file__).resolve().parents[2]
ALERTS = sorted(p for p in (ROOT / "policies" / "alerts").glob("*.yml") if "_test" not in p.stem)
RATE_WINDOW = "1m"
__all__ = ["emulator", "resources"]  # fixtures

#: Metrics this workload cannot produce, and why; their expressions must still parse.
NOT_PRODUCED = {
    "certmanager_certificate_expiration_timestamp_seconds": "cert-manager's own metric",
}
#: Alerts whose condition the workload makes true (the others must merely evaluate).
FIRING = {
    "TenantResourceExhaustion",
    "TenantBlockedByQuota",
    "UsageQuarantineRateHigh",
    "InvoiceHeldByReconciliation",
}
_METRIC = re.compile(r"\b((?:tenant|tenancy|usage|billing|plan|certmanager)_[a-z_]+)\b")


@pytest.fixture
def service(registry: RegistryUrls, redis_server: RedisServer) -> Iterator[str]:
    """The example service under uvicorn on a free loopback port."""
    app = create_app(ServiceConfig(registry.app, registry.platform, redis_server.url))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            thread.join(0.05)
        assert server.started, "uvicorn did not start"
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def _owner(superuser: psycopg.Connection, tenant: uuid.UUID) -> str:
    row = superuser.execute(
        "SELECT user_id FROM registry.user_tenants WHERE tenant_id = %s AND role = 'owner'",
        (tenant,),
    ).fetchone()
    assert row is not None
    return str(row[0])


def _workload(
    pipeline: Pipeline,
    superuser: psycopg.Connection,
    address: str,
    billing: dict[str, object],
    emulator: StripeEmulator,
) -> None:
    free, pro = pipeline.tenants["free"], pipeline.tenants["pro"]
    owners = {t: _owner(superuser, t) for t in (free, pro)}
    with httpx.Client(base_url=f"http://{address}", timeout=30) as client:

        def get(tenant: uuid.UUID | str, user: str) -> int:
            headers = {"x-tenant-id": str(tenant), "x-user-id": user}
            return client.get("/agents", headers=headers).status_code

        assert [get(pro, owners[pro]) for _ in range(5)] == [200] * 5
        free_codes = [get(free, owners[free]) for _ in range(12)]
        assert 429 in free_codes, "the free plan's burst is 10"
        assert get(uuid.uuid4(), owners[pro]) == 404
        # The free tenant's month: over its 1,000 API calls, so enforcement blocks it.
        now = datetime.now(UTC)
        pipeline.recorder.record_many(
            api_call(free, "/agents", "GET", 200, _today(now, i)) for i in range(1_100)
        )
        # The pro tenant's month: 105 calls over its 10,000 (5 of them the requests above).
        pipeline.recorder.record_many(
            api_call(pro, "/agents", "GET", 200, _today(now, i)) for i in range(10_100)
        )
        for n in range(300):  # malformed entries: quarantined (300 of ~11,500 read: over 1 %)
            pipeline.redis.xadd(STREAM_KEY, {"v": "1", "tenant_id": "not-a-uuid", "n": str(n)})
        pipeline.materialize(["usage_events"])
        pipeline.materialize(["daily_tenant_usage"], partition_key=now.date().isoformat())
        pipeline.materialize(
            ["monthly_tenant_usage", "tenant_quota_status"],
            partition_key=month_start(now.date()).isoformat(),
        )
        assert get(free, owners[free]) == 402, "blocked by the quota gate"
        _hold_an_invoice(billing, emulator, month_start(now.date()).isoformat())


def _today(now: datetime, i: int) -> datetime:
    """A moment of the last 30 seconds, never before today's midnight (this day's partition)."""
    return max(now - timedelta(seconds=1 + i % 30), utc_midnight(now.date()))


def _hold_an_invoice(billing: dict[str, object], emulator: StripeEmulator, month: str) -> None:
    """This month's drafts pushed to a Stripe whose copy was edited: reconciliation holds them."""
    materialize(billing, ["invoice_ledger"], month)
    original = emulator.invoice_view

    def tampered(invoice: dict[str, Any]) -> dict[str, Any]:
        for line in emulator.lines[invoice["id"]]:
            line["amount"] = 1
        emulator._totals(invoice)
        return original(invoice)

    emulator.invoice_view = tampered  # type: ignore[method-assign]
    dg.materialize(
        [*ASSETS, *BILLING_ASSETS],
        selection=["stripe_invoices"],
        partition_key=month,
        resources=billing,
        raise_on_error=False,
    )


def _grafana_to_promql(expr: str, tenant: uuid.UUID) -> str:
    return expr.replace("$__rate_interval", RATE_WINDOW).replace("$tenant", str(tenant))


def _alert_rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in ALERTS
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def test_every_panel_and_alert_query_runs_on_real_metrics(
    pipeline: Pipeline,
    superuser: psycopg.Connection,
    service: str,
    resources: dict[str, object],
    emulator: StripeEmulator,
    tmp_path: Path,
) -> None:
    textfiles = pipeline.textfile.parent
    textfiles.mkdir(parents=True, exist_ok=True)
    with (
        node_exporter(textfiles, tmp_path) as node,
        prometheus({"tenancy": service, "node": node}, ALERTS, tmp_path) as prom,
    ):
        prom.wait_for('up{job="tenancy"} == 1')
        prom.wait_for('up{job="node"} == 1')
        _workload(pipeline, superuser, service, resources, emulator)
        # Everything the workload made, scraped at least twice (rates need two samples).
        prom.wait_for("count_over_time(tenant_quota_blocked[1m]) >= 2")
        prom.wait_for('count_over_time(tenancy_requests_total{reason="quota_blocked"}[1m]) >= 2')
        prom.wait_for("count_over_time(usage_ingest_last_run_entries[1m]) >= 2")
        prom.wait_for("count_over_time(billing_invoice_held[1m]) >= 2")
        _check_dashboards(prom, pipeline.tenants["free"])
        _check_alerts(prom)
        _check_cost(prom, pipeline.tenants)


def _check_dashboards(prom: Prometheus, tenant: uuid.UUID) -> None:
    checked = 0
    for uid, board in dashboards().items():
        for title, expr in expressions(board):
            grafana_values = re.fullmatch(r"label_values\((\w+), (\w+)\)", expr)
            if grafana_values:  # a Grafana variable query: the label's values for the metric
                metric, label = grafana_values.groups()
                body = prom.get(f"/api/v1/label/{label}/values", **{"match[]": metric})
                assert str(tenant) in body["data"], f"{uid}: {title}: {expr} -> {body}"
                continue
            promql = _grafana_to_promql(expr, tenant)
            assert prom.query(promql), f"{uid}: panel {title!r} is empty:\n{promql}"
            checked += 1
    assert checked >= 30, f"only {checked} panel queries found"


def _check_alerts(prom: Prometheus) -> None:
    known = set(prom.get("/api/v1/label/__name__/values")["data"])
    for rule in _alert_rules():
        name, expr = str(rule["alert"]), str(rule["expr"])
        result = prom.query(expr)
        for metric in set(_METRIC.findall(expr)) - set(NOT_PRODUCED):
            assert metric in known, f"{name}: {metric} was never scraped"
        if name in FIRING:
            assert result, f"{name}: the workload makes it true, yet {expr} is empty"
    rules = prom.get("/api/v1/rules")["data"]["groups"]
    loaded = {r["name"]: r for g in rules for r in g["rules"]}
    assert set(loaded) == {str(r["alert"]) for r in _alert_rules()}
    assert all(r["health"] == "ok" for r in loaded.values()), [
        (n, r.get("lastError")) for n, r in loaded.items() if r["health"] != "ok"
    ]
    pending = {a["labels"]["alertname"] for a in prom.get("/api/v1/alerts")["data"]["alerts"]}
    assert pending >= FIRING, f"Prometheus itself has {pending} pending or firing"


def _by(prom: Prometheus, expr: str, label: str) -> dict[str, float]:
    return {
        r["metric"].get(label, ""): round(float(r["value"][1]), 2)
        for r in prom.query(_grafana_to_promql(expr, uuid.uuid4()))
    }


def _check_cost(prom: Prometheus, tenants: dict[str, uuid.UUID]) -> None:
    """The cost panels price the workload as the catalog does: pro pays 49.00 plus one started
    block of 1,000 API calls (1.00); free pays nothing; enterprise its 499.00 base."""
    estimates = _by(prom, q.top_tenants_by_cost(), "tenant")
    assert estimates == {
        str(tenants["free"]): 0.0,
        str(tenants["pro"]): 50.0,
        str(tenants["enterprise"]): 499.0,
    }
    assert _by(prom, q.base_by_plan_dollars(), "plan") == {
        "free": 0.0,
        "pro": 49.0,
        "enterprise": 499.0,
    }
    assert _by(prom, q.overage_by_resource_dollars(), "resource") == {
        "api_calls_per_month": 1.0,
        "storage_gb": 0.0,
    }
    assert _by(prom, q.blocked_total(), "") == {"": 1.0}, "only the free tenant is blocked"
