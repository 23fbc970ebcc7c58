"""S3 operations on one tenant's keys in one bucket: list, copy with a checksum, remove every
version, drop the bucket. Used by storage moves and purges, through a boto3 S3 client.

Copies read the source once, hashing as they go, into a spooled temporary file (memory up to
`SPOOL_BYTES`, disk beyond), and upload it with its SHA-256 as S3's own checksum, so S3
refuses an upload whose bytes differ from what was read and keeps the digest for later checks.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from tenancy.errors import InvalidInputError

SPOOL_BYTES = 8 * 1024 * 1024
CHUNK = 1024 * 1024
DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys


@dataclass(frozen=True)
class S3Object:
    key: str
    etag: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class Copied:
    """What was read at the source (its identity then) and written at the destination."""

    source: S3Object
    sha256: str


def _missing(error: ClientError) -> bool:
    code = str(error.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchBucket", "NoSuchKey", "NotFound")


def bucket_exists(client: Any, bucket: str) -> bool:
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if _missing(exc):
            return False
        raise
    return True


def list_objects(client: Any, bucket: str, prefix: str) -> Iterator[S3Object]:
    """The current objects under `prefix`, page by page."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield S3Object(
                str(item["Key"]),
                str(item["ETag"]),
                int(item["Size"]),
                item["LastModified"].astimezone(UTC),
            )


def head(client: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """The object's metadata with its stored checksum, or None when there is none."""
    try:
        return dict(client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED"))
    except ClientError as exc:
        if _missing(exc):
            return None
        raise


def stored_sha256(meta: dict[str, Any]) -> str | None:
    value = meta.get("ChecksumSHA256")
    return base64.b64decode(value).hex() if value else None


def copy_object(
    client: Any, source_bucket: str, target_bucket: str, key: str, metadata: dict[str, str]
) -> Copied | None:
    """Copy one object between buckets, streamed; None if it vanished at the source.

    The copy carries `metadata`, the source's ETag (`source-etag`) and its SHA-256 (`sha256`).
    """
    try:
        got = client.get_object(Bucket=source_bucket, Key=key)
    except ClientError as exc:
        if _missing(exc):
            return None
        raise
    digest, size = hashlib.sha256(), 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        for chunk in got["Body"].iter_chunks(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            spool.write(chunk)
        spool.seek(0)
        client.put_object(
            Bucket=target_bucket,
            Key=key,
            Body=spool,
            ContentLength=size,
            Metadata={**metadata, "source-etag": str(got["ETag"]), "sha256": digest.hexdigest()},
            ChecksumSHA256=base64.b64encode(digest.digest()).decode(),
        )
    source = S3Object(key, str(got["ETag"]), size, got["LastModified"].astimezone(UTC))
    return Copied(source, digest.hexdigest())


def sha256_of(client: Any, bucket: str, key: str) -> str:
    """The SHA-256 of the object's bytes, read as a stream."""
    digest = hashlib.sha256()
    for chunk in client.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _delete(client: Any, bucket: str, batch: list[dict[str, str]]) -> None:
    answer = client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    if answer.get("Errors"):
        raise InvalidInputError(f"delete_objects in {bucket}", answer["Errors"][:3], "no errors")


def delete_keys(client: Any, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), DELETE_BATCH):
        _delete(client, bucket, [{"Key": k} for k in keys[start : start + DELETE_BATCH]])


@dataclass(frozen=True)
class Version:
    key: str
    version_id: str
    marker: bool
    current: S3Object | None  # the object, when this version is the current one (not a marker)


def list_versions(client: Any, bucket: str, prefix: str) -> Iterator[Version]:
    """Every version and delete marker under `prefix` (an unversioned bucket's are `null`)."""
    pages = client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for item in page.get("Versions", []):
            obj = S3Object(
                str(item["Key"]),
                str(item["ETag"]),
                int(item["Size"]),
                item["LastModified"].astimezone(UTC),
            )
            yield Version(obj.key, str(item["VersionId"]), False, obj if item["IsLatest"] else None)
        for item in page.get("DeleteMarkers", []):
            yield Version(str(item["Key"]), str(item["VersionId"]), True, None)


def delete_versions(client: Any, bucket: str, versions: list[Version]) -> None:
    """Delete exactly these versions: a write that lands meanwhile is a new version, kept."""
    for start in range(0, len(versions), DELETE_BATCH):
        batch = versions[start : start + DELETE_BATCH]
        _delete(client, bucket, [{"Key": v.key, "VersionId": v.version_id} for v in batch])


def remove_versions(client: Any, bucket: str, prefix: str) -> dict[str, int]:
    """Delete every version and delete marker under `prefix` (a prefix of "" is the bucket)."""
    versions = list(list_versions(client, bucket, prefix))
    delete_versions(client, bucket, versions)
    return count_versions(versions)


def count_versions(versions: list[Version]) -> dict[str, int]:
    markers = sum(1 for v in versions if v.marker)
    return {"versions": len(versions) - markers, "delete_markers": markers}


def remove_bucket(client: Any, bucket: str) -> dict[str, Any]:
    """Empty the bucket of every version and delete marker, then delete it; idempotent."""
    if not bucket_exists(client, bucket):
        return {"bucket": bucket, "absent": True}
    counts = remove_versions(client, bucket, "")
    try:
        client.delete_bucket(Bucket=bucket)
    except ClientError as exc:
        if not _missing(exc):
            raise
    return {"bucket": bucket, **counts}
