"""Compare a ledger invoice with what Stripe holds: every line amount and the total.

Each difference names the tenant, the period, the line and both amounts, so an operator can
act on the message alone. Only an invoice without differences is finalized.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tenancy.billing.gateway import metadata_of
from tenancy.billing.ledger import Invoice, LedgerLine


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
