"""UTC periods, always half-open: [start, end)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    first = month_start(day)
    return (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else first.replace(month=first.month + 1)
    )


def utc_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def days(start: date, end: date) -> list[date]:
    """Every day in [start, end)."""
    return [start + timedelta(days=i) for i in range((end - start).days)]
