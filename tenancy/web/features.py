"""`requires_feature("sso")`: a FastAPI dependency that refuses with 403 unless the request's
tenant is entitled to the feature (its plan includes it or an override grants it).

The endpoint's app must carry the registry in `app.state.db` (as the example service does);
the catalog is `app.state.catalog` when set, else the configured one. Overrides are read per
request in the tenant's own transaction (one indexed query).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from tenancy.db.session import Database
from tenancy.entitlements import is_entitled, plans_with, tenant_overrides
from tenancy.plans import PlanCatalog, default_catalog
from tenancy.tenant import Tenant
from tenancy.web.deps import current_tenant


def requires_feature(feature: str) -> Callable[[Request, Tenant], Tenant]:
    """A dependency returning the tenant when it has `feature`; 403 naming the feature and
    the plans that include it otherwise."""

    def dependency(request: Request, tenant: Annotated[Tenant, Depends(current_tenant)]) -> Tenant:
        db = getattr(request.app.state, "db", None)
        if not isinstance(db, Database):
            raise HTTPException(500, "app.state.db is not set: cannot check entitlements")
        catalog = getattr(request.app.state, "catalog", None)
        if not isinstance(catalog, PlanCatalog):
            catalog = default_catalog()
        plan = catalog.get(tenant.plan)
        if is_entitled(plan, tenant_overrides(db, tenant.id), feature):
            return tenant
        having = plans_with(catalog, feature)
        raise HTTPException(
            403,
            {
                "error": "feature_not_available",
                "feature": feature,
                "plan": plan.name,
                "plans_with_feature": having,
                "reason": f"feature `{feature}` is not included in plan {plan.name}; "
                f"it is in: {', '.join(having) or 'no plan'}",
            },
        )

    dependency.__name__ = f"requires_feature_{feature}"
    return dependency
