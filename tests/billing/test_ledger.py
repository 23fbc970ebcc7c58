"""The billing ledger in the real registry: drafts, freezing, corrections, tenant isolation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
import pytest

from tenancy.billing import ledger
from tenancy.billing.lines import Line
from tenancy.billing.periods import month_end
from tenancy.db.session import Database
from tests.db.factories import make_tenant

MARCH = date(2025, 3, 1)


def line(code: str, cents: int, period: date = MARCH, corrects: date | None = None) -> Line:
    return Line(code, code, Decimal(1), Decimal(cents), cents, period, month_end(period), corrects)


def test_a_draft_is_rewritten_until_frozen_then_left_alone(db: Database) -> None:
    tenant = make_tenant(db, "acme").tenant
    assert ledger.write_draft(db, tenant.id, MARCH, "usd", [line("base.pro", 4900)]) == "created"
    assert ledger.write_draft(db, tenant.id, MARCH, "usd", [line("base.pro", 4900)]) == "unchanged"
    lines = [line("base.pro", 4900), line("overage.api_calls_per_month.pro", 300)]
    assert ledger.write_draft(db, tenant.id, MARCH, "usd", lines) == "updated"
    invoice_id = ledger.invoice_id_for(tenant.id, MARCH)
    assert ledger.get_invoice(db, invoice_id).total_cents == 5200
    ledger.freeze(db, invoice_id)
    assert ledger.write_draft(db, tenant.id, MARCH, "usd", [line("base.pro", 1)]) == "frozen"
    assert [r.line for r in ledger.invoice_lines(db, invoice_id)] == lines
    assert ledger.billed(db, tenant.id, MARCH) == {
        ("base.pro", MARCH): 4900,
        ("overage.api_calls_per_month.pro", MARCH): 300,
    }


def test_nothing_billable_means_no_invoice(db: Database) -> None:
    tenant = make_tenant(db, "acme", plan="free").tenant
    assert ledger.write_draft(db, tenant.id, MARCH, "usd", []) == "skipped"
    ledger.write_draft(db, tenant.id, MARCH, "usd", [line("base.pro", 10)])
    assert ledger.write_draft(db, tenant.id, MARCH, "usd", []) == "removed"
    assert ledger.list_invoices(db, MARCH) == []


def test_one_regular_invoice_per_tenant_and_period(db: Database) -> None:
    tenant = make_tenant(db, "acme").tenant
    ledger.write_draft(db, tenant.id, MARCH, "usd", [line("base.pro", 4900)])
    with db.platform() as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            "INSERT INTO billing.invoices (id, tenant_id, period_start, period_end, currency, "
            "total_cents) VALUES (gen_random_uuid(), %s, %s, %s, 'usd', 1)",
            (tenant.id, MARCH, month_end(MARCH)),
        )


def test_periods_are_whole_calendar_months_and_totals_never_negative(db: Database) -> None:
    tenant = make_tenant(db, "acme").tenant
    with db.platform() as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO billing.invoices (id, tenant_id, period_start, period_end, currency, "
            "total_cents) VALUES (gen_random_uuid(), %s, '2025-03-02', '2025-04-02', 'usd', 1)",
            (tenant.id,),
        )
    with db.platform() as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO billing.invoices (id, tenant_id, period_start, period_end, currency, "
            "total_cents) VALUES (gen_random_uuid(), %s, '2025-03-01', '2025-04-01', 'usd', -1)",
            (tenant.id,),
        )


def test_corrections_count_as_billed_for_the_period_they_correct(db: Database) -> None:
    tenant = make_tenant(db, "acme").tenant
    april = date(2025, 4, 1)
    ledger.write_draft(db, tenant.id, MARCH, "usd", [line("base.pro", 4900)])
    ledger.freeze(db, ledger.invoice_id_for(tenant.id, MARCH))
    fix = line("overage.storage_gb.pro", 25, MARCH, corrects=MARCH)
    ledger.write_draft(db, tenant.id, april, "usd", [line("base.pro", 4900, april), fix])
    assert ledger.billed(db, tenant.id, MARCH) == {("base.pro", MARCH): 4900}  # april is a draft
    ledger.freeze(db, ledger.invoice_id_for(tenant.id, april))
    assert ledger.billed(db, tenant.id, MARCH) == {
        ("base.pro", MARCH): 4900,
        ("overage.storage_gb.pro", MARCH): 25,
    }
    assert ledger.frozen_periods(db, date(2025, 5, 1), 3) == {tenant.id: [MARCH, april]}
    assert ledger.frozen_periods(db, date(2025, 5, 1), 1) == {tenant.id: [april]}
    assert ledger.frozen_periods(db, date(2025, 6, 1), 3) == {tenant.id: [MARCH, april]}
    assert ledger.frozen_periods(db, date(2025, 6, 1), 2) == {tenant.id: [april]}


def test_a_tenant_reads_its_own_invoices_and_nothing_else(db: Database) -> None:
    a = make_tenant(db, "tenant-a").tenant
    b = make_tenant(db, "tenant-b").tenant
    ledger.write_draft(db, a.id, MARCH, "usd", [line("base.pro", 4900)])
    ledger.write_draft(db, b.id, MARCH, "usd", [line("base.pro", 999)])
    mine = ledger.tenant_invoices(db, a.id)
    assert [(i.tenant_id, i.total_cents) for i in mine] == [(a.id, 4900)]
    with db.tenant(a.id) as conn:
        lines = conn.execute("SELECT tenant_id FROM billing.invoice_lines").fetchall()
        assert {r["tenant_id"] for r in lines} == {a.id}
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE billing.invoices SET total_cents = 0")


def test_a_failed_payment_puts_the_account_past_due_for_the_plans_grace(db: Database) -> None:
    tenant = make_tenant(db, "acme").tenant
    ledger.ensure_account(db, tenant.id, "billing@acme.example.com", "usd")
    ledger.write_draft(db, tenant.id, MARCH, "usd", [line("base.pro", 4900)])
    invoice_id = ledger.invoice_id_for(tenant.id, MARCH)
    ledger.update_invoice(db, invoice_id, status="finalized", stripe_invoice_id="in_1")
    at = datetime(2025, 4, 5, tzinfo=UTC)
    assert (
        ledger.apply_payment_event(db, "invoice.payment_failed", "in_1", at, {"pro": 14})
        == tenant.id
    )
    account = ledger.get_account(db, tenant.id)
    assert (account.state, account.grace_until) == ("past_due", datetime(2025, 4, 19, tzinfo=UTC))
    ledger.apply_payment_event(db, "invoice.paid", "in_1", at, {"pro": 14})
    assert ledger.get_account(db, tenant.id).state == "ok"
    assert ledger.get_invoice(db, invoice_id).status == "paid"
    assert ledger.apply_payment_event(db, "invoice.paid", "in_other", at, {}) is None
