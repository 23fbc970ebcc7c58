"""The warehouse side of invoicing: a month of daily usage per tenant, as plain data.

One row per tenant and day the registry snapshot has: plan, overrides and status from the
snapshot, API calls from the daily rollup, stored bytes from the storage snapshot.
"""

from __future__ import annotations

import json
import uuid
from datetime import date

import duckdb

from tenancy.billing.lines import DayUsage
from tenancy.billing.periods import month_end

_DAYS = """
SELECT s.day, s.tenant_id, s.status, s.plan, s.limit_overrides, s.users, s.agents,
       coalesce(u.value, 0) AS api_calls, coalesce(st.bytes, 0) AS storage_bytes
FROM registry_snapshots s
LEFT JOIN daily_tenant_usage u
       ON u.day = s.day AND u.tenant_id = s.tenant_id AND u.metric = 'api_calls' AND u.endpoint = ''
LEFT JOIN storage_snapshots st ON st.day = s.day AND st.tenant_id = s.tenant_id
WHERE s.day >= $start AND s.day < $end
ORDER BY s.tenant_id, s.day
"""

_INPUT_GAPS = """
WITH daily AS (
    SELECT tenant_id, sum(value) AS calls FROM daily_tenant_usage
    WHERE day >= $start AND day < $end AND metric = 'api_calls' AND endpoint = '' GROUP BY 1
), monthly AS (
    SELECT tenant_id, value AS calls FROM monthly_tenant_usage WHERE month = $start AND metric = 'api_calls'
)
SELECT coalesce(d.tenant_id, m.tenant_id), coalesce(d.calls, 0), coalesce(m.calls, 0)
FROM daily d FULL JOIN monthly m ON d.tenant_id = m.tenant_id
WHERE coalesce(d.calls, 0) <> coalesce(m.calls, 0)
"""


def month_usage(conn: duckdb.DuckDBPyConnection, month: date) -> dict[uuid.UUID, list[DayUsage]]:
    rows = conn.execute(_DAYS, {"start": month, "end": month_end(month)}).fetchall()
    out: dict[uuid.UUID, list[DayUsage]] = {}
    for day, tenant_id, status, plan, overrides, users, agents, calls, stored in rows:
        out.setdefault(tenant_id, []).append(
            DayUsage(
                day,
                plan,
                json.loads(overrides),
                status,
                int(calls),
                int(stored),
                int(users),
                int(agents),
            )
        )
    return out


def missing_snapshot_days(conn: duckdb.DuckDBPyConnection, month: date, until: date) -> list[date]:
    """Days of [month, min(month end, until)) without a registry snapshot."""
    end = min(month_end(month), until)
    rows = conn.execute(
        "SELECT d::DATE FROM range($start::TIMESTAMP, $end::TIMESTAMP, INTERVAL 1 DAY) t(d) "
        "WHERE d::DATE NOT IN (SELECT DISTINCT day FROM registry_snapshots) ORDER BY 1",
        {"start": month, "end": end},
    ).fetchall()
    return [r[0] for r in rows]


def api_call_gaps(conn: duckdb.DuckDBPyConnection, month: date) -> list[tuple[uuid.UUID, int, int]]:
    """Tenants whose daily API calls do not add up to monthly_tenant_usage: (tenant, daily, monthly)."""
    rows = conn.execute(_INPUT_GAPS, {"start": month, "end": month_end(month)}).fetchall()
    return [(r[0], int(r[1]), int(r[2])) for r in rows]
