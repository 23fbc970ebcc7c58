"""Grant or withdraw one feature for one tenant beside its plan (the control plane's call)."""

from __future__ import annotations

from datetime import UTC, datetime

from tenancy import audit
from tenancy.db.session import Database
from tenancy.entitlements import known_feature, load_overrides
from tenancy.plans import PlanCatalog, default_catalog
from tenancy.registry import get_tenant
from tenancy.validation import validate_name


def set_override(
    db: Database,
    tenant_key: str,
    feature: str,
    granted: bool | None,
    *,
    reason: str,
    actor: str = "platform",
    catalog: PlanCatalog | None = None,
) -> dict[str, bool]:
    """Grant (`True`) or withdraw (`False`) `feature`, or clear its override (`None`);
    returns the tenant's overrides after the change. The feature must exist in some plan."""
    name = known_feature(catalog or default_catalog(), feature)
    why = validate_name(reason, field="reason")
    tenant = get_tenant(db, tenant_key)
    with db.platform() as conn:
        before = load_overrides(conn, tenant.id)
        if granted is None:
            conn.execute(
                "DELETE FROM registry.feature_overrides WHERE tenant_id = %s AND feature = %s",
                (tenant.id, name),
            )
        else:
            conn.execute(
                "INSERT INTO registry.feature_overrides (tenant_id, feature, granted, reason, "
                "set_by, set_at) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (tenant_id, feature) "
                "DO UPDATE SET granted = EXCLUDED.granted, reason = EXCLUDED.reason, "
                "set_by = EXCLUDED.set_by, set_at = EXCLUDED.set_at",
                (tenant.id, name, granted, why, actor, datetime.now(UTC)),
            )
        audit.record(
            conn,
            tenant.id,
            actor,
            "feature.override",
            f"feature:{name}",
            {"before": before.get(name), "after": granted, "reason": why},
        )
        return load_overrides(conn, tenant.id)


def stored_feature_names(db: Database) -> list[tuple[str, str, str]]:
    """(tenant slug, feature, where) for every feature named in the registry: overrides, and
    the keys of each tenant's `settings.features` (control plane)."""
    with db.platform() as conn:
        rows = conn.execute(
            "SELECT t.slug, o.feature, 'override' AS place FROM registry.feature_overrides o "
            "JOIN registry.tenants t ON t.id = o.tenant_id "
            "UNION ALL SELECT t.slug, f.key, 'settings.features' FROM registry.tenants t, "
            "jsonb_each(CASE jsonb_typeof(t.settings->'features') WHEN 'object' "
            "THEN t.settings->'features' ELSE '{}'::jsonb END) f ORDER BY 1, 2"
        ).fetchall()
    return [(str(r["slug"]), str(r["feature"]), str(r["place"])) for r in rows]
