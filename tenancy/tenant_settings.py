"""Read and change a tenant's settings, in its own transaction, with an audit entry."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from tenancy import audit
from tenancy.db.session import Database
from tenancy.entitlements import catalog_features, entitled_features, load_overrides
from tenancy.errors import NotFoundError
from tenancy.member_permissions import Action
from tenancy.members import Actor, authorize, lock_tenant
from tenancy.plans import PlanCatalog, default_catalog
from tenancy.settings_schema import TenantSettings, apply_changes, parse_settings
from tenancy.validation import parse_tenant_id

#: Where integrations keep secrets (a Slack webhook URL is one): the audit records the change,
#: never the value.
_SECRET_PREFIXES = ("integrations.",)


def get_settings(db: Database, tenant_id: uuid.UUID | str, actor: Actor) -> dict[str, Any]:
    tid = parse_tenant_id(tenant_id)
    with db.tenant(tid) as conn:
        authorize(conn, tid, actor, Action.READ_SETTINGS)
        row = conn.execute("SELECT settings FROM registry.tenants WHERE id = %s", (tid,)).fetchone()
    if row is None:
        raise NotFoundError("tenant", tid)
    settings = row["settings"]
    assert isinstance(settings, dict)
    return settings


def update_settings(
    db: Database,
    tenant_id: uuid.UUID | str,
    actor: Actor,
    changes: Mapping[str, Any],
    *,
    catalog: PlanCatalog | None = None,
) -> TenantSettings:
    """Set each dotted key of `changes` (None removes it), validate the whole document against
    the schema and the tenant's entitlements, and store it; nothing is stored on error."""
    tid = parse_tenant_id(tenant_id)
    plans = catalog or default_catalog()
    with db.tenant(tid) as conn:
        tenant = lock_tenant(conn, tid)
        authorize(conn, tenant, actor, Action.WRITE_SETTINGS)
        row = conn.execute("SELECT settings FROM registry.tenants WHERE id = %s", (tid,)).fetchone()
        assert row is not None
        entitled = entitled_features(plans.get(tenant.plan), load_overrides(conn, tid))
        document = apply_changes(dict(row["settings"]), changes)  # type: ignore[call-overload]
        settings = parse_settings(
            document, known_features=catalog_features(plans), entitled=entitled
        )
        conn.execute(
            "UPDATE registry.tenants SET settings = %s, updated_at = now() WHERE id = %s",
            (json.dumps(settings.to_data()), tid),
        )
        shown = {
            k: ("(secret)" if k.startswith(_SECRET_PREFIXES) and v is not None else v)
            for k, v in changes.items()
        }
        audit.record(conn, tid, actor.name, "settings.update", f"tenant:{tid}", {"set": shown})
    return settings
