"""Entitlements: plan features with overrides granting and withdrawing, the FastAPI
dependency's 403, and settings validated against them."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from tenancy.admin_errors import FeatureNotAvailableError
from tenancy.db.session import Database
from tenancy.entitlements import (
    ensure_entitled,
    entitled_features,
    is_entitled,
    tenant_overrides,
)
from tenancy.feature_overrides import set_override
from tenancy.plans import default_catalog
from tenancy.registry import get_tenant
from tenancy.tenant import Tenant
from tenancy.web.features import requires_feature
from tests.db.factories import make_tenant


def test_resolution_plan_grant_and_withdrawal() -> None:
    catalog = default_catalog()
    free, pro = catalog.get("free"), catalog.get("pro")
    assert not is_entitled(free, {}, "integrations")
    assert is_entitled(free, {"integrations": True}, "integrations"), "an override grants"
    assert is_entitled(pro, {}, "custom_domain")
    assert not is_entitled(pro, {"custom_domain": False}, "custom_domain"), "one withdraws"
    assert is_entitled(pro, {"sso": False}, "custom_domain"), "others are untouched"
    assert entitled_features(free, {"sso": True, "documents": False}) == frozenset(
        {"agents", "community_support", "sso"}
    )
    ensure_entitled(catalog, free, {"sso": True}, "sso")
    with pytest.raises(
        FeatureNotAvailableError,
        match="feature `custom_domain` is not available on plan free; it is included in: "
        "pro, enterprise",
    ):
        ensure_entitled(catalog, free, {}, "custom_domain")


def test_overrides_are_stored_audited_and_checked_against_the_catalog(db: Database) -> None:
    acme = make_tenant(db, "acme", plan="free").tenant
    assert set_override(db, "acme", "sso", True, reason="pilot") == {"sso": True}
    assert set_override(db, "acme", "agents", False, reason="abuse") == {
        "sso": True,
        "agents": False,
    }
    assert set_override(db, "acme", "agents", None, reason="resolved") == {"sso": True}
    assert tenant_overrides(db, acme.id) == {"sso": True}
    with pytest.raises(ValueError, match="feature is 'teleport'; expected a feature of the plan"):
        set_override(db, "acme", "teleport", True, reason="x")


def _service(db: Database, tenant: Tenant) -> TestClient:
    app = FastAPI()
    app.state.db = db

    @app.middleware("http")
    async def as_tenant(request, call_next):  # type: ignore[no-untyped-def]
        request.scope.setdefault("state", {})["tenant"] = get_tenant(db, tenant.id)
        return await call_next(request)

    @app.get("/sso")
    def sso(t: Annotated[Tenant, Depends(requires_feature("sso"))]) -> dict[str, str]:
        return {"tenant": t.slug}

    return TestClient(app)


def test_requires_feature_refuses_with_the_feature_and_the_plans_that_have_it(
    db: Database,
) -> None:
    acme = make_tenant(db, "acme", plan="pro").tenant
    client = _service(db, acme)
    refused = client.get("/sso")
    assert refused.status_code == 403
    detail = refused.json()["detail"]
    assert detail["feature"] == "sso" and detail["plans_with_feature"] == ["enterprise"]
    assert "feature `sso` is not included in plan pro; it is in: enterprise" in detail["reason"]
    set_override(db, "acme", "sso", True, reason="pilot")
    assert client.get("/sso").json() == {"tenant": "acme"}
