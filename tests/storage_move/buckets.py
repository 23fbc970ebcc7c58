"""S3 as the storage-move tests read it: a client on moto, buckets, every version of a prefix
(bytes hashed), the current objects."""

from __future__ import annotations

import hashlib
from typing import Any

import boto3


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def make_bucket(s3: Any, name: str, versioned: bool) -> None:
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def versions(s3: Any, bucket: str, prefix: str = "") -> dict[tuple[str, str], str]:
    """Every version and delete marker under `prefix`: (key, version) -> SHA-256 or `marker`."""
    seen: dict[tuple[str, str], str] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Versions", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
            seen[(item["Key"], item["VersionId"])] = hashlib.sha256(body["Body"].read()).hexdigest()
        for item in page.get("DeleteMarkers", []):
            seen[(item["Key"], item["VersionId"])] = "marker"
    return seen


def bucket_exists(s3: Any, bucket: str) -> bool:
    return any(b["Name"] == bucket for b in s3.list_buckets()["Buckets"])


def current(s3: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for o in page.get("Contents", [])
    ]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}
