"""Tenant administration over HTTP: the example service's endpoints, as members of a tenant
and as a member of another tenant, on the real registry and Redis."""

from __future__ import annotations

import uuid

import redis
from starlette.testclient import TestClient

from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.devstack.redis import RedisServer
from tenancy.registry import add_member
from tenancy.tenant import MemberRole
from tenancy.web.example import ServiceConfig, create_app
from tests.db.factories import make_tenant


def test_members_invitations_and_settings_over_http(
    registry: RegistryUrls, db: Database, redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    acme, globex = make_tenant(db, "acme"), make_tenant(db, "globex")
    viewer = add_member(db, acme.tenant.id, "v@acme.example.com", MemberRole.VIEWER)
    outsider = add_member(db, globex.tenant.id, "x@globex.example.com", MemberRole.MEMBER)

    def as_(user: uuid.UUID, tenant: uuid.UUID = acme.tenant.id) -> dict[str, str]:
        return {"x-tenant-id": str(tenant), "x-user-id": str(user)}

    owner = as_(acme.owner_id)
    app = create_app(ServiceConfig(registry.app, registry.platform, redis_server.url))
    with TestClient(app) as client:
        made = client.post("/invitations", json={"email": "bob@example.com"}, headers=owner)
        assert made.status_code == 201 and made.json()["role"] == "member"
        assert "." not in made.json()["id"], "no code in the answer"
        denied = client.post("/invitations", json={"email": "c@example.com"}, headers=as_(viewer))
        assert denied.status_code == 403 and "viewer may not invite" in denied.text
        assert [i["email"] for i in client.get("/invitations", headers=owner).json()] == [
            "bob@example.com"
        ]
        last = client.put(f"/members/{acme.owner_id}/role", json={"role": "admin"}, headers=owner)
        assert last.status_code == 409 and "without an owner" in last.text
        bad = client.patch("/settings", json={"customizations.primary_color": "red"}, headers=owner)
        assert bad.status_code == 422
        assert "settings `customizations.primary_color` is 'red'" in bad.json()["detail"]["reason"]
        ok = client.patch("/settings", json={"customizations.locale": "fr"}, headers=owner)
        assert ok.json()["customizations"] == {"locale": "fr"}
        assert client.get("/settings", headers=as_(viewer)).json()["customizations"] == {
            "locale": "fr"
        }
        # another tenant's member: refused at the door, and its ids are unknown here
        assert client.get("/settings", headers=as_(outsider)).status_code == 403
        gone = client.delete(f"/members/{outsider}", headers=owner)
        assert gone.status_code == 404
        assert client.post("/members/leave", headers=as_(viewer)).json()["role"] == "viewer"
