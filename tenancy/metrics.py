"""Prometheus metrics with bounded label sets.

Cardinality at 10,000 tenants: `tenant_api_requests_total{tenant, status_class}` is at most
10,000 x 5 = 50,000 series per process, and `tenant_resource_usage{tenant, resource}` (written
by the pipeline as a textfile) 10,000 x 4 = 40,000. Endpoint, method and status code are
deliberately not labels (they would multiply the series by hundreds); they are in the usage
events and the DuckDB aggregates instead. Rate-limiter outcomes carry no tenant label at all.
"""

from __future__ import annotations

import uuid

from prometheus_client import CollectorRegistry, Counter

STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
RESOURCE_USAGE = "tenant_resource_usage"


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status <= 599 else "5xx"


class TenancyMetrics:
    """The request-path metrics, registered in `registry` (a fresh one per instance by default,
    so tests and multiple apps never collide)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.api_requests = Counter(
            "tenant_api_requests",
            "API requests per tenant, by status class.",
            ["tenant", "status_class"],
            registry=self.registry,
        )
        self.ratelimit_decisions = Counter(
            "tenant_ratelimit_decisions",
            "Rate-limiter decisions (allowed, limited, error_open, error_closed).",
            ["outcome"],
            registry=self.registry,
        )

    def api_request(self, tenant_id: uuid.UUID, status: int) -> None:
        self.api_requests.labels(str(tenant_id), status_class(status)).inc()
