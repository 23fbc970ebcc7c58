"""Prometheus metrics with bounded label sets.

Cardinality at 10,000 tenants: `tenant_api_requests_total{tenant, status_class}` is at most
10,000 x 5 = 50,000 series per process, and `tenant_resource_usage{tenant, resource}` (written
by the pipeline as a textfile) 10,000 x 4 = 40,000. Endpoint, method and status code are
deliberately not labels (they would multiply the series by hundreds); they are in the usage
events and the DuckDB aggregates instead. Rate-limiter outcomes carry no tenant label at all.

Admission decisions: `tenancy_requests_total{decision, reason}` has no tenant label (the
reasons are a closed set of 11, so 11 series), and `tenant_requests_refused_total{tenant,
reason}` counts only the refusals an operator follows per tenant (rate limit, quota, pipeline
block: 3 reasons), for tenants the registry resolved: at most 10,000 x 3 = 30,000 series, and in
practice only the tenants that were refused. A refusal before the tenant is known (unknown
tenant) or that any caller can provoke (unauthenticated, not a member) never gets a tenant label.

The usage spool (`tenancy.usage.spool`): `tenancy_usage_events_spooled_total`,
`tenancy_usage_events_replayed_total`, `tenancy_usage_spool_quarantined_total` and
`tenancy_usage_events_lost_total` (neither Redis nor the spool took them), no labels.
"""

from __future__ import annotations

import uuid

from prometheus_client import CollectorRegistry, Counter

STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
RESOURCE_USAGE = "tenant_resource_usage"
#: Why the middleware admitted or refused a request (the `reason` label's closed set).
ADMITTED = "admitted"
REFUSAL_REASONS = (
    "tenant_not_found",
    "tenant_suspended",
    "tenant_deleted",
    "tenant_purged",
    "unauthenticated",
    "not_a_member",
    "quota_blocked",
    "quota_exceeded",
    "rate_limited",
    "unknown",
)
#: Refusals also counted per tenant (the tenant is a registry row; the caller cannot choose it).
PER_TENANT_REFUSALS = ("quota_blocked", "quota_exceeded", "rate_limited")


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

        self.requests = Counter(
            "tenancy_requests",
            "Requests the middleware decided on: admitted, or refused with the reason.",
            ["decision", "reason"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "tenant_requests_refused",
            "Requests of a known tenant refused by its rate limit, quota or a pipeline block.",
            ["tenant", "reason"],
            registry=self.registry,
        )
        self.usage_spooled = Counter(
            "tenancy_usage_events_spooled",
            "Usage events written to the local spool because Redis was unreachable.",
            registry=self.registry,
        )
        self.usage_replayed = Counter(
            "tenancy_usage_events_replayed",
            "Spooled usage events re-recorded into Redis once it answered again.",
            registry=self.registry,
        )
        self.usage_lost = Counter(
            "tenancy_usage_events_lost",
            "Usage events neither Redis nor the local spool could take (the spool's disk failed).",
            registry=self.registry,
        )
        self.usage_spool_quarantined = Counter(
            "tenancy_usage_spool_quarantined",
            "Spool lines that were not events (torn by a crash, unparsable), quarantined.",
            registry=self.registry,
        )

    def api_request(self, tenant_id: uuid.UUID, status: int) -> None:
        self.api_requests.labels(str(tenant_id), status_class(status)).inc()

    def admitted(self) -> None:
        self.requests.labels("admitted", ADMITTED).inc()

    def refused(self, reason: str, tenant_id: uuid.UUID | None = None) -> None:
        """Count a refusal; a reason outside the closed set is counted as `unknown`."""
        if reason not in REFUSAL_REASONS:
            reason = "unknown"
        self.requests.labels("refused", reason).inc()
        if tenant_id is not None and reason in PER_TENANT_REFUSALS:
            self.refusals.labels(str(tenant_id), reason).inc()
