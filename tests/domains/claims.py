"""The domain tests' clock, the name a claim's TXT record is published at, and the domain
actions in a tenant's audit trail."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RECORD = "_codexos-challenge.{}"


def audit_actions(superuser: psycopg.Connection, tenant_id: uuid.UUID) -> list[str]:
    rows = superuser.execute(
        "SELECT action FROM registry.audit_log WHERE tenant_id = %s AND action LIKE 'domain.%%' "
        "ORDER BY seq",
        (tenant_id,),
    ).fetchall()
    return [r[0] for r in rows]
