"""Where anchors are kept: anywhere but the database whose history they vouch for.

`LocalAnchorStore` writes one file per anchor, `<root>/<tenant id>/<seq, 20 digits>.json`,
and never overwrites one. In production the root should be storage the database's
administrators cannot rewrite (an object-locked bucket, e.g. mounted or synced, or a
separate host).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from tenancy.audit_anchor import Anchor
from tenancy.errors import InvalidInputError
from tenancy.validation import parse_tenant_id


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
        anchor = Anchor.from_json(path.read_bytes(), str(path))
        if anchor.tenant_id != str(parse_tenant_id(tenant_id)):
            raise InvalidInputError(f"{path}: tenant_id", anchor.tenant_id, str(tenant_id))
        return anchor

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
