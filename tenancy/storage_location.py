"""Where a tenant's objects live: under its prefix in the shared bucket, or in its own bucket.

The registry says (`registry.tenant_storage`); without a row, the tenant's plan says. Either
way the keys are the same, `tenants/<id>/...`, so a move between the two changes the bucket
and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tenancy.db.session import Connection, Database
from tenancy.object_store import ObjectStore, S3ObjectStore, tenant_prefix
from tenancy.plans import PlanCatalog, default_catalog
from tenancy.tenant import Tenant

SHARED = "shared_prefix"
DEDICATED = "dedicated_bucket"


def dedicated_bucket_name(slug: str) -> str:
    """The tenant's own bucket, as its stack names it (`codexos-tenant-<slug>`)."""
    return f"codexos-tenant-{slug}"


@dataclass(frozen=True)
class StorageLocation:
    """`bucket` None: the platform's shared bucket (named by configuration)."""

    model: str
    bucket: str | None
    prefix: str

    @classmethod
    def for_model(cls, model: str, tenant: Tenant) -> StorageLocation:
        if model not in (SHARED, DEDICATED):
            raise ValueError(f"storage model {model!r}; expected {SHARED} or {DEDICATED}")
        bucket = dedicated_bucket_name(tenant.slug) if model == DEDICATED else None
        return cls(model, bucket, tenant_prefix(tenant.id))

    def bucket_name(self, shared_bucket: str) -> str:
        return self.bucket or shared_bucket

    def describe(self, shared_bucket: str) -> str:
        return f"s3://{self.bucket_name(shared_bucket)}/{self.prefix}"

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "bucket": self.bucket, "prefix": self.prefix}


def current_location(
    conn: Connection, tenant: Tenant, catalog: PlanCatalog | None = None
) -> StorageLocation:
    """The location the registry records for the tenant, or its plan's."""
    row = conn.execute(
        "SELECT model FROM registry.tenant_storage WHERE tenant_id = %s", (tenant.id,)
    ).fetchone()
    if row is not None:
        return StorageLocation.for_model(str(row["model"]), tenant)
    return StorageLocation.for_model(
        (catalog or default_catalog()).get(tenant.plan).storage.model, tenant
    )


def record_location(
    conn: Connection, tenant: Tenant, location: StorageLocation, at: datetime
) -> None:
    """Make `location` the tenant's, in the caller's transaction."""
    conn.execute(
        "INSERT INTO registry.tenant_storage (tenant_id, model, bucket, switched_at) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT (tenant_id) DO UPDATE SET model = EXCLUDED.model, "
        "bucket = EXCLUDED.bucket, switched_at = EXCLUDED.switched_at",
        (tenant.id, location.model, location.bucket, at),
    )


def tenant_store(db: Database, tenant: Tenant, shared: ObjectStore) -> ObjectStore:
    """The store that holds the tenant's objects now: `shared` itself, or, for a tenant whose
    location is its own bucket, a store on that bucket through the same S3 client."""
    with db.platform() as conn:
        location = current_location(conn, tenant)
    if isinstance(shared, S3ObjectStore) and location.bucket is not None:
        return S3ObjectStore(shared.client, location.bucket)
    return shared
