"""Checks on usage data, evaluated with each materialization (the Dagster UI shows them)."""

from datetime import date

import dagster as dg
import duckdb

from pipelines.lib import usage_checks

#: Above this share of quarantined entries in one drain, something upstream is broken.
MAX_QUARANTINE_RATE = 0.01

usage_events_quarantine_rate = dg.AssetCheckSpec(
    "usage_events_quarantine_rate",
    asset="usage_events",
    description=f"Fewer than {MAX_QUARANTINE_RATE:.0%} of the entries drained in a run are quarantined.",
)
usage_events_no_stuck_entries = dg.AssetCheckSpec(
    "usage_events_no_stuck_entries",
    asset="usage_events",
    description="No entry failed to be stored on its own in this run, and none had to be "
    "quarantined for passing the delivery limit (each is named in the metadata).",
)
daily_tenant_usage_totals_reconcile = dg.AssetCheckSpec(
    "daily_tenant_usage_totals_reconcile",
    asset="daily_tenant_usage",
    description="Daily API calls and agent executions equal the raw events of the same days.",
)
daily_tenant_usage_no_negative_usage = dg.AssetCheckSpec(
    "daily_tenant_usage_no_negative_usage",
    asset="daily_tenant_usage",
    description="No aggregate is negative.",
)
daily_tenant_usage_every_active_tenant = dg.AssetCheckSpec(
    "daily_tenant_usage_every_active_tenant",
    asset="daily_tenant_usage",
    description="Every tenant active that day has a row, even with no usage.",
)
monthly_tenant_usage_totals_reconcile = dg.AssetCheckSpec(
    "monthly_tenant_usage_totals_reconcile",
    asset="monthly_tenant_usage",
    description="Monthly API calls equal the raw events of the month.",
)


def quarantine_rate(read: int, quarantined: int) -> dg.AssetCheckResult:
    rate = quarantined / read if read else 0.0
    return dg.AssetCheckResult(
        check_name=usage_events_quarantine_rate.name,
        passed=rate < MAX_QUARANTINE_RATE,
        metadata={"read": read, "quarantined": quarantined, "rate": rate},
    )


def no_stuck_entries(failed: list[str], over_delivered: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=usage_events_no_stuck_entries.name,
        passed=not failed and over_delivered == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "failed_entries": ", ".join(failed[:50]) or "none",
            "failed_count": len(failed),
            "quarantined_at_delivery_limit": over_delivered,
        },
    )


def daily_checks(
    conn: duckdb.DuckDBPyConnection, start: date, end: date
) -> list[dg.AssetCheckResult]:
    mismatches = usage_checks.daily_totals_mismatch(conn, start, end)
    negatives = usage_checks.negative_rows(conn, "daily_tenant_usage", "day", start, end)
    missing = usage_checks.missing_active_tenants(conn, start, end)
    return [
        dg.AssetCheckResult(
            check_name=daily_tenant_usage_totals_reconcile.name,
            passed=not mismatches,
            metadata={"mismatches": "; ".join(mismatches) or "none"},
        ),
        dg.AssetCheckResult(
            check_name=daily_tenant_usage_no_negative_usage.name,
            passed=negatives == 0,
            metadata={"negative_rows": negatives},
        ),
        dg.AssetCheckResult(
            check_name=daily_tenant_usage_every_active_tenant.name,
            passed=not missing,
            metadata={"missing": ", ".join(missing[:20]) or "none", "missing_count": len(missing)},
        ),
    ]


def monthly_checks(
    conn: duckdb.DuckDBPyConnection, month: date, end: date
) -> list[dg.AssetCheckResult]:
    mismatches = usage_checks.monthly_totals_mismatch(conn, month, end)
    return [
        dg.AssetCheckResult(
            check_name=monthly_tenant_usage_totals_reconcile.name,
            passed=not mismatches,
            metadata={"mismatches": "; ".join(mismatches) or "none"},
        )
    ]
