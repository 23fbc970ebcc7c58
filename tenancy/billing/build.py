"""Write a month's draft invoices into the ledger from plain usage data.

For each tenant: the month's regular lines, plus a correction for every earlier period (within
the lookback) whose invoice is already frozen — what that period truly costs now, from the
usage as it stands, minus what was billed for it. Together a period's invoice and its
corrections therefore always total its true usage. Credits never push a total below zero.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import date

from tenancy.billing import ledger
from tenancy.billing.lines import DayUsage, Line, corrections, month_lines, never_negative
from tenancy.db.session import Database
from tenancy.plans import PlanCatalog
from tenancy.registry import owner_emails

UsageByTenant = Mapping[uuid.UUID, Sequence[DayUsage]]


def tenant_lines(
    db: Database,
    catalog: PlanCatalog,
    tenant_id: uuid.UUID,
    month: date,
    days: Sequence[DayUsage],
    frozen: Sequence[date],
    past: Callable[[date], UsageByTenant],
) -> list[Line]:
    """What the tenant's invoice for `month` holds: regular lines, then corrections."""
    lines = month_lines(catalog, month, days)
    for period in frozen:
        days_then = past(period).get(tenant_id)
        if not days_then:  # no usage data for a period it was billed for: never credit blindly
            continue
        truth = month_lines(catalog, period, days_then)
        lines.extend(corrections(period, truth, ledger.billed(db, tenant_id, period)))
    return never_negative(lines)


def build_month(
    db: Database,
    catalog: PlanCatalog,
    month: date,
    usage: UsageByTenant,
    past: Callable[[date], UsageByTenant],
    lookback_months: int = 3,
) -> Counter[str]:
    """Write every tenant's draft for `month`; returns how many were created, updated,
    unchanged, removed, skipped (nothing billable) or frozen (already pushed)."""
    frozen = ledger.frozen_periods(db, month, lookback_months)
    cache: dict[date, UsageByTenant] = {}

    def past_usage(period: date) -> UsageByTenant:
        if period not in cache:
            cache[period] = past(period)
        return cache[period]

    outcomes: Counter[str] = Counter()
    for tenant_id in sorted(set(usage) | set(frozen)):
        days = usage.get(tenant_id, [])
        lines = tenant_lines(
            db, catalog, tenant_id, month, days, frozen.get(tenant_id, []), past_usage
        )
        plan = catalog.get(days[-1].plan) if days else None
        currency = plan.pricing.currency if plan else "usd"
        if lines:
            emails = owner_emails(db, tenant_id)
            ledger.ensure_account(
                db,
                tenant_id,
                emails[0] if emails else f"billing+{tenant_id}@example.invalid",
                currency,
            )
        outcomes[ledger.write_draft(db, tenant_id, month, currency, lines)] += 1
    return outcomes
