"""The Dagster code location: `dagster dev` from the project root loads this module."""

import dagster as dg

from pipelines.billing.assets import invoice_ledger, stripe_invoices
from pipelines.billing.resources import StripeResource
from pipelines.billing.schedules import (
    billing_job,
    billing_schedule,
    invoice_draft_job,
    invoice_draft_schedule,
)
from pipelines.billing.sensors import stripe_payment_events_sensor
from pipelines.domains.assets import domain_ownership_checks
from pipelines.domains.resources import DomainCheckSettings
from pipelines.domains.schedules import domain_checks_job, domain_checks_schedule
from pipelines.quotas.assets import tenant_quota_status
from pipelines.quotas.resources import QuotaOutputs
from pipelines.quotas.schedules import (
    monthly_rollup_schedule,
    quota_enforcement_job,
    quota_enforcement_schedule,
)
from pipelines.resources import RedisResource, RegistryResource, UsageWarehouse
from pipelines.retention.assets import retention_sweep, tenant_purges
from pipelines.retention.resources import RetentionTargets
from pipelines.retention.schedules import retention_sweep_job, retention_sweep_schedule
from pipelines.usage.assets import daily_tenant_usage, monthly_tenant_usage, usage_events
from pipelines.usage.resources import StorageMeasurer
from pipelines.usage.schedules import (
    daily_rollup_job,
    daily_rollup_schedule,
    ingest_job,
    ingest_schedule,
)
from pipelines.usage.sensors import late_usage_sensor
from pipelines.warehouse.assets import lakehouse_files
from pipelines.warehouse.schedules import lakehouse_upkeep_job, lakehouse_upkeep_schedule

ASSETS = [usage_events, daily_tenant_usage, monthly_tenant_usage, tenant_quota_status]
RETENTION_ASSETS = [tenant_purges, retention_sweep]
BILLING_ASSETS = [invoice_ledger, stripe_invoices]
WAREHOUSE_ASSETS = [lakehouse_files]

defs = dg.Definitions(
    assets=[
        *ASSETS,
        *RETENTION_ASSETS,
        *BILLING_ASSETS,
        *WAREHOUSE_ASSETS,
        domain_ownership_checks,
    ],
    jobs=[
        ingest_job,
        daily_rollup_job,
        quota_enforcement_job,
        retention_sweep_job,
        invoice_draft_job,
        billing_job,
        domain_checks_job,
        lakehouse_upkeep_job,
    ],
    schedules=[
        ingest_schedule,
        daily_rollup_schedule,
        quota_enforcement_schedule,
        monthly_rollup_schedule,
        retention_sweep_schedule,
        invoice_draft_schedule,
        billing_schedule,
        domain_checks_schedule,
        lakehouse_upkeep_schedule,
    ],
    sensors=[late_usage_sensor, stripe_payment_events_sensor],
    resources={
        "warehouse_db": UsageWarehouse(),
        "registry": RegistryResource(),
        "redis": RedisResource(),
        "storage": StorageMeasurer(),
        "outputs": QuotaOutputs(),
        "retention": RetentionTargets(),
        "stripe": StripeResource(),
        "domains": DomainCheckSettings(),
    },
)
