"""Checks on each retention sweep, from what it recorded in `registry.retention_runs`."""

from __future__ import annotations

from datetime import datetime

import dagster as dg

from tenancy.db.session import Database
from tenancy.registry import list_tenants
from tenancy.retention import decide
from tenancy.retention_policy import RetentionPolicy

retention_sweep_nothing_young_deleted = dg.AssetCheckSpec(
    "retention_sweep_nothing_young_deleted",
    asset="retention_sweep",
    description="Nothing deleted was younger than the retention of its tenant's status: every "
    "recorded cutoff is at or before the policy's, and the newest row deleted before it.",
)
retention_sweep_holds_untouched = dg.AssetCheckSpec(
    "retention_sweep_holds_untouched",
    asset="retention_sweep",
    description="No tenant on legal hold had anything deleted in this run.",
)
retention_sweep_purged_have_records = dg.AssetCheckSpec(
    "retention_sweep_purged_have_records",
    asset="retention_sweep",
    description="Every purged tenant left a deletion record.",
)
CHECKS = [
    retention_sweep_nothing_young_deleted,
    retention_sweep_holds_untouched,
    retention_sweep_purged_have_records,
]


def _runs(db: Database, run_id: str) -> list[dict[str, object]]:
    with db.platform() as conn:
        return conn.execute(
            "SELECT tenant_id, category, target, outcome, cutoff, deleted, newest_deleted "
            "FROM registry.retention_runs WHERE run_id = %s",
            (run_id,),
        ).fetchall()


def check_results(
    db: Database, policy: RetentionPolicy, run_id: str, now: datetime
) -> list[dg.AssetCheckResult]:
    tenants = {t.id: t for t in list_tenants(db)}
    runs = _runs(db, run_id)
    young, held = [], []
    for r in runs:
        tenant = tenants[r["tenant_id"]]  # type: ignore[index]
        allowed = decide(tenant, str(r["category"]), policy, now).cutoff
        deleted = int(str(r["deleted"]))
        newest, cutoff = r["newest_deleted"], r["cutoff"]
        if deleted and (
            allowed is None
            or cutoff is None
            or cutoff > allowed  # type: ignore[operator]
            or (newest is not None and newest >= cutoff)  # type: ignore[operator]
        ):
            young.append(f"{tenant.slug} {r['category']} {r['target']}")
        if deleted and tenant.legal_hold:
            held.append(f"{tenant.slug} {r['category']} {r['target']}")
    with db.platform() as conn:
        missing = [
            str(row["slug"])
            for row in conn.execute(
                "SELECT t.slug FROM registry.tenants t LEFT JOIN registry.tenant_deletions d "
                "ON d.tenant_id = t.id WHERE t.status = 'purged' AND d.tenant_id IS NULL"
            ).fetchall()
        ]
    return [
        dg.AssetCheckResult(
            check_name="retention_sweep_nothing_young_deleted",
            passed=not young,
            metadata={"violations": young[:50]},
        ),
        dg.AssetCheckResult(
            check_name="retention_sweep_holds_untouched",
            passed=not held,
            metadata={"violations": held[:50]},
        ),
        dg.AssetCheckResult(
            check_name="retention_sweep_purged_have_records",
            passed=not missing,
            metadata={"purged_without_record": missing[:50]},
        ),
    ]
