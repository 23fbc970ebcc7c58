"""Agents, a tenant-scoped resource, read and written on the request path (runtime role)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from tenancy.db.session import Database
from tenancy.errors import InvalidInputError, NotFoundError
from tenancy.validation import parse_tenant_id, parse_uuid, validate_name


@dataclass(frozen=True)
class Agent:
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    status: str
    created_at: datetime


_COLUMNS = "id, tenant_id, name, status, created_at"


def create_agent(db: Database, tenant_id: uuid.UUID | str, name: str) -> Agent:
    tid = parse_tenant_id(tenant_id)
    with db.tenant(tid) as conn:
        row = conn.execute(
            f"INSERT INTO registry.agents (tenant_id, name) VALUES (%s, %s) RETURNING {_COLUMNS}",
            (tid, validate_name(name, field="agent name")),
        ).fetchone()
    assert row is not None
    return Agent(**row)  # type: ignore[arg-type]


def get_agent(db: Database, agent_id: uuid.UUID | str, tenant_id: uuid.UUID | str) -> Agent:
    """The agent, if it belongs to `tenant_id`; another tenant's agent is simply not found.

    Row-level security does the filtering, and the explicit tenant predicate keeps the
    answer right even for a role that RLS would not restrict.
    """
    aid = parse_uuid(agent_id, "agent id")
    tid = parse_tenant_id(tenant_id)
    with db.tenant(tid) as conn:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM registry.agents WHERE id = %s AND tenant_id = %s", (aid, tid)
        ).fetchone()
    if row is None:
        raise NotFoundError("agent", aid)
    return Agent(**row)  # type: ignore[arg-type]


def list_agents(db: Database, tenant_id: uuid.UUID | str, limit: int = 100) -> list[Agent]:
    """The tenant's agents, newest first (at most `limit`); row-level security scopes them."""
    tid = parse_tenant_id(tenant_id)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise InvalidInputError("limit", limit, "an integer from 1 to 1000")
    with db.tenant(tid) as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM registry.agents WHERE tenant_id = %s "
            "ORDER BY created_at DESC, id LIMIT %s",
            (tid, limit),
        ).fetchall()
    return [Agent(**row) for row in rows]  # type: ignore[arg-type]
