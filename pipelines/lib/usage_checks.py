"""Data checks over the warehouse, as SQL returning numbers (the assets turn them into checks)."""

from __future__ import annotations

from datetime import date

import duckdb


def _one(conn: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> int:
    row = conn.execute(sql, params).fetchall()[0]
    return int(row[0] or 0) if row else 0


def daily_totals_mismatch(conn: duckdb.DuckDBPyConnection, start: date, end: date) -> list[str]:
    """Differences between the daily aggregates and the raw events of [start, end)."""
    params: dict[str, object] = {"start": start, "end": end}
    problems = []
    for event_metric, daily_metric in (
        ("api_call", "api_calls"),
        ("agent_execution", "agent_executions"),
    ):
        raw = _one(
            conn,
            "SELECT sum(quantity) FROM usage_events WHERE day >= $start AND day < $end "
            f"AND metric = '{event_metric}'",
            params,
        )
        rolled = _one(
            conn,
            "SELECT sum(value) FROM daily_tenant_usage WHERE day >= $start AND day < $end "
            f"AND metric = '{daily_metric}' AND endpoint = ''",
            params,
        )
        if raw != rolled:
            problems.append(
                f"{daily_metric}: {rolled} in daily_tenant_usage, {raw} in usage_events"
            )
    by_endpoint = _one(
        conn,
        "SELECT sum(value) FROM daily_tenant_usage WHERE day >= $start AND day < $end "
        "AND metric = 'api_calls_by_endpoint'",
        params,
    )
    total = _one(
        conn,
        "SELECT sum(value) FROM daily_tenant_usage WHERE day >= $start AND day < $end "
        "AND metric = 'api_calls' AND endpoint = ''",
        params,
    )
    if by_endpoint != total:
        problems.append(f"api_calls_by_endpoint sums to {by_endpoint}, api_calls to {total}")
    return problems


def negative_rows(
    conn: duckdb.DuckDBPyConnection, table: str, period_column: str, start: date, end: date
) -> int:
    if (table, period_column) not in (
        ("daily_tenant_usage", "day"),
        ("monthly_tenant_usage", "month"),
    ):
        raise ValueError(f"{table}.{period_column} is not an aggregate table")
    return _one(
        conn,
        f"SELECT count(*) FROM {table} WHERE {period_column} >= $start "
        f"AND {period_column} < $end AND value < 0",
        {"start": start, "end": end},
    )


def missing_active_tenants(conn: duckdb.DuckDBPyConnection, start: date, end: date) -> list[str]:
    rows = conn.execute(
        """
        SELECT s.day, s.slug FROM registry_snapshots s
        WHERE s.day >= $start AND s.day < $end AND s.status = 'active'
          AND NOT EXISTS (SELECT 1 FROM daily_tenant_usage d WHERE d.day = s.day AND d.tenant_id = s.tenant_id
                          AND d.metric = 'users')
        ORDER BY 1, 2
    """,
        {"start": start, "end": end},
    ).fetchall()
    return [f"{slug} on {day}" for day, slug in rows]


def monthly_totals_mismatch(conn: duckdb.DuckDBPyConnection, month: date, end: date) -> list[str]:
    params: dict[str, object] = {"month": month, "end": end}
    raw = _one(
        conn,
        "SELECT sum(quantity) FROM usage_events WHERE day >= $month AND day < $end "
        "AND metric = 'api_call'",
        params,
    )
    rolled = _one(
        conn,
        "SELECT sum(value) FROM monthly_tenant_usage WHERE month = $month AND metric = 'api_calls'",
        {"month": month},
    )
    return (
        []
        if raw == rolled
        else [f"api_calls: {rolled} in monthly_tenant_usage, {raw} in usage_events"]
    )
