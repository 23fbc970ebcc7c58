"""Invoice lines from the plan catalog and one month of a tenant's daily usage. Pure maths.

Money is integer minor units (cents). Unit maths is exact `Decimal`; **one rounding rule**:
an amount is rounded once, when it becomes a line, to whole minor units, half up
(`ROUND_HALF_UP`). The one place a fraction of a cent arises is a prorated base price; it is
rounded cumulatively — a stretch of days [j, k) of an n-day month costs
`round(base * k / n) - round(base * j / n)` — so the stretches on one plan always add up to
exactly what the whole month would cost and the rounding drift lands on the last stretch,
never on a credit line. Overage is charged per *started* block of units (the catalog's rule),
a whole number of blocks times an integer price, so it is exact. An invoice total is the sum of
its rounded lines, so it always equals its lines to the cent.

Periods are half-open UTC calendar months [1st, next 1st). **Day ownership on a plan change:**
the plan recorded in a day's registry snapshot (taken after the day ends) owns that whole day,
so a change made during day D bills D on the new plan; every day is billed on exactly one plan.
Days without a snapshot (before the tenant existed) and days the tenant was deleted are not
billed. Flows (API calls) are summed over the days of a stretch; levels (stored GB, users,
agents) are billed in unit-months: the daily level summed over the stretch's days and divided
by the days in the month. The included amount of a stretch is the limit prorated by its days.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tenancy.billing.periods import days_in_month, month_end, require_month_start
from tenancy.errors import InvalidInputError
from tenancy.plans import Plan, PlanCatalog

BYTES_PER_GB = 10**9
CENT = Decimal(1)
QUANTITY_PLACES = Decimal("0.000001")

#: Priced metric -> (how it is measured, unit shown on the invoice).
METRICS = {
    "api_calls_per_month": ("flow", "API calls"),
    "storage_gb": ("level", "GB-months of storage"),
    "users": ("level", "user-months"),
    "agents": ("level", "agent-months"),
}


def round_cents(value: Decimal) -> int:
    """The rounding rule: whole minor units, half up."""
    return int(value.quantize(CENT, rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class DayUsage:
    """One UTC day of a tenant, from the registry snapshot and the daily usage rollup."""

    day: date
    plan: str
    limit_overrides: Mapping[str, Any]
    status: str = "active"
    api_calls: int = 0
    storage_bytes: int = 0
    users: int = 0
    agents: int = 0

    def measure(self, metric: str) -> Decimal:
        if metric == "api_calls_per_month":
            return Decimal(self.api_calls)
        if metric == "storage_gb":
            return Decimal(self.storage_bytes) / BYTES_PER_GB
        if metric == "users":
            return Decimal(self.users)
        if metric == "agents":
            return Decimal(self.agents)
        raise InvalidInputError("priced metric", metric, f"one of: {', '.join(METRICS)}")


@dataclass(frozen=True)
class Line:
    """One invoice line; `key` identifies what it charges for within its period."""

    code: str
    description: str
    quantity: Decimal
    unit_price_cents: Decimal
    amount_cents: int
    period_start: date
    period_end: date
    corrects_period: date | None = None

    @property
    def key(self) -> tuple[str, date]:
        return (self.code, self.period_start)


@dataclass(frozen=True)
class Stretch:
    """Consecutive days of a month on one plan with the same overrides: [start, end)."""

    plan: str
    limit_overrides: Mapping[str, Any]
    days: list[DayUsage] = field(default_factory=list)

    @property
    def start(self) -> date:
        return self.days[0].day

    @property
    def end(self) -> date:
        return self.days[-1].day + timedelta(days=1)


def stretches(month: date, days: Sequence[DayUsage]) -> list[Stretch]:
    """Billable days of `month` grouped into stretches of one plan; rejects days outside it."""
    end = month_end(month)
    out: list[Stretch] = []
    seen: set[date] = set()
    for day in sorted(days, key=lambda d: d.day):
        if not month <= day.day < end:
            raise InvalidInputError("usage day", day.day.isoformat(), f"a day in [{month}, {end})")
        if day.day in seen:
            raise InvalidInputError("usage day", day.day.isoformat(), "each day once")
        seen.add(day.day)
        if day.status == "deleted":
            continue
        last = out[-1] if out else None
        if (
            last is not None
            and last.plan == day.plan
            and _same(last.limit_overrides, day.limit_overrides)
            and last.end == day.day
        ):
            last.days.append(day)
        else:
            out.append(Stretch(day.plan, day.limit_overrides, [day]))
    return out


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def month_lines(catalog: PlanCatalog, month: date, days: Sequence[DayUsage]) -> list[Line]:
    """The regular lines of `month`: per stretch, the prorated base price and the overage of
    every metric the plan prices. Lines of zero amount are left out."""
    require_month_start(month)
    n = days_in_month(month)
    lines: list[Line] = []
    for stretch in stretches(month, days):
        plan = catalog.get(stretch.plan)
        lines.extend(_base(plan, month, n, stretch))
        lines.extend(_overage(plan, n, stretch))
    return [line for line in lines if line.amount_cents != 0]


def _base(plan: Plan, month: date, n: int, stretch: Stretch) -> list[Line]:
    base = Decimal(plan.pricing.base_monthly_cents)
    j = (stretch.start - month).days
    k = (stretch.end - month).days
    amount = round_cents(base * k / n) - round_cents(base * j / n)
    covered = k - j
    what = "the whole month" if covered == n else f"{covered} of {n} days"
    return [
        Line(
            code=f"base.{plan.name}",
            description=f"{plan.display_name} plan, {what}",
            quantity=(Decimal(covered) / n).quantize(QUANTITY_PLACES, rounding=ROUND_HALF_UP),
            unit_price_cents=base,
            amount_cents=amount,
            period_start=stretch.start,
            period_end=stretch.end,
        )
    ]


def _overage(plan: Plan, n: int, stretch: Stretch) -> list[Line]:
    limits = plan.effective_limits(stretch.limit_overrides)
    covered = Decimal(len(stretch.days))
    lines = []
    for metric in METRICS:
        price = plan.pricing.overage.get(metric)  # type: ignore[call-overload]
        limit = limits[metric]
        if price is None or limit.maximum is None:  # unlimited: nothing lies above it
            continue
        kind, unit = METRICS[metric]
        used = sum((d.measure(metric) for d in stretch.days), Decimal(0))
        if kind == "level":
            used = used / n
        included = Decimal(limit.maximum) * covered / n
        excess = used - included
        if excess <= 0:
            continue
        blocks = math.ceil(excess / price.per)
        lines.append(
            Line(
                code=f"overage.{metric}.{plan.name}",
                description=(
                    f"{unit} above the {_num(included)} included: {_num(excess)} over, "
                    f"{blocks:,} started block(s) of {price.per:,} at {price.cents} cents"
                ),
                quantity=Decimal(blocks),
                unit_price_cents=Decimal(price.cents),
                amount_cents=blocks * price.cents,
                period_start=stretch.start,
                period_end=stretch.end,
            )
        )
    return lines


def _num(value: Decimal) -> str:
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"


def corrections(
    corrected: date, true_lines: Sequence[Line], billed: Mapping[tuple[str, date], int]
) -> list[Line]:
    """Adjustment lines for a period whose invoice is already final: for every line key, what
    the period truly costs now minus what its invoice and earlier corrections billed."""
    true = {line.key: line for line in true_lines}
    out = []
    for key in sorted(set(true) | set(billed), key=lambda k: (k[1], k[0])):
        now = true[key].amount_cents if key in true else 0
        diff = now - billed.get(key, 0)
        if diff == 0:
            continue
        code, start = key
        source = true.get(key)
        what = source.description if source else code
        out.append(
            Line(
                code=code,
                description=f"Correction for {corrected:%Y-%m} ({'charge' if diff > 0 else 'credit'}): {what}",
                quantity=Decimal(1),
                unit_price_cents=Decimal(diff),
                amount_cents=diff,
                period_start=start,
                period_end=source.period_end if source else month_end(corrected),
                corrects_period=corrected,
            )
        )
    return out


def never_negative(lines: Sequence[Line]) -> list[Line]:
    """Cap credits so the total is not negative. A credit (or the part of it) left off is not
    lost: the next invoice's corrections find it still unbilled and offer it again."""
    charges = sum(line.amount_cents for line in lines if line.amount_cents > 0)
    out = []
    room = charges
    for line in lines:
        if line.amount_cents >= 0:
            out.append(line)
            continue
        credit = max(line.amount_cents, -room)
        room += credit
        if credit == 0:
            continue
        if credit != line.amount_cents:
            line = Line(
                line.code,
                f"{line.description} (part; the rest carries to the next invoice)",
                Decimal(1),
                Decimal(credit),
                credit,
                line.period_start,
                line.period_end,
                line.corrects_period,
            )
        out.append(line)
    return out
