"""The billing ledger in Postgres (schema `billing`): accounts, invoices and their lines.

Written by the control plane role; a tenant reads its own invoices through the request path
under forced RLS (`tenant_invoices`). Ids are derived from the tenant and the period
(uuid5), so a rerun finds the same invoice and line ids, and Stripe idempotency keys built
from them are deterministic. An invoice is `draft` while the pipeline may still rewrite its
lines; from `pushed` on (set before the first Stripe request) it is frozen, and late usage
becomes a correction on a later invoice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from tenancy.billing.lines import Line
from tenancy.billing.periods import month_end, previous_month, require_month_start
from tenancy.db.session import Connection, Database
from tenancy.errors import NotFoundError

NAMESPACE = uuid.UUID("5b0c7c52-2f4e-4a8e-9d1c-6f0d1f6a8b11")
STATUSES = ("draft", "pushed", "finalized", "paid", "payment_failed", "void", "uncollectible")
#: Stripe invoice status -> ledger status, for the payment events that flow back.
PAYMENT_STATUSES = {
    "invoice.paid": "paid",
    "invoice.payment_failed": "payment_failed",
    "invoice.voided": "void",
    "invoice.marked_uncollectible": "uncollectible",
}


def invoice_id_for(tenant_id: uuid.UUID, period: date) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"invoice:{tenant_id}:{period.isoformat()}:regular")


def line_id_for(invoice_id: uuid.UUID, position: int, line: Line) -> uuid.UUID:
    return uuid.uuid5(
        invoice_id, f"{position}:{line.code}:{line.period_start}:{line.corrects_period}"
    )


@dataclass(frozen=True)
class Account:
    tenant_id: uuid.UUID
    stripe_customer_id: str | None
    stripe_attempt: int
    billing_email: str
    currency: str
    state: str
    grace_until: datetime | None


@dataclass(frozen=True)
class Invoice:
    id: uuid.UUID
    tenant_id: uuid.UUID
    period_start: date
    period_end: date
    status: str
    currency: str
    total_cents: int
    stripe_invoice_id: str | None
    stripe_attempt: int
    stripe_total_cents: int | None
    hold_reason: str | None


@dataclass(frozen=True)
class LedgerLine:
    id: uuid.UUID
    position: int
    line: Line


_INVOICE_COLS = (
    "id, tenant_id, period_start, period_end, status, currency, total_cents, stripe_invoice_id, "
    "stripe_attempt, stripe_total_cents, hold_reason"
)


def _invoice(row: dict[str, Any]) -> Invoice:
    return Invoice(**row)


def ensure_account(db: Database, tenant_id: uuid.UUID, email: str, currency: str) -> Account:
    with db.platform() as conn:
        conn.execute(
            "INSERT INTO billing.accounts (tenant_id, billing_email, currency) VALUES (%s, %s, %s) "
            "ON CONFLICT (tenant_id) DO NOTHING",
            (tenant_id, email, currency),
        )
    return get_account(db, tenant_id)


def get_account(db: Database, tenant_id: uuid.UUID) -> Account:
    with db.platform() as conn:
        row = conn.execute(
            "SELECT tenant_id, stripe_customer_id, stripe_attempt, billing_email, currency, state, "
            "grace_until FROM billing.accounts WHERE tenant_id = %s",
            (tenant_id,),
        ).fetchone()
    if row is None:
        raise NotFoundError("billing account of tenant", tenant_id)
    return Account(**row)  # type: ignore[arg-type]


def write_draft(
    db: Database, tenant_id: uuid.UUID, period: date, currency: str, lines: list[Line]
) -> str:
    """Replace the period's draft with `lines`: 'created', 'updated', 'unchanged', 'removed'
    (nothing billable left), 'skipped' (nothing billable, no invoice) or 'frozen'."""
    require_month_start(period)
    invoice_id = invoice_id_for(tenant_id, period)
    total = sum(line.amount_cents for line in lines)
    with db.platform() as conn:
        row = conn.execute(
            "SELECT status FROM billing.invoices WHERE id = %s FOR UPDATE", (invoice_id,)
        ).fetchone()
        if row is not None and row["status"] != "draft":
            return "frozen"
        if not lines:
            if row is None:
                return "skipped"
            conn.execute("DELETE FROM billing.invoices WHERE id = %s", (invoice_id,))
            return "removed"
        if row is not None and [r.line for r in _lines(conn, invoice_id)] == lines:
            return "unchanged"
        conn.execute(
            "INSERT INTO billing.invoices (id, tenant_id, period_start, period_end, currency, "
            "total_cents) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
            "total_cents = EXCLUDED.total_cents, currency = EXCLUDED.currency, updated_at = now()",
            (invoice_id, tenant_id, period, month_end(period), currency, total),
        )
        conn.execute("DELETE FROM billing.invoice_lines WHERE invoice_id = %s", (invoice_id,))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO billing.invoice_lines (id, invoice_id, tenant_id, position, code, "
                "description, quantity, unit_price_cents, amount_cents, period_start, period_end, "
                "corrects_period) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        line_id_for(invoice_id, i, line),
                        invoice_id,
                        tenant_id,
                        i,
                        line.code,
                        line.description,
                        line.quantity,
                        line.unit_price_cents,
                        line.amount_cents,
                        line.period_start,
                        line.period_end,
                        line.corrects_period,
                    )
                    for i, line in enumerate(lines)
                ],
            )
    return "created" if row is None else "updated"


def _lines(conn: Connection, invoice_id: uuid.UUID) -> list[LedgerLine]:
    rows = conn.execute(
        "SELECT id, position, code, description, quantity, unit_price_cents, amount_cents, "
        "period_start, period_end, corrects_period FROM billing.invoice_lines "
        "WHERE invoice_id = %s ORDER BY position",
        (invoice_id,),
    ).fetchall()
    out = []
    for r in rows:
        line = Line(
            str(r["code"]),
            str(r["description"]),
            Decimal(str(r["quantity"])),
            Decimal(str(r["unit_price_cents"])),
            int(str(r["amount_cents"])),
            cast(date, r["period_start"]),
            cast(date, r["period_end"]),
            cast("date | None", r["corrects_period"]),
        )
        out.append(LedgerLine(uuid.UUID(str(r["id"])), int(str(r["position"])), line))
    return out


def invoice_lines(db: Database, invoice_id: uuid.UUID) -> list[LedgerLine]:
    with db.platform() as conn:
        return _lines(conn, invoice_id)


def get_invoice(db: Database, invoice_id: uuid.UUID) -> Invoice:
    with db.platform() as conn:
        row = conn.execute(
            f"SELECT {_INVOICE_COLS} FROM billing.invoices WHERE id = %s", (invoice_id,)
        ).fetchone()
    if row is None:
        raise NotFoundError("invoice", invoice_id)
    return _invoice(row)


def list_invoices(db: Database, period: date | None = None) -> list[Invoice]:
    where, params = ("WHERE period_start = %s", (period,)) if period else ("", ())
    with db.platform() as conn:
        rows = conn.execute(
            f"SELECT {_INVOICE_COLS} FROM billing.invoices {where} ORDER BY period_start, tenant_id",
            params,
        ).fetchall()
    return [_invoice(r) for r in rows]


def tenant_invoices(db: Database, tenant_id: uuid.UUID) -> list[Invoice]:
    """The request path's view: row-level security shows only `tenant_id`'s invoices."""
    with db.tenant(tenant_id) as conn:
        rows = conn.execute(
            f"SELECT {_INVOICE_COLS} FROM billing.invoices ORDER BY period_start"
        ).fetchall()
    return [_invoice(r) for r in rows]


def billed(db: Database, tenant_id: uuid.UUID, period: date) -> dict[tuple[str, date], int]:
    """What frozen invoices billed for `period`, by line key: its own regular lines plus every
    correction that references it (drafts are not billed yet and are left out)."""
    with db.platform() as conn:
        rows = conn.execute(
            "SELECT l.code, l.period_start, sum(l.amount_cents) AS cents "
            "FROM billing.invoice_lines l JOIN billing.invoices i ON i.id = l.invoice_id "
            "WHERE l.tenant_id = %s AND i.status <> 'draft' AND ("
            "  (l.corrects_period = %s) OR (l.corrects_period IS NULL AND i.period_start = %s)) "
            "GROUP BY 1, 2",
            (tenant_id, period, period),
        ).fetchall()
    return {(str(r["code"]), r["period_start"]): int(str(r["cents"])) for r in rows}  # type: ignore[misc]


def frozen_periods(db: Database, before: date, lookback_months: int) -> dict[uuid.UUID, list[date]]:
    """Per tenant, the periods in the `lookback_months` before `before` whose regular invoice
    is frozen (pushed or later): the ones late usage is corrected for."""
    earliest = require_month_start(before)
    for _ in range(lookback_months):
        earliest = previous_month(earliest)
    with db.platform() as conn:
        rows = conn.execute(
            "SELECT tenant_id, period_start FROM billing.invoices WHERE status <> 'draft' "
            "AND period_start < %s AND period_start >= %s ORDER BY period_start",
            (before, earliest),
        ).fetchall()
    out: dict[uuid.UUID, list[date]] = {}
    for r in rows:
        out.setdefault(uuid.UUID(str(r["tenant_id"])), []).append(r["period_start"])  # type: ignore[arg-type]
    return out


def update_invoice(db: Database, invoice_id: uuid.UUID, **fields: Any) -> None:
    """Set ledger fields of one invoice (status, stripe ids, totals, hold)."""
    allowed = {"status", "stripe_invoice_id", "stripe_total_cents", "hold_reason", "finalized_at"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"fields {sorted(unknown)}; expected some of {sorted(allowed)}")
    sets = ", ".join(f"{name} = %s" for name in fields)
    with db.platform() as conn:
        conn.execute(
            f"UPDATE billing.invoices SET {sets}, updated_at = now() WHERE id = %s",
            (*fields.values(), invoice_id),
        )


def freeze(db: Database, invoice_id: uuid.UUID) -> None:
    """draft -> pushed, before the first Stripe request: from here on the lines never change."""
    with db.platform() as conn:
        conn.execute(
            "UPDATE billing.invoices SET status = 'pushed', updated_at = now() "
            "WHERE id = %s AND status = 'draft'",
            (invoice_id,),
        )


def bump_attempt(db: Database, table: str, key: uuid.UUID) -> int:
    """After Stripe replayed a stored error: the next deterministic key uses this attempt."""
    column = {"invoices": "id", "accounts": "tenant_id"}[table]
    with db.platform() as conn:
        row = conn.execute(
            f"UPDATE billing.{table} SET stripe_attempt = stripe_attempt + 1, updated_at = now() "
            f"WHERE {column} = %s RETURNING stripe_attempt",
            (key,),
        ).fetchone()
    assert row is not None
    return int(str(row["stripe_attempt"]))


def set_customer(db: Database, tenant_id: uuid.UUID, customer_id: str) -> None:
    with db.platform() as conn:
        conn.execute(
            "UPDATE billing.accounts SET stripe_customer_id = %s, updated_at = now() "
            "WHERE tenant_id = %s",
            (customer_id, tenant_id),
        )


def apply_payment_event(
    db: Database, event_type: str, stripe_invoice_id: str, at: datetime, grace_days: dict[str, int]
) -> uuid.UUID | None:
    """Record a Stripe payment event on its invoice; a failed payment puts the tenant's account
    past due for its plan's grace period, a paid one clears it. Returns the tenant, or None
    when the invoice is not ours."""
    status = PAYMENT_STATUSES[event_type]
    with db.platform() as conn:
        row = conn.execute(
            "UPDATE billing.invoices SET status = %s, updated_at = now() "
            "WHERE stripe_invoice_id = %s RETURNING tenant_id",
            (status, stripe_invoice_id),
        ).fetchone()
        if row is None:
            return None
        tenant_id = uuid.UUID(str(row["tenant_id"]))
        plan = conn.execute(
            "SELECT plan FROM registry.tenants WHERE id = %s", (tenant_id,)
        ).fetchone()
        if status == "payment_failed":
            days = grace_days.get(str(plan["plan"]) if plan else "", 0)
            conn.execute(
                "UPDATE billing.accounts SET state = 'past_due', "
                "past_due_since = coalesce(past_due_since, %s), "
                "grace_until = coalesce(grace_until, %s), updated_at = now() WHERE tenant_id = %s",
                (at, at + timedelta(days=days), tenant_id),
            )
        elif status == "paid":
            conn.execute(
                "UPDATE billing.accounts SET state = 'ok', past_due_since = NULL, "
                "grace_until = NULL, updated_at = now() WHERE tenant_id = %s",
                (tenant_id,),
            )
    return tenant_id
