"""Where the retention sweep finds the policy and the tenants' objects."""

from __future__ import annotations

from pathlib import Path

import boto3
import dagster as dg

from pipelines.resources import run_dir
from tenancy.object_store import LocalObjectStore, ObjectStore, S3ObjectStore
from tenancy.retention_policy import RetentionPolicy, load_policy


class RetentionTargets(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The policy file (default policies/retention.yaml) and the object store: `kind` "local"
    (<root>, default <run dir>/objects) or "s3" (`bucket`, `endpoint_url` for moto_server).
    The audit anchors come from TENANCY_AUDIT_ANCHOR_* (or the local profile's)."""

    policy: str = ""
    kind: str = "local"
    root: str = ""
    bucket: str = ""
    endpoint_url: str = ""
    region: str = "eu-west-1"

    def load_policy(self) -> RetentionPolicy:
        return load_policy(Path(self.policy) if self.policy else None)

    def store(self) -> ObjectStore:
        if self.kind == "local":
            return LocalObjectStore(Path(self.root) if self.root else run_dir() / "objects")
        if self.kind == "s3" and self.bucket:
            client = boto3.client(
                "s3", region_name=self.region, endpoint_url=self.endpoint_url or None
            )
            return S3ObjectStore(client, self.bucket)
        raise dg.Failure(
            f"RetentionTargets: kind is {self.kind!r} (bucket {self.bucket!r}); expected "
            "'local', or 's3' with a bucket"
        )
