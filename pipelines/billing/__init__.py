"""Billing: the invoice ledger from monthly usage, and invoices pushed to Stripe."""
