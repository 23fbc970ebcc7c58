"""Tenant objects: `tenants/<id>/...` in a local directory (local profile) or an S3 bucket.

The storage layout is the stacks' (`documents/`, `uploads/`, `exports/` under the tenant's
prefix). Listing goes page by page, so a tenant with many objects is never held in memory.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from tenancy.errors import ConfigurationError, InvalidInputError
from tenancy.validation import parse_tenant_id


def tenant_prefix(tenant_id: uuid.UUID | str) -> str:
    """`tenants/<id>/`, the tenant's part of a shared bucket (or of the local store)."""
    return f"tenants/{parse_tenant_id(tenant_id)}/"


class ObjectStore(Protocol):
    def keys(self, prefix: str) -> Iterator[str]: ...
    def entries(self, prefix: str) -> Iterator[tuple[str, datetime]]: ...
    def get(self, key: str) -> bytes: ...
    def put(self, key: str, data: bytes) -> None: ...
    def delete(self, keys: list[str]) -> None: ...
    def describe(self, key: str) -> str: ...


def _check_key(key: str) -> str:
    parts = key.split("/")
    if (
        key.startswith("/")
        or any(p in ("", ".", "..") for p in parts[:-1])
        or parts[-1] in (".", "..")
    ):
        raise InvalidInputError("object key", key, "a relative key without '.', '..' or '//'")
    return key


class LocalObjectStore:
    """Objects as files under `root` (the local profile's `<run dir>/objects`)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def keys(self, prefix: str) -> Iterator[str]:
        base = self.root / _check_key(prefix)
        if not base.is_dir():
            return
        for path in sorted(base.rglob("*")):
            if path.is_file():
                yield path.relative_to(self.root).as_posix()

    def entries(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        """Keys with their last modification time (UTC)."""
        for key in self.keys(prefix):
            mtime = (self.root / key).stat().st_mtime
            yield key, datetime.fromtimestamp(mtime, UTC)

    def get(self, key: str) -> bytes:
        return (self.root / _check_key(key)).read_bytes()

    def put(self, key: str, data: bytes) -> None:
        path = self.root / _check_key(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # a reader sees the whole object or none

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            (self.root / _check_key(key)).unlink(missing_ok=True)

    def describe(self, key: str) -> str:
        return str(self.root / key)


class S3ObjectStore:
    """Objects in `bucket` through a boto3 S3 client (SSE-KMS is the bucket's default)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    @property
    def client(self) -> Any:
        return self._client

    def keys(self, prefix: str) -> Iterator[str]:
        for key, _ in self.entries(prefix):
            yield key

    def entries(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=_check_key(prefix)
        )
        for page in pages:
            for item in page.get("Contents", []):
                yield str(item["Key"]), item["LastModified"].astimezone(UTC)

    def get(self, key: str) -> bytes:
        body = self._client.get_object(Bucket=self.bucket, Key=_check_key(key))["Body"]
        return bytes(body.read())

    def put(self, key: str, data: bytes) -> None:
        self._client.put_object(Bucket=self.bucket, Key=_check_key(key), Body=data)

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
            batch = [{"Key": _check_key(k)} for k in keys[start : start + 1000]]
            answer = self._client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
            )
            if answer.get("Errors"):
                raise InvalidInputError("delete_objects", answer["Errors"][:3], "no errors")

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def object_store_from_env(run_dir: Path, environ: Mapping[str, str] | None = None) -> ObjectStore:
    """`TENANCY_STORAGE`: `s3://bucket` (boto3's usual credentials, `AWS_ENDPOINT_URL_S3`) or a
    directory; unset means the local profile's `<run dir>/objects`."""
    env = os.environ if environ is None else environ
    value = env.get("TENANCY_STORAGE") or ""
    if not value:
        return LocalObjectStore(run_dir / "objects")
    if value.startswith("s3://"):
        bucket = value.removeprefix("s3://").strip("/")
        if not bucket or "/" in bucket:
            raise ConfigurationError(f"TENANCY_STORAGE is {value!r}; expected s3://<bucket>")
        import boto3

        return S3ObjectStore(boto3.client("s3"), bucket)
    return LocalObjectStore(Path(value))
