"""The PromQL behind the dashboards, in one place.

Metrics come from the request path's `/metrics` (`tenancy.metrics`) and the pipeline's
textfiles (`pipelines.lib.pipeline_metrics`, `tenant_resource_usage`). `$tenant` and
`$__rate_interval` are Grafana's template variables; the query test substitutes them.

Cost is priced from the catalog's own prices, exported as metrics (`plan_base_monthly_cents`,
`plan_overage_block_*`), never copied here: the month so far at the current level of each
limit. Stored GB are billed on their daily average over the month, so the invoice
(`tenancy billing preview`) is the authority; these panels are an estimate.
"""

from __future__ import annotations

RATE = "$__rate_interval"
RESOURCES = ("api_calls_per_month", "storage_gb", "users", "agents")


def _tenant(selector: str, tenant: str | None) -> str:
    return f'{selector}{{tenant="{tenant}"}}' if tenant else selector


def requests_by_status(tenant: str | None = None) -> str:
    series = _tenant("tenant_api_requests_total", tenant)
    return f"sum by (status_class) (rate({series}[{RATE}]))"


def refusals_by_reason(tenant: str | None = None) -> str:
    if tenant:
        series = _tenant("tenant_requests_refused_total", tenant)
        return f"sum by (reason) (rate({series}[{RATE}]))"
    return f'sum by (reason) (rate(tenancy_requests_total{{decision="refused"}}[{RATE}]))'


def admitted_ratio() -> str:
    return (
        f'sum(rate(tenancy_requests_total{{decision="admitted"}}[{RATE}]))'
        f" / sum(rate(tenancy_requests_total[{RATE}]))"
    )


def top_tenants_by_requests(count: int = 10) -> str:
    return f"topk({count}, sum by (tenant) (rate(tenant_api_requests_total[{RATE}])))"


def ratelimit_outcomes() -> str:
    return f"sum by (outcome) (rate(tenant_ratelimit_decisions_total[{RATE}]))"


def usage_fraction(tenant: str | None = None, resource: str | None = None) -> str:
    labels = [f'tenant="{tenant}"'] if tenant else []
    labels += [f'resource="{resource}"'] if resource else []
    return "tenant_resource_usage" + ("{" + ",".join(labels) + "}" if labels else "")


def used(resource: str) -> str:
    return f'tenant_resource_used{{resource="{resource}"}}'


def limit(resource: str) -> str:
    return f'tenant_resource_limit{{resource="{resource}"}}'


def tenant_used(tenant: str) -> str:
    return f'tenant_resource_used{{tenant="{tenant}"}}'


def tenant_limit(tenant: str) -> str:
    return f'tenant_resource_limit{{tenant="{tenant}"}}'


def blocked(tenant: str | None = None) -> str:
    return _tenant("tenant_quota_blocked", tenant)


def blocked_total() -> str:
    return "sum(tenant_quota_blocked)"


def near_limit_by_resource(threshold: float = 0.9) -> str:
    return f"sum by (resource) (tenant_resource_usage >= bool {threshold})"


def tenants_by_plan() -> str:
    return "count by (plan) (tenant_plan)"


def ingest_age() -> str:
    """Per shard: a stuck shard shows beside the healthy ones (UsageIngestStale's view)."""
    return "time() - max by (shard) (usage_ingest_last_success_timestamp_seconds)"


def ingest_entries() -> str:
    return "max by (shard, outcome) (usage_ingest_last_run_entries)"


def quarantine_ratio() -> str:
    return (
        'max by (shard) (usage_ingest_last_run_entries{outcome="quarantined"})'
        ' / max by (shard) (usage_ingest_last_run_entries{outcome="read"})'
    )


def invoices_by_status() -> str:
    return "sum by (status) (billing_invoices)"


def held_invoices() -> str:
    return "billing_invoice_held == 1"


def base_cents(tenant: str | None = None) -> str:
    """Each tenant's monthly base price."""
    plans = _tenant("tenant_plan", tenant)
    return f"{plans} * on (plan) group_left plan_base_monthly_cents"


def overage_cents(tenant: str | None = None) -> str:
    """Per tenant and priced resource: started blocks above the limit times the block price."""
    return (
        "ceil("
        f"clamp_min({_tenant('tenant_resource_used', tenant)}"
        f" - {_tenant('tenant_resource_limit', tenant)}, 0)"
        f" * on (tenant) group_left (plan) {_tenant('tenant_plan', tenant)}"
        " / on (plan, resource) group_left plan_overage_block_size"
        ") * on (plan, resource) group_left plan_overage_block_cents"
    )


def estimate_dollars(tenant: str | None = None) -> str:
    """Base plus overage per tenant, in currency units (a tenant with no overage counts 0)."""
    base = f"sum by (tenant) ({base_cents(tenant)})"
    overage = f"sum by (tenant) ({overage_cents(tenant)})"
    return f"({base} + on (tenant) ({overage} or {base} * 0)) / 100"


def base_by_plan_dollars() -> str:
    return f"sum by (plan) ({base_cents()}) / 100"


def overage_by_resource_dollars() -> str:
    return f"sum by (resource) ({overage_cents()}) / 100"


def top_tenants_by_cost(count: int = 10) -> str:
    return f"topk({count}, {estimate_dollars()})"
