"""Where anchors are kept: anywhere but the database whose history they vouch for.

`LocalAnchorStore` writes one file per anchor, `<root>/<tenant id>/<seq, 20 digits>.json`,
and never overwrites one. `S3AnchorStore` writes the same names as objects in a bucket with
S3 Object Lock, locked in compliance mode: the production choice, since nobody who runs the
database can then delete or replace an anchor.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from tenancy.audit_anchor import Anchor
from tenancy.errors import InvalidInputError
from tenancy.validation import parse_tenant_id

#: How long an anchor in S3 stays locked: the audit-trail retention of an active tenant.
ANCHOR_RETENTION = timedelta(days=7 * 365)


def _checked(anchor: Anchor, tenant_id: str, where: str) -> Anchor:
    """An anchor stored under another tenant's or sequence number's name is refused."""
    name = where.rsplit("/", 1)[-1]
    if anchor.tenant_id != str(parse_tenant_id(tenant_id)):
        raise InvalidInputError(f"{where}: tenant_id", anchor.tenant_id, str(tenant_id))
    if name != f"{anchor.seq:020d}.json":
        raise InvalidInputError(f"{where}: seq", anchor.seq, f"the sequence number in {name}")
    return anchor


class AnchorStore(Protocol):
    def put(self, anchor: Anchor) -> str:
        """Store `anchor` (never replacing one); returns where it went."""
        ...

    def latest(self, tenant_id: str) -> Anchor | None:
        """The tenant's anchor with the highest sequence number, or None."""
        ...

    def tenants(self) -> list[str]:
        """Every tenant with at least one anchor."""
        ...


class LocalAnchorStore:
    """Anchors as files under a directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, tenant_id: str) -> Path:
        return self.root / str(parse_tenant_id(tenant_id))

    def put(self, anchor: Anchor) -> str:
        directory = self._dir(anchor.tenant_id)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{anchor.seq:020d}.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(anchor.to_json())
            out.flush()
            os.fsync(out.fileno())
        return str(path)

    def latest(self, tenant_id: str) -> Anchor | None:
        directory = self._dir(tenant_id)
        if not directory.is_dir():
            return None
        names = sorted(p.name for p in directory.glob("*.json"))
        if not names:
            return None
        path = directory / names[-1]
        return _checked(Anchor.from_json(path.read_bytes(), str(path)), tenant_id, str(path))

    def tenants(self) -> list[str]:
        if not self.root.is_dir():
            return []
        out = []
        for path in sorted(self.root.iterdir()):
            try:
                out.append(str(parse_tenant_id(path.name)))
            except InvalidInputError:
                continue  # not a tenant directory (e.g. a README next to the anchors)
        return out


class S3AnchorStore:
    """Anchors as objects `<prefix><tenant id>/<seq, 20 digits>.json` in a bucket created with
    S3 Object Lock: each is written once (`If-None-Match: *`) and locked in COMPLIANCE mode,
    so not even the bucket's owner can delete or overwrite it before `retention` ends."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        retention: timedelta = ANCHOR_RETENTION,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.retention = retention

    def _tenant_prefix(self, tenant_id: str) -> str:
        return f"{self.prefix}{parse_tenant_id(tenant_id)}/"

    def put(self, anchor: Anchor) -> str:
        key = f"{self._tenant_prefix(anchor.tenant_id)}{anchor.seq:020d}.json"
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=anchor.to_json(),
            ContentType="application/json",
            IfNoneMatch="*",
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=datetime.now(UTC) + self.retention,
            ChecksumAlgorithm="SHA256",
        )
        return f"s3://{self.bucket}/{key}"

    def latest(self, tenant_id: str) -> Anchor | None:
        prefix = self._tenant_prefix(tenant_id)
        newest: str | None = None
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            for item in page.get("Contents", []):
                if item["Key"].endswith(".json") and (newest is None or item["Key"] > newest):
                    newest = item["Key"]
        if newest is None:
            return None
        body = self.client.get_object(Bucket=self.bucket, Key=newest)["Body"].read()
        return _checked(Anchor.from_json(body, f"s3://{self.bucket}/{newest}"), tenant_id, newest)

    def tenants(self) -> list[str]:
        out = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix, Delimiter="/"
        ):
            for common in page.get("CommonPrefixes", []):
                name = common["Prefix"][len(self.prefix) :].rstrip("/")
                try:
                    out.append(str(parse_tenant_id(name)))
                except InvalidInputError:
                    continue  # not a tenant's folder
        return sorted(out)
