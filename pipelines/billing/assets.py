"""The invoice ledger of a month, and its invoices pushed to Stripe, reconciled and finalized."""

import uuid
from datetime import UTC, date, datetime

import dagster as dg

from pipelines.billing import checks
from pipelines.billing.resources import StripeResource
from pipelines.lib import billing_usage, pipeline_metrics
from pipelines.partitions import WAREHOUSE_POOL, monthly_partitions
from pipelines.quotas.resources import QuotaOutputs
from pipelines.resources import RegistryResource, UsageWarehouse
from pipelines.usage.assets import daily_tenant_usage, monthly_tenant_usage
from tenancy.billing import ledger
from tenancy.billing.build import build_month
from tenancy.billing.lines import DayUsage
from tenancy.billing.periods import previous_month
from tenancy.billing.push import InvoicePusher
from tenancy.db.session import Database
from tenancy.plans import default_catalog

#: Stripe pushes run one at a time across runs (pools admit one step), so two runs never push
#: the same invoice concurrently.
STRIPE_POOL = "stripe_billing"


def _months_before(month: date, count: int) -> date:
    for _ in range(count):
        month = previous_month(month)
    return month


class InvoiceLedgerConfig(dg.Config):
    correction_lookback_months: int = 3


@dg.asset(
    group_name="billing",
    pool=WAREHOUSE_POOL,
    partitions_def=monthly_partitions,
    deps=[monthly_tenant_usage, daily_tenant_usage],
    check_specs=[checks.invoice_ledger_totals_match_lines, checks.invoice_ledger_inputs_complete],
)
def invoice_ledger(
    context: dg.AssetExecutionContext,
    config: InvoiceLedgerConfig,
    warehouse_db: UsageWarehouse,
    registry: RegistryResource,
) -> dg.MaterializeResult:
    """Each tenant's draft invoice for the month in the Postgres ledger: base price and overage
    from the plan catalog with overrides, prorated by the daily registry snapshots, plus
    corrections for earlier months whose invoices are already final. Invoices already pushed
    to Stripe are never rewritten."""
    month = context.partition_time_window.start.date()
    catalog = default_catalog()
    with warehouse_db.connection() as conn:
        usage = billing_usage.month_usage(conn, month)
        past: dict[date, dict[uuid.UUID, list[DayUsage]]] = {}
        for back in range(1, config.correction_lookback_months + 1):
            period = _months_before(month, back)
            past[period] = billing_usage.month_usage(conn, period)
        gaps = billing_usage.api_call_gaps(conn, month)
        missing = billing_usage.missing_snapshot_days(conn, month, datetime.now(UTC).date())
    with registry.database() as db:
        outcomes = build_month(
            db, catalog, month, usage, lambda p: past.get(p, {}), config.correction_lookback_months
        )
        with db.platform() as pg:
            bad = pg.execute(checks.TOTALS_SQL, (month,)).fetchall()
        invoices = ledger.list_invoices(db, month)
    return dg.MaterializeResult(
        metadata={
            **dict(outcomes),
            "invoices": len(invoices),
            "total_cents": sum(i.total_cents for i in invoices),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=checks.invoice_ledger_totals_match_lines.name,
                passed=not bad,
                metadata={
                    "invoices_off": [
                        f"{r['tenant_id']}: total {r['total_cents']}, lines {r['lines']}"
                        for r in bad
                    ]
                },
            ),
            dg.AssetCheckResult(
                check_name=checks.invoice_ledger_inputs_complete.name,
                passed=not gaps and not missing,
                metadata={
                    "days_without_snapshot": [d.isoformat() for d in missing],
                    "api_call_gaps": [f"{t}: daily {d}, monthly {m}" for t, d, m in gaps],
                },
            ),
        ],
    )


@dg.asset(
    group_name="billing",
    pool=STRIPE_POOL,
    partitions_def=monthly_partitions,
    deps=[invoice_ledger],
    check_specs=[checks.stripe_invoices_reconciled, checks.stripe_invoices_one_per_tenant],
)
def stripe_invoices(
    context: dg.AssetExecutionContext,
    registry: RegistryResource,
    stripe: StripeResource,
    outputs: QuotaOutputs,
) -> dg.MaterializeResult:
    """The month's ledger invoices in Stripe: a draft per invoice (auto_advance off) with its
    lines, retrieved and reconciled line by line against the ledger, and finalized only when
    it matches. Safe to rerun after any failure: it finds what exists before creating. Held
    invoices are exported as `billing_invoice_held` for the InvoiceHeldByReconciliation alert."""
    month = context.partition_time_window.start.date()
    gateway = stripe.gateway()
    urls = registry.urls()
    workers = max(1, stripe.concurrency)
    with Database(urls.app, urls.platform, max_size=workers + 1) as db:
        pending = [i.id for i in ledger.list_invoices(db, month) if i.status in ("draft", "pushed")]
        results, failures = InvoicePusher(db, gateway).push_all(pending, workers)
        invoices = ledger.list_invoices(db, month)
        every_invoice = ledger.list_invoices(db)
    pipeline_metrics.write(
        outputs.beside(pipeline_metrics.BILLING_FILE), pipeline_metrics.billing(every_invoice)
    )
    held = [d for r in results for d in r.differences]
    if failures:
        # The run fails (Dagster shows it failed; a rerun resumes these from what Stripe and
        # the ledger hold), and says what became of the others, holds included, since the
        # checks below are not reported for a failed step.
        shown = [str(f) for f in failures[:20]]
        raise dg.Failure(
            description=f"{len(failures)} of {len(pending)} invoices for {month:%Y-%m} stopped "
            f"on a billing error ({len(results)} pushed: "
            f"{sum(r.status == 'held' for r in results)} held by reconciliation): "
            + "; ".join(shown),
            metadata={
                "failed": len(failures),
                "not_attempted": sum(not f.attempted for f in failures),
                "errors": shown,
                "held_differences": held[:100],
                "stripe_requests": gateway.requests,
            },
        )
    recorded = [i for i in invoices if i.status not in ("draft", "pushed")]
    missing_id = [str(i.id) for i in recorded if not i.stripe_invoice_id]
    return dg.MaterializeResult(
        metadata={
            "pushed": len(pending),
            "finalized": sum(r.status == "finalized" for r in results),
            "held": sum(r.status == "held" for r in results),
            "stripe_requests": gateway.requests,
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=checks.stripe_invoices_reconciled.name,
                passed=not held,
                metadata={"differences": held[:100]},
                description="; ".join(held[:10]) or None,
            ),
            dg.AssetCheckResult(
                check_name=checks.stripe_invoices_one_per_tenant.name,
                passed=not missing_id
                and len({i.stripe_invoice_id for i in recorded}) == len(recorded),
                metadata={"without_stripe_id": missing_id},
            ),
        ],
    )
