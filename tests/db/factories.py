"""Small helpers that put tenants and their data into a test registry."""

from __future__ import annotations

import uuid

from tenancy.agents import Agent, create_agent
from tenancy.db.session import Database
from tenancy.registry import NewTenant, create_tenant


def make_tenant(db: Database, slug: str, plan: str = "pro") -> NewTenant:
    return create_tenant(
        db,
        name=slug.title(),
        domain=f"{slug}.example.com",
        plan=plan,
        owner_email=f"owner@{slug}.example.com",
        slug=slug,
    )


def make_document(db: Database, tenant_id: uuid.UUID, name: str = "doc.pdf") -> uuid.UUID:
    with db.tenant(tenant_id) as conn:
        row = conn.execute(
            "INSERT INTO registry.documents (tenant_id, name, object_key, size_bytes) "
            "VALUES (%s, %s, %s, 100) RETURNING id",
            (tenant_id, name, f"tenants/{tenant_id}/documents/{name}"),
        ).fetchone()
    assert row is not None
    return uuid.UUID(str(row["id"]))


def make_agent(db: Database, tenant_id: uuid.UUID) -> Agent:
    return create_agent(db, tenant_id, "assistant")
