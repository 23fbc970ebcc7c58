"""Custom domains as the registry holds them: states, rows, claims and check outcomes."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from tenancy.dns_check import Check
from tenancy.domain_names import challenge_name, display_name
from tenancy.errors import TenancyError


class DomainStatus(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    ACTIVE = "active"
    FAILED = "failed"
    REVOKED = "revoked"
    EXPIRED = "expired"
    RELEASED = "released"


#: Served by the tenant's stack (certificate and route) and held against other tenants.
HELD = (DomainStatus.VERIFIED, DomainStatus.ACTIVE, DomainStatus.FAILED)
#: Still checked on schedule.
OPEN = (DomainStatus.PENDING, *HELD)


class DomainError(TenancyError):
    """A domain operation that cannot be done; `domain` names the host."""

    def __init__(self, domain: str, message: str) -> None:
        self.domain = domain
        super().__init__(message)


@dataclass(frozen=True)
class Domain:
    id: uuid.UUID
    tenant_id: uuid.UUID
    domain: str
    status: DomainStatus
    token_expires_at: datetime
    created_at: datetime
    updated_at: datetime
    verified_at: datetime | None
    missing_since: datetime | None
    released_at: datetime | None
    last_checked_at: datetime | None
    last_result: str | None
    last_detail: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Domain:
        fields = {k: row[k] for k in cls.__dataclass_fields__}
        return cls(**{**fields, "status": DomainStatus(row["status"])})

    @property
    def record_name(self) -> str:
        return challenge_name(self.domain)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {
            **{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()},
            "id": str(self.id),
            "tenant_id": str(self.tenant_id),
            "status": self.status.value,
            "unicode": display_name(self.domain),
            "record": self.record_name,
        }


COLUMNS = ", ".join(Domain.__dataclass_fields__)


@dataclass(frozen=True)
class Claim:
    """A new claim and the token its owner must publish (shown once, stored only hashed)."""

    domain: Domain
    token: str


@dataclass(frozen=True)
class CheckOutcome:
    domain: Domain
    previous: DomainStatus
    check: Check | None  # None when no lookup was needed (token expired)

    @property
    def changed(self) -> bool:
        return self.domain.status is not self.previous

    def to_json(self) -> dict[str, Any]:
        return {
            **self.domain.to_json(),
            "previous_status": self.previous.value,
            "result": self.check.result.value if self.check else None,
        }
