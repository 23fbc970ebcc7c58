"""Twenty-four consecutive months (across February 2024, a leap year) of generated usage with
plan changes and late usage: exactly one regular invoice per tenant and period, periods that
tile without gap or overlap, and every period's invoice plus its corrections equal to the
period's true usage."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import date, timedelta

from tenancy.billing import ledger
from tenancy.billing.build import build_month
from tenancy.billing.gateway import StripeGateway
from tenancy.billing.lines import DayUsage, month_lines
from tenancy.billing.periods import days_in_month, month_end
from tenancy.billing.push import InvoicePusher
from tenancy.db.session import Database
from tenancy.devstack.stripe_emulator import StripeEmulator
from tenancy.plans import load_catalog
from tests.db.factories import make_tenant

FIRST = date(2023, 3, 1)
MONTHS = [FIRST]
while len(MONTHS) < 24:
    MONTHS.append(month_end(MONTHS[-1]))
GB = 10**9


def generate(
    rng: random.Random, tenant_plans: dict[uuid.UUID, str]
) -> dict[date, dict[uuid.UUID, list[DayUsage]]]:
    usage: dict[date, dict[uuid.UUID, list[DayUsage]]] = {}
    plans = dict(tenant_plans)
    for month in MONTHS:
        usage[month] = {}
        for tenant, _ in tenant_plans.items():
            n = days_in_month(month)
            change = rng.randint(1, n - 1) if rng.random() < 0.3 else None
            days = []
            for i in range(n):
                if change is not None and i == change:
                    plans[tenant] = rng.choice(["free", "pro", "enterprise"])
                overrides = (
                    {"api_calls_per_month": 20_000}
                    if plans[tenant] == "pro" and month.month % 5 == 0
                    else {}
                )
                days.append(
                    DayUsage(
                        month + timedelta(days=i),
                        plans[tenant],
                        overrides,
                        "active",
                        rng.randint(0, 900),
                        rng.randint(0, 14) * GB,
                        3,
                        2,
                    )
                )
            usage[month][tenant] = days
    return usage


def test_two_years_of_invoices(
    db: Database, emulator: StripeEmulator, gateway: StripeGateway
) -> None:
    rng = random.Random(2024)
    catalog = load_catalog()
    start_plans = {
        "free": "free",
        "pro": "pro",
        "ent": "enterprise",
        "mover": "pro",
        "idle": "free",
    }
    tenants = {
        make_tenant(db, f"month-{name}", plan=plan).tenant.id: plan
        for name, plan in start_plans.items()
    }
    usage = generate(rng, tenants)
    late_periods: set[tuple[uuid.UUID, date]] = set()
    pusher = InvoicePusher(db, gateway)
    for index, month in enumerate(MONTHS):
        build_month(db, catalog, month, usage[month], lambda p: usage[p], lookback_months=3)
        invoices = [i.id for i in ledger.list_invoices(db, month)]
        results, failures = pusher.push_all(invoices, workers=4)
        assert failures == [] and len(results) == len(invoices)
        assert {r.status for r in results} <= {"finalized", "paid"}
        if index + 1 < len(MONTHS) - 1:  # late usage for this month, after it was finalized
            for tenant in rng.sample(sorted(tenants), 2):
                days = usage[month][tenant]
                i = rng.randrange(len(days))
                old = days[i]
                delta = rng.choice([5_000, 40_000, -old.api_calls])
                days[i] = DayUsage(
                    old.day,
                    old.plan,
                    old.limit_overrides,
                    old.status,
                    old.api_calls + delta,
                    old.storage_bytes + rng.choice([0, 20 * GB]),
                    old.users,
                    old.agents,
                )
                late_periods.add((tenant, month))

    invoices = ledger.list_invoices(db)
    keys = [(i.tenant_id, i.period_start) for i in invoices]
    assert len(keys) == len(set(keys)), "two regular invoices for one tenant and period"
    assert {i.status for i in invoices} <= {"finalized", "paid"}
    assert len(emulator.invoices) == len(invoices)
    for invoice in invoices:
        assert invoice.period_start.day == 1 and invoice.period_end == month_end(
            invoice.period_start
        )
    # The periods tile: each ends where the next begins, 24 of them, none missing.
    periods = sorted({i.period_start for i in invoices})
    assert periods == MONTHS
    assert all(month_end(a) == b for a, b in itertools.pairwise(periods))
    leap = [i for i in invoices if i.period_start == date(2024, 2, 1)]
    assert leap and all(i.period_end == date(2024, 3, 1) for i in leap)
    # Every period's invoice plus its corrections equal its true usage (the last period's
    # corrections would come with the next month).
    corrected = 0
    for tenant in tenants:
        for month in MONTHS[:-1]:
            truth = sum(x.amount_cents for x in month_lines(catalog, month, usage[month][tenant]))
            billed = sum(ledger.billed(db, tenant, month).values())
            assert billed == truth, f"tenant {tenant} {month}: billed {billed}, true {truth}"
            corrected += (tenant, month) in late_periods
    assert corrected > 0
    with db.platform() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM billing.invoice_lines WHERE corrects_period IS NOT NULL"
        ).fetchone()
    assert row is not None and int(str(row["n"])) > 0
