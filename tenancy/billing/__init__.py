"""Billing: the invoice ledger (Postgres), invoice line maths, and pushing invoices to Stripe.

Pure logic and the Stripe client live here; the Dagster glue is in `pipelines/billing/`.
"""
