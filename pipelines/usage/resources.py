"""How much each tenant stores: bytes under `tenants/<id>/`, locally or in S3."""

from __future__ import annotations

import uuid
from collections import defaultdict
from pathlib import Path

import boto3
import dagster as dg

from tenancy.settings import Settings

TENANT_PREFIX = "tenants/"


class StorageMeasurer(dg.ConfigurableResource):  # type: ignore[type-arg]
    """`kind` "local" walks <root>/tenants/<id>/ (default root: <run dir>/objects); "s3" lists
    the bucket under tenants/ once, summing sizes per tenant (`endpoint_url` for S3-compatible
    stores such as moto_server)."""

    kind: str = "local"
    root: str = ""
    bucket: str = ""
    endpoint_url: str = ""
    region: str = "eu-west-1"

    def measure(self) -> dict[uuid.UUID, int]:
        if self.kind == "local":
            root = (
                Path(self.root)
                if self.root
                else Settings.from_env().path(
                    "TENANCY_OBJECTS_DIR", "objects", "the local object store's root directory"
                )
            )
            return self._local(root)
        if self.kind == "s3":
            if not self.bucket:
                raise dg.Failure(
                    "StorageMeasurer: kind is 's3' but `bucket` is empty; expected the bucket name"
                )
            return self._s3()
        raise dg.Failure(f"StorageMeasurer: kind is {self.kind!r}; expected 'local' or 's3'")

    def _local(self, root: Path) -> dict[uuid.UUID, int]:
        sizes: dict[uuid.UUID, int] = {}
        base = root / TENANT_PREFIX
        if not base.is_dir():
            return sizes
        for tenant_dir in base.iterdir():
            tenant = _tenant(tenant_dir.name)
            if tenant is not None and tenant_dir.is_dir():
                sizes[tenant] = sum(p.stat().st_size for p in tenant_dir.rglob("*") if p.is_file())
        return sizes

    def _s3(self) -> dict[uuid.UUID, int]:
        client = boto3.client("s3", region_name=self.region, endpoint_url=self.endpoint_url or None)
        sizes: dict[uuid.UUID, int] = defaultdict(int)
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=TENANT_PREFIX
        ):
            for obj in page.get("Contents", []):
                tenant = _tenant(obj["Key"][len(TENANT_PREFIX) :].split("/", 1)[0])
                if tenant is not None:
                    sizes[tenant] += int(obj["Size"])
        return dict(sizes)


def _tenant(name: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(name) if len(name) == 36 else None
    except ValueError:
        return None
