"""The tenant as the registry stores it."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class TenantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"
    PURGED = "purged"


class MemberRole(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


TENANT_COLUMNS = (
    "id, slug, name, domain, status, plan, limit_overrides, settings, created_at, updated_at, "
    "status_changed_at, deleted_at, legal_hold, suspension_reason, legal_hold_reason, purged_at"
)


@dataclass(frozen=True)
class Tenant:
    id: uuid.UUID
    slug: str
    name: str
    domain: str | None
    status: TenantStatus
    plan: str
    limit_overrides: dict[str, Any]
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    status_changed_at: datetime
    deleted_at: datetime | None
    legal_hold: bool
    suspension_reason: str | None = None
    legal_hold_reason: str | None = None
    purged_at: datetime | None = None

    @property
    def stack_name(self) -> str:
        """The tenant's Pulumi stack."""
        return f"tenant-{self.slug}"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Tenant:
        return cls(**{**row, "status": TenantStatus(row["status"])})

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["id"] = str(self.id)
        data["status"] = self.status.value
        for key in (
            "created_at",
            "updated_at",
            "status_changed_at",
            "deleted_at",
            "purged_at",
        ):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data
