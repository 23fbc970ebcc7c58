"""Export one tenant: its registry rows, audit chain, usage history and objects, with a manifest.

The bundle goes to `tenants/<id>/exports/<export id>/` in the tenant's object store. The
registry rows are read through the request path's role, under row-level security, so the
bundle holds exactly what the tenant itself can see. The audit trail is the ledger of the
export: `tenant.export.started` before anything is written, `tenant.export` with the
manifest's digest (and the owners' "export ready" message) once the manifest is in place.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tenancy import audit
from tenancy.db.session import Database
from tenancy.export_manifest import MANIFEST, digest, manifest_from_digests
from tenancy.lifecycle import LifecycleError
from tenancy.notifications import EXPORT_READY, enqueue
from tenancy.object_store import ObjectStore, tenant_prefix
from tenancy.registry import get_tenant
from tenancy.tenant import TenantStatus
from tenancy.usage_warehouse import WarehouseLocation, open_warehouse, table_names

#: Warehouse tables with per-tenant usage history, exported as JSON lines.
USAGE_TABLES = ("usage_events", "daily_tenant_usage", "monthly_tenant_usage", "tenant_quota_status")
_REGISTRY_QUERIES = {
    "tenant": "SELECT * FROM registry.tenants WHERE id = %s",
    "memberships": (
        "SELECT m.user_id, u.email, m.role, m.permissions, m.joined_at, m.last_active "
        "FROM registry.user_tenants m JOIN registry.users u ON u.id = m.user_id "
        "WHERE m.tenant_id = %s ORDER BY u.email"
    ),
    "agents": "SELECT * FROM registry.agents WHERE tenant_id = %s ORDER BY created_at, id",
    "documents": "SELECT * FROM registry.documents WHERE tenant_id = %s ORDER BY created_at, id",
    "audit_log": "SELECT * FROM registry.audit_log WHERE tenant_id = %s ORDER BY seq",
}


@dataclass(frozen=True)
class ExportResult:
    tenant_id: uuid.UUID
    export_id: str
    location: str
    bundle_prefix: str
    manifest_sha256: str
    files: int
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "tenant_id": str(self.tenant_id)}


def _plain(value: object) -> object:
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return str(value)


def _json_lines(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(
        json.dumps(row, sort_keys=True, default=_plain).encode() + b"\n" for row in rows
    )


def _registry_files(db: Database, tenant_id: uuid.UUID) -> dict[str, bytes]:
    with db.tenant(tenant_id) as conn:
        return {
            f"registry/{name}.jsonl": _json_lines(conn.execute(query, (tenant_id,)).fetchall())
            for name, query in _REGISTRY_QUERIES.items()
        }


def _usage_files(
    warehouse: WarehouseLocation, tenant_id: uuid.UUID
) -> tuple[dict[str, bytes], str]:
    """The tenant's rows of each usage table, and a note on where they came from."""
    where = warehouse.describe()
    if not warehouse.exists():
        return {}, f"no warehouse at {where}: no usage was ever recorded there"
    files: dict[str, bytes] = {}
    with open_warehouse(warehouse, read_only=True) as conn:
        present = table_names(conn)
        for table in USAGE_TABLES:
            if table not in present:
                continue
            cursor = conn.execute(
                f'SELECT * FROM "{table}" WHERE tenant_id = CAST(? AS UUID) ORDER BY ALL',
                [str(tenant_id)],
            )
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
            files[f"usage/{table}.jsonl"] = _json_lines(rows)
    return files, f"{where}: {', '.join(sorted(files)) or 'no usage tables'}"


def export_tenant(
    db: Database,
    store: ObjectStore,
    key: str | uuid.UUID,
    *,
    warehouse: WarehouseLocation,
    actor: str = "platform",
    now: datetime | None = None,
) -> ExportResult:
    """Write the tenant's bundle and manifest; audit before and after; queue "export ready"."""
    at = now or datetime.now(UTC)
    tenant = get_tenant(db, key)
    if tenant.status is TenantStatus.PURGED:
        raise LifecycleError(
            f"cannot export tenant {tenant.slug!r}: it is purged; expected active, suspended "
            "or deleted (a purged tenant's data is gone; its last export is in the deletion record)"
        )
    export_id = at.strftime("%Y%m%dT%H%M%S%fZ")
    prefix = tenant_prefix(tenant.id)
    bundle = f"{prefix}exports/{export_id}/"
    with db.platform() as conn:
        audit.record(
            conn, tenant.id, actor, "tenant.export.started", bundle, {"export_id": export_id}
        )
    written: dict[str, tuple[str, int]] = {}

    def write(path: str, data: bytes) -> None:
        store.put(bundle + path, data)
        written[path] = (digest(data), len(data))

    for path, data in _registry_files(db, tenant.id).items():
        write(path, data)
    usage, usage_source = _usage_files(warehouse, tenant.id)
    for path, data in usage.items():
        write(path, data)
    del usage
    # One object at a time, written and hashed before the next is read: the bundle is never
    # held in memory, however many objects the tenant has.
    for object_key in store.keys(prefix):
        relative = object_key.removeprefix(prefix)
        if not relative.startswith("exports/"):
            write(f"objects/{relative}", store.get(object_key))
    header = {
        "tenant_id": str(tenant.id),
        "slug": tenant.slug,
        "export_id": export_id,
        "created_at": at.isoformat(),
        "sources": {"registry": "request path role, row-level security", "usage": usage_source},
    }
    manifest = manifest_from_digests(header, written)
    store.put(bundle + MANIFEST, manifest)  # last: a bundle without it is incomplete
    result = ExportResult(
        tenant.id,
        export_id,
        store.describe(bundle),
        bundle,
        digest(manifest),
        len(written),
        sum(size for _, size in written.values()),
    )
    with db.platform() as conn:
        details = {k: v for k, v in result.to_json().items() if k != "tenant_id"}
        audit.record(conn, tenant.id, actor, "tenant.export", bundle, details)
        enqueue(conn, tenant, EXPORT_READY, {"location": result.location, **details}, at)
    return result


def recorded_export(
    db: Database, tenant_id: uuid.UUID, export_id: str | None = None
) -> dict[str, Any] | None:
    """What the audit trail recorded for an export (the latest one by default)."""
    where = "AND details->>'export_id' = %s" if export_id else ""
    params: tuple[object, ...] = (tenant_id, export_id) if export_id else (tenant_id,)
    with db.platform() as conn:
        row = conn.execute(
            "SELECT details FROM registry.audit_log WHERE tenant_id = %s "
            f"AND action = 'tenant.export' {where} ORDER BY seq DESC LIMIT 1",
            params,
        ).fetchone()
    return None if row is None else dict(row["details"])  # type: ignore[call-overload]
