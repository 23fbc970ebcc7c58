"""Which features a tenant has: its plan's, plus what an override grants, minus what one
withdraws. `is_entitled` is the one answer; it is pure, so the Pulumi program and the
pipeline call it with data they already hold, and the request path calls it through
`tenancy.web.features.requires_feature`.

    from tenancy.entitlements import is_entitled
    is_entitled(catalog.get(tenant.plan), overrides, "custom_domain")

Overrides (feature -> granted) live in `registry.feature_overrides`, set by the control plane
(`tenancy tenants features grant|withdraw|clear`), read with `load_overrides`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from tenancy.admin_errors import FeatureNotAvailableError
from tenancy.db.session import Connection, Database
from tenancy.errors import InvalidInputError
from tenancy.plans import Plan, PlanCatalog
from tenancy.validation import parse_tenant_id


def is_entitled(plan: Plan, overrides: Mapping[str, bool], feature: str) -> bool:
    """True when `feature` is available: an override decides if there is one, else the plan."""
    if feature in overrides:
        return overrides[feature]
    return feature in plan.features


def entitled_features(plan: Plan, overrides: Mapping[str, bool]) -> frozenset[str]:
    """Every feature available to a tenant on `plan` with `overrides`."""
    granted = {f for f, on in overrides.items() if on}
    withdrawn = {f for f, on in overrides.items() if not on}
    return frozenset((set(plan.features) | granted) - withdrawn)


def catalog_features(catalog: PlanCatalog) -> frozenset[str]:
    """Every feature some plan of the catalog includes: the only names that exist."""
    return frozenset(f for plan in catalog for f in plan.features)


def plans_with(catalog: PlanCatalog, feature: str) -> list[str]:
    return [plan.name for plan in catalog if feature in plan.features]


def known_feature(catalog: PlanCatalog, feature: object, field: str = "feature") -> str:
    """`feature` if some plan includes it; otherwise an error listing the names that exist."""
    names = catalog_features(catalog)
    if not isinstance(feature, str) or feature not in names:
        raise InvalidInputError(
            field, feature, f"a feature of the plan catalog: {', '.join(sorted(names))}"
        )
    return feature


def ensure_entitled(
    catalog: PlanCatalog, plan: Plan, overrides: Mapping[str, bool], feature: str
) -> None:
    """Raise `FeatureNotAvailableError` (naming the plans that have it) unless entitled."""
    if not is_entitled(plan, overrides, feature):
        raise FeatureNotAvailableError(feature, plan.name, plans_with(catalog, feature))


def load_overrides(conn: Connection, tenant_id: uuid.UUID) -> dict[str, bool]:
    rows = conn.execute(
        "SELECT feature, granted FROM registry.feature_overrides WHERE tenant_id = %s",
        (tenant_id,),
    ).fetchall()
    return {str(r["feature"]): bool(r["granted"]) for r in rows}


def tenant_overrides(db: Database, tenant_id: uuid.UUID | str) -> dict[str, bool]:
    """A tenant's overrides, read in its own transaction (the request path's role)."""
    tid = parse_tenant_id(tenant_id)
    with db.tenant(tid) as conn:
        return load_overrides(conn, tid)
