"""Billing periods: half-open UTC calendar months [1st of the month, 1st of the next)."""

from __future__ import annotations

import calendar
from datetime import date

from tenancy.errors import InvalidInputError


def require_month_start(month: date) -> date:
    if month.day != 1:
        raise InvalidInputError("billing period", month.isoformat(), "the 1st of a month")
    return month


def parse_month(text: str) -> date:
    """'YYYY-MM' (or 'YYYY-MM-01') -> the first day of that month."""
    try:
        parts = [int(p) for p in text.split("-")]
        if len(parts) == 2 or (len(parts) == 3 and parts[2] == 1):
            return date(parts[0], parts[1], 1)
    except ValueError:
        pass
    raise InvalidInputError("month", text, "YYYY-MM, e.g. 2025-03")


def month_end(month: date) -> date:
    """The first day of the next month: the period's exclusive end."""
    first = month.replace(day=1)
    return date(first.year + 1, 1, 1) if first.month == 12 else first.replace(month=first.month + 1)


def previous_month(month: date) -> date:
    first = month.replace(day=1)
    return date(first.year - 1, 12, 1) if first.month == 1 else first.replace(month=first.month - 1)


def days_in_month(month: date) -> int:
    return calendar.monthrange(month.year, month.month)[1]
