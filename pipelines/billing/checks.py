"""Checks on the invoice ledger and on what Stripe holds (the Dagster UI shows them)."""

from __future__ import annotations

import dagster as dg

invoice_ledger_totals_match_lines = dg.AssetCheckSpec(
    "invoice_ledger_totals_match_lines",
    asset="invoice_ledger",
    description="Every invoice's total equals the sum of its lines to the cent and is not negative.",
)
invoice_ledger_inputs_complete = dg.AssetCheckSpec(
    "invoice_ledger_inputs_complete",
    asset="invoice_ledger",
    description="Every day of the month has a registry snapshot, and daily API calls add up to "
    "monthly_tenant_usage for every tenant.",
)
stripe_invoices_reconciled = dg.AssetCheckSpec(
    "stripe_invoices_reconciled",
    asset="stripe_invoices",
    description="Every invoice of the month matches Stripe line by line; a held invoice fails this "
    "check naming the tenant, the line and both amounts.",
)
stripe_invoices_one_per_tenant = dg.AssetCheckSpec(
    "stripe_invoices_one_per_tenant",
    asset="stripe_invoices",
    description="Stripe holds exactly one invoice per tenant and month of the ledger, with its id "
    "recorded in the ledger.",
)

TOTALS_SQL = """
SELECT i.id, i.tenant_id, i.total_cents, coalesce(sum(l.amount_cents), 0) AS lines
FROM billing.invoices i LEFT JOIN billing.invoice_lines l ON l.invoice_id = i.id
WHERE i.period_start = %s GROUP BY i.id
HAVING i.total_cents <> coalesce(sum(l.amount_cents), 0) OR i.total_cents < 0
"""
