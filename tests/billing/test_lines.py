"""Invoice line maths: every plan, overrides, unlimited limits, proration and rounding."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from tenancy.billing.lines import (
    DayUsage,
    Line,
    corrections,
    month_lines,
    never_negative,
    round_cents,
)
from tenancy.billing.periods import days_in_month, month_end, parse_month
from tenancy.errors import InvalidInputError
from tenancy.plans import PlanCatalog, load_catalog

GB = 10**9


@pytest.fixture(scope="module")
def catalog() -> PlanCatalog:
    return load_catalog()


def month_of(
    month: date, plan: str, api_calls: int = 0, storage_gb: float = 0, overrides: dict | None = None
) -> list[DayUsage]:
    n = days_in_month(month)
    days = []
    for i in range(n):
        calls = api_calls // n + (1 if i < api_calls % n else 0)
        days.append(
            DayUsage(
                month + timedelta(days=i),
                plan,
                overrides or {},
                "active",
                calls,
                int(storage_gb * GB),
            )
        )
    return days


def amounts(lines: list[Line]) -> dict[str, int]:
    return {line.code: line.amount_cents for line in lines}


def test_free_plan_within_limits_has_no_billable_line(catalog: PlanCatalog) -> None:
    assert (
        month_lines(catalog, date(2025, 3, 1), month_of(date(2025, 3, 1), "free", 900, 0.5)) == []
    )


def test_free_plan_over_its_limit_is_blocked_not_billed(catalog: PlanCatalog) -> None:
    # The free plan sells no overage: over-limit usage is refused by the quota gate instead.
    assert (
        month_lines(catalog, date(2025, 3, 1), month_of(date(2025, 3, 1), "free", 5_000, 3)) == []
    )


def test_pro_base_and_started_blocks_of_overage(catalog: PlanCatalog) -> None:
    lines = month_lines(catalog, date(2025, 3, 1), month_of(date(2025, 3, 1), "pro", 12_001, 12.5))
    # 2,001 calls over 10,000: three started blocks of 1,000 at 100 cents; 2.5 GB-months over
    # 10: three started GB at 25 cents.
    assert amounts(lines) == {
        "base.pro": 4900,
        "overage.api_calls_per_month.pro": 300,
        "overage.storage_gb.pro": 75,
    }
    assert lines[0].quantity == Decimal(1)


def test_enterprise_exactly_at_the_limit_pays_no_overage(catalog: PlanCatalog) -> None:
    lines = month_lines(
        catalog, date(2025, 4, 1), month_of(date(2025, 4, 1), "enterprise", 100_000, 100)
    )
    assert amounts(lines) == {"base.enterprise": 49900}


def test_override_raises_the_included_amount(catalog: PlanCatalog) -> None:
    month = date(2025, 3, 1)
    days = month_of(month, "pro", 25_000, overrides={"api_calls_per_month": 20_000})
    assert amounts(month_lines(catalog, month, days))["overage.api_calls_per_month.pro"] == 500


def test_unlimited_override_never_bills_overage(catalog: PlanCatalog) -> None:
    month = date(2025, 3, 1)
    days = month_of(month, "pro", 10**9, overrides={"api_calls_per_month": "unlimited"})
    assert amounts(month_lines(catalog, month, days)) == {"base.pro": 4900}


def test_plan_change_prorates_by_days_and_the_new_plan_owns_the_change_day(
    catalog: PlanCatalog,
) -> None:
    month = date(2025, 4, 1)  # 30 days
    days = [
        DayUsage(month + timedelta(days=i), "pro" if i < 10 else "enterprise", {}, "active", 1_000)
        for i in range(30)
    ]
    lines = month_lines(catalog, month, days)
    by_code = {line.code: line for line in lines}
    pro, ent = by_code["base.pro"], by_code["base.enterprise"]
    assert (pro.period_start, pro.period_end) == (date(2025, 4, 1), date(2025, 4, 11))
    assert (ent.period_start, ent.period_end) == (date(2025, 4, 11), date(2025, 5, 1))
    assert pro.amount_cents == round_cents(Decimal(4900) * 10 / 30) == 1633
    assert ent.amount_cents == 49900 - round_cents(Decimal(49900) * 10 / 30)
    # 10,000 calls on pro in 10 days against 10/30 of 10,000 included: 6,667 over -> 7 blocks.
    assert by_code["overage.api_calls_per_month.pro"].amount_cents == 700
    assert "overage.api_calls_per_month.enterprise" not in by_code


def test_cumulative_rounding_loses_no_cent_over_a_month_of_stretches(catalog: PlanCatalog) -> None:
    month = date(2025, 3, 1)  # 31 days; switch plan every day between pro and enterprise
    days = [
        DayUsage(month + timedelta(days=i), ("pro", "enterprise")[i % 2], {}, "active")
        for i in range(31)
    ]
    lines = month_lines(catalog, month, days)
    prices = {"base.pro": 4900, "base.enterprise": 49900}
    for line in lines:  # each day within a cent of its exact share
        assert abs(line.amount_cents - Decimal(prices[line.code]) / 31) < 1, line
    # Stretches of one plan that tile the month add up to the month's price exactly.
    same_plan = [
        DayUsage(month + timedelta(days=i), "pro", {} if i < 7 else {"users": 30}, "active")
        for i in range(31)
    ]
    assert sum(line.amount_cents for line in month_lines(catalog, month, same_plan)) == 4900


def test_rounding_is_half_up() -> None:
    assert round_cents(Decimal("0.5")) == 1
    assert round_cents(Decimal("2.5")) == 3
    assert round_cents(Decimal("-0.5")) == -1
    assert round_cents(Decimal("1633.3333")) == 1633


def test_tenant_created_mid_month_pays_from_its_first_day(catalog: PlanCatalog) -> None:
    month = date(2024, 2, 1)  # leap February, 29 days
    days = [DayUsage(date(2024, 2, d), "pro", {}) for d in range(15, 30)]
    (base,) = month_lines(catalog, month, days)
    assert base.amount_cents == round_cents(Decimal(4900) * 29 / 29) - round_cents(
        Decimal(4900) * 14 / 29
    )


def test_deleted_days_are_not_billed(catalog: PlanCatalog) -> None:
    month = date(2025, 6, 1)
    days = [
        DayUsage(month + timedelta(days=i), "pro", {}, "deleted" if i >= 15 else "active")
        for i in range(30)
    ]
    assert amounts(month_lines(catalog, month, days)) == {"base.pro": 2450}


def test_days_outside_the_month_are_rejected(catalog: PlanCatalog) -> None:
    with pytest.raises(
        InvalidInputError,
        match=r"usage day is '2025-04-01'; expected a day in \[2025-03-01, 2025-04-01\)",
    ):
        month_lines(catalog, date(2025, 3, 1), [DayUsage(date(2025, 4, 1), "pro", {})])
    with pytest.raises(InvalidInputError, match="billing period is '2025-03-02'"):
        month_lines(catalog, date(2025, 3, 2), [])


def test_corrections_charge_and_credit_what_changed() -> None:
    march = date(2025, 3, 1)
    now = [
        Line("base.pro", "Pro", Decimal(1), Decimal(4900), 4900, march, month_end(march)),
        Line(
            "overage.api_calls_per_month.pro",
            "calls",
            Decimal(4),
            Decimal(100),
            400,
            march,
            month_end(march),
        ),
    ]
    billed = {
        ("base.pro", march): 4900,
        ("overage.api_calls_per_month.pro", march): 300,
        ("overage.storage_gb.pro", march): 25,
    }
    fixes = corrections(march, now, billed)
    assert [(f.code, f.amount_cents, f.corrects_period) for f in fixes] == [
        ("overage.api_calls_per_month.pro", 100, march),
        ("overage.storage_gb.pro", -25, march),
    ]
    assert corrections(march, now, {k.key: k.amount_cents for k in now}) == []


def test_credits_never_make_a_total_negative() -> None:
    april = date(2025, 4, 1)
    lines = [
        Line("base.pro", "Pro", Decimal(1), Decimal(100), 100, april, month_end(april)),
        Line(
            "x",
            "credit",
            Decimal(1),
            Decimal(-300),
            -300,
            april,
            month_end(april),
            date(2025, 3, 1),
        ),
    ]
    capped = never_negative(lines)
    assert sum(line.amount_cents for line in capped) == 0
    assert capped[1].amount_cents == -100


def test_parse_month() -> None:
    assert parse_month("2024-02") == date(2024, 2, 1)
    with pytest.raises(InvalidInputError, match="month is '2024-13'; expected YYYY-MM"):
        parse_month("2024-13")
