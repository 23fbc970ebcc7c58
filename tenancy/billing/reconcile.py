"""Compare a ledger invoice with what Stripe holds: every line amount and the total.

Each difference names the tenant, the period, the line and both amounts, so an operator can
act on the message alone. Only an invoice without differences is finalized.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date
from typing import Any

from tenancy.billing import ledger
from tenancy.billing.gateway import StripeGateway, metadata_of
from tenancy.billing.ledger import Invoice, LedgerLine
from tenancy.db.session import Database
from tenancy.registry import get_tenant


def compare(
    slug: str,
    invoice: Invoice,
    lines: Sequence[LedgerLine],
    remote: Sequence[Any],
    stripe_total: int,
) -> list[str]:
    """Differences between the ledger's lines and Stripe's (`remote`: invoice line objects with
    `metadata.ledger_line_id`); empty when they match to the cent."""
    where = f"tenant {slug} ({invoice.tenant_id}) {invoice.period_start:%Y-%m}"
    ours = {str(entry.id): entry for entry in lines}
    seen: dict[str, int] = {}
    out = []
    for line in remote:
        line_id = metadata_of(line).get("ledger_line_id")
        amount = int(line.amount)
        if line_id not in ours:
            out.append(
                f"{where}: Stripe line {line.id} ({line.description!r}, {amount} cents) is not in the ledger"
            )
            continue
        if line_id in seen:
            out.append(
                f"{where}: line {ours[line_id].line.code} ({line_id}) is on the Stripe invoice twice"
            )
            continue
        seen[line_id] = amount
        expected = ours[line_id].line.amount_cents
        if amount != expected:
            out.append(
                f"{where}: line {ours[line_id].line.code} ({line_id}): ledger {expected} cents, Stripe {amount} cents"
            )
    for line_id, entry in ours.items():
        if line_id not in seen:
            out.append(
                f"{where}: line {entry.line.code} ({line_id}) of {entry.line.amount_cents} cents is missing from Stripe"
            )
    if stripe_total != invoice.total_cents:
        out.append(
            f"{where}: total: ledger {invoice.total_cents} cents, Stripe {stripe_total} cents"
        )
    return out


def reconcile_month(db: Database, gateway: StripeGateway, month: date) -> list[str]:
    """Every difference between the ledger's invoices of `month` and Stripe: per invoice its
    lines and total, ledger invoices Stripe lacks, and Stripe invoices of ours the ledger lacks
    (found through search, whose indexing delay only postpones the finding)."""
    v1: Any = gateway.client.v1
    out: list[str] = []
    invoices = ledger.list_invoices(db, month)
    known = {i.stripe_invoice_id for i in invoices if i.stripe_invoice_id}
    for invoice in invoices:
        slug = get_tenant(db, invoice.tenant_id).slug
        if invoice.stripe_invoice_id is None:
            if invoice.status != "draft":
                out.append(
                    f"tenant {slug} ({invoice.tenant_id}) {month:%Y-%m}: {invoice.status} in the ledger but not in Stripe"
                )
            continue
        stripe_id = invoice.stripe_invoice_id
        remote = gateway.call(
            "retrieve invoice", functools.partial(v1.invoices.retrieve, stripe_id)
        )
        lines = list(
            gateway.pages(
                "list invoice lines", functools.partial(v1.invoices.line_items.list, stripe_id)
            )
        )
        out.extend(
            compare(slug, invoice, ledger.invoice_lines(db, invoice.id), lines, int(remote.total))
        )
    query = f"metadata['period']:'{month.isoformat()}'"
    for found in gateway.call(
        "search invoices", lambda o: v1.invoices.search({"query": query}, o)
    ).data:
        if found.id not in known and found.status != "void":
            meta = metadata_of(found)
            out.append(
                f"tenant {meta.get('tenant_id')} {month:%Y-%m}: Stripe invoice {found.id} ({found.status}, {found.total} cents) is not in the ledger"
            )
    return out
