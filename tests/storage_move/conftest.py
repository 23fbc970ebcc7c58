"""Tenants with objects in a shared bucket and in a dedicated one, for the storage-move tests."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from tenancy.db.session import Database
from tenancy.object_store import tenant_prefix
from tenancy.storage_location import dedicated_bucket_name
from tenancy.tenant import Tenant
from tests.db.factories import make_tenant
from tests.storage_move.buckets import make_bucket, s3_client


@pytest.fixture
def world(db: Database, moto_endpoint: str) -> dict[str, Any]:
    """A shared bucket with two tenants, a third tenant in its own (versioned) bucket."""
    s3 = s3_client(moto_endpoint)
    run = uuid.uuid4().hex[:6]
    shared = f"shared-{run}"
    make_bucket(s3, shared, versioned=True)
    tenants: dict[str, Tenant] = {}
    for name, plan in (("mover", "pro"), ("other", "pro"), ("big", "enterprise")):
        tenants[name] = make_tenant(db, f"{name}-{run}", plan).tenant
    big_bucket = dedicated_bucket_name(tenants["big"].slug)
    make_bucket(s3, big_bucket, versioned=True)
    for name, bucket in (("mover", shared), ("other", shared), ("big", big_bucket)):
        prefix = tenant_prefix(tenants[name].id)
        for i in range(4):
            s3.put_object(Bucket=bucket, Key=f"{prefix}documents/{i}.txt", Body=f"{name} {i}")
        s3.put_object(Bucket=bucket, Key=f"{prefix}uploads/blob.bin", Body=os.urandom(3000))
    s3.put_object(
        Bucket=shared, Key=f"{tenant_prefix(tenants['other'].id)}documents/0.txt", Body=b"v2"
    )
    s3.delete_object(Bucket=shared, Key=f"{tenant_prefix(tenants['other'].id)}documents/1.txt")
    return {"s3": s3, "shared": shared, "tenants": tenants, "big_bucket": big_bucket}
