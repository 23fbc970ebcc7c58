"""A purge's steps outside the database, each on the ledger before and after it runs.

Order matters: the tenant's KMS key is disabled first, so from that moment nothing encrypted
under it (objects, backups, copies elsewhere) can be read; its deletion is then scheduled
with KMS's shortest waiting period (7 days). Storage objects (every version under the tenant's
prefix in the shared bucket), the tenant's dedicated bucket (every version and delete marker,
then the bucket), its Postgres schema and role, Redis keys and warehouse rows follow. Every step is idempotent and recorded in `registry.deletion_steps`, so a purge that
stopped half-way resumes with the steps not finished yet.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import redis
from psycopg import sql

from tenancy import s3_prefix
from tenancy.db.session import Database
from tenancy.errors import ConfigurationError
from tenancy.lifecycle import LifecycleError
from tenancy.object_store import ObjectStore, S3ObjectStore, tenant_prefix
from tenancy.redis_keys import enforcement_pattern
from tenancy.redis_keys import tenant_prefix as redis_tenant_prefix
from tenancy.settings import Settings
from tenancy.storage_location import dedicated_bucket_name
from tenancy.tenant import Tenant, TenantStatus
from tenancy.usage_warehouse import (
    WarehouseLocation,
    erase_deleted,
    has_column,
    open_warehouse,
    table_names,
)

STEPS = (
    "kms_disable",
    "kms_schedule_deletion",
    "storage",
    "bucket",
    "schema",
    "redis",
    "warehouse",
)
#: KMS accepts 7 to 30 days; the shortest, since the key is disabled already.
KEY_DELETION_WINDOW_DAYS = 7
#: Enforcement state about the tenant, under `platform:` (its status key stays: `purged`).
PLATFORM_KINDS = ("quota", "ratelimit", "metered", "activity")
#: Warehouse tables purged of the tenant's rows. `monthly_tenant_usage` is kept: invoices
#: already issued rest on it (counts only, no personal data).
WAREHOUSE_TABLES = (
    "usage_events",
    "usage_event_claims",
    "daily_tenant_usage",
    "registry_snapshots",
    "storage_snapshots",
    "tenant_quota_status",
)
#: Usage entries the ingest set aside, the event's fields kept as JSON text (no tenant column).
QUARANTINE = "usage_quarantine"
#: Why entries failed on their own, by entry id (the text can quote the event's fields).
INGEST_ERRORS = "ingest_errors"
BATCH = 1000


def key_alias(tenant: Tenant) -> str:
    """The tenant key's alias, as the stack creates it."""
    return f"alias/tenant-{tenant.slug}"


@dataclass(frozen=True)
class PurgeTargets:
    """Where the tenant's data lives outside the registry. `kms` None: no per-tenant key
    exists (the local profile's key file), which the ledger records as such."""

    store: ObjectStore
    redis: redis.Redis
    warehouse: WarehouseLocation
    kms: Any | None = None
    alias: Callable[[Tenant], str] = key_alias
    #: The Postgres role that created per-tenant schemas when stacks still made them (the
    #: stacks' former Postgres provider); None: no tenant schema exists to drop.
    data_plane_admin_url: str | None = None


def _scan(client: redis.Redis, pattern: str) -> Iterator[list[bytes]]:
    """Batches of keys matching `pattern`; SCAN, never KEYS."""
    batch: list[bytes] = []
    for key in client.scan_iter(match=pattern, count=BATCH):
        batch.append(key)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _redis(targets: PurgeTargets, tenant: Tenant) -> dict[str, Any]:
    patterns = [f"{redis_tenant_prefix(tenant.id)}*"]
    patterns += [enforcement_pattern(kind, tenant.id) for kind in PLATFORM_KINDS]
    removed = 0
    for pattern in patterns:
        for batch in _scan(targets.redis, pattern):
            removed += int(targets.redis.unlink(*batch))
    return {"keys": removed, "patterns": patterns}


def _storage(targets: PurgeTargets, tenant: Tenant) -> dict[str, Any]:
    prefix = tenant_prefix(tenant.id)
    if isinstance(targets.store, S3ObjectStore):
        removed = s3_prefix.remove_versions(targets.store.client, targets.store.bucket, prefix)
        return {**removed, "prefix": targets.store.describe(prefix)}
    keys = list(targets.store.keys(prefix))
    for start in range(0, len(keys), BATCH):
        targets.store.delete(keys[start : start + BATCH])
    return {"objects": len(keys), "prefix": targets.store.describe(prefix)}


def _bucket(targets: PurgeTargets, tenant: Tenant) -> dict[str, Any]:
    """The tenant's own bucket, if it ever had one: every version, then the bucket."""
    if not isinstance(targets.store, S3ObjectStore):
        return {"skipped": "local object store: no buckets"}
    return s3_prefix.remove_bucket(targets.store.client, dedicated_bucket_name(tenant.slug))


def _schema(targets: PurgeTargets, tenant: Tenant) -> dict[str, Any]:
    """Drop the tenant's schema (CASCADE) and its role, each only if present."""
    if targets.data_plane_admin_url is None:
        return {"skipped": "no data plane admin configured: stacks create no tenant schema"}
    name = tenant_schema(tenant.id)
    with psycopg.connect(targets.data_plane_admin_url, connect_timeout=10) as conn:
        schema = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (name,)).fetchone()
        if schema is not None:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
        role = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
        if role is not None:
            # Grants to the role elsewhere in this database would keep DROP ROLE from working.
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
    return {"schema": name, "schema_dropped": schema is not None, "role_dropped": role is not None}


def tenant_schema(tenant_id: uuid.UUID) -> str:
    """`tenant_<hex>`, the schema (and role) tenant stacks created before they stopped making
    one (no plan has a data tier); installs from then set TENANCY_DATA_PLANE_ADMIN_URL."""
    return f"tenant_{tenant_id.hex}"


def _warehouse(targets: PurgeTargets, tenant: Tenant) -> dict[str, Any]:
    if not targets.warehouse.exists():
        return {"absent": targets.warehouse.describe()}
    removed: dict[str, int] = {}
    with open_warehouse(targets.warehouse) as conn:
        present = table_names(conn)
        # A row from before the stream was recorded (NULL) matches a quarantined entry by id
        # alone, as the ingest reads it.
        same_stream = (
            " AND (q.stream IS NULL OR e.stream IS NULL OR q.stream = e.stream)"
            if {QUARANTINE, INGEST_ERRORS} <= present
            and has_column(conn, QUARANTINE, "stream")
            and has_column(conn, INGEST_ERRORS, "stream")
            else ""
        )
        conn.execute("BEGIN")
        for table in WAREHOUSE_TABLES:
            if table in present:
                row = conn.execute(
                    f'DELETE FROM "{table}" WHERE tenant_id = CAST(? AS UUID)', [str(tenant.id)]
                ).fetchone()
                removed[table] = int(row[0]) if row else 0
        names = "contains(lower(fields), $id) OR contains(lower(reason), $id)"
        if INGEST_ERRORS in present:
            # An entry's recorded errors can quote its fields; they go with its quarantined
            # entry (of the same stream: entry ids are per stream, and two shards' streams
            # hand out the same ids), and any that name the tenant themselves go too.
            of_quarantined = (
                f"EXISTS (SELECT 1 FROM {QUARANTINE} q WHERE q.entry_id = e.entry_id"
                f"{same_stream} AND (contains(lower(q.fields), $id) OR "
                "contains(lower(q.reason), $id))) OR "
                if QUARANTINE in present
                else ""
            )
            row = conn.execute(
                f"DELETE FROM {INGEST_ERRORS} e WHERE {of_quarantined}contains(lower(e.error), $id)",
                {"id": str(tenant.id)},
            ).fetchone()
            removed[INGEST_ERRORS] = int(row[0]) if row else 0
        if QUARANTINE in present:
            row = conn.execute(
                f"DELETE FROM {QUARANTINE} WHERE {names}", {"id": str(tenant.id)}
            ).fetchone()
            removed[QUARANTINE] = int(row[0]) if row else 0
        conn.execute("COMMIT")
        # Every table, not only those this run deleted from: a run that died after the delete
        # committed leaves nothing to delete for the next, but the rows still in the files.
        files = erase_deleted(conn, targets.warehouse, list(removed))
    return {"rows": removed, "kept": ["monthly_tenant_usage"], "files_removed": files}


def _kms(targets: PurgeTargets, tenant: Tenant, step: str) -> dict[str, Any]:
    if targets.kms is None:
        return {"skipped": "no per-tenant KMS key configured (local key file)"}
    key_id = targets.kms.describe_key(KeyId=targets.alias(tenant))["KeyMetadata"]["KeyId"]
    if step == "kms_disable":
        targets.kms.disable_key(KeyId=key_id)
        return {"key_id": key_id}
    reply = targets.kms.schedule_key_deletion(
        KeyId=key_id, PendingWindowInDays=KEY_DELETION_WINDOW_DAYS
    )
    return {"key_id": key_id, "deletion_date": str(reply["DeletionDate"])}


def _run(targets: PurgeTargets, tenant: Tenant, step: str) -> dict[str, Any]:
    if step.startswith("kms_"):
        return _kms(targets, tenant, step)
    runners = {
        "storage": _storage,
        "bucket": _bucket,
        "schema": _schema,
        "redis": _redis,
        "warehouse": _warehouse,
    }
    return runners[step](targets, tenant)


def finish_purge(
    db: Database, tenant: Tenant, targets: PurgeTargets, now: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """Run every step not finished yet for a purged tenant; returns each step's record."""
    if tenant.status is not TenantStatus.PURGED:
        raise LifecycleError(
            f"cannot finish the purge of {tenant.slug!r}: it is {tenant.status}; expected purged"
        )
    done = purge_steps(db, tenant.id)
    for step in STEPS:
        if done.get(step, {}).get("finished_at") is not None:
            continue
        at = now or datetime.now(UTC)
        with db.platform() as conn:
            conn.execute(
                "INSERT INTO registry.deletion_steps (tenant_id, step, started_at) "
                "VALUES (%s, %s, %s) ON CONFLICT (tenant_id, step) DO UPDATE "
                "SET started_at = EXCLUDED.started_at",
                (tenant.id, step, at),
            )
        detail = _run(targets, tenant, step)
        with db.platform() as conn:
            conn.execute(
                "UPDATE registry.deletion_steps SET finished_at = %s, detail = %s "
                "WHERE tenant_id = %s AND step = %s",
                (now or datetime.now(UTC), json.dumps(detail), tenant.id, step),
            )
    return purge_steps(db, tenant.id)


def purge_steps(db: Database, tenant_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    with db.platform() as conn:
        rows = conn.execute(
            "SELECT step, started_at, finished_at, detail FROM registry.deletion_steps "
            "WHERE tenant_id = %s",
            (tenant_id,),
        ).fetchall()
    return {str(r["step"]): {k: v for k, v in r.items() if k != "step"} for r in rows}


def kms_from_env(environ: Mapping[str, str] | None = None) -> Any | None:
    """`TENANCY_KMS=aws`: a boto3 KMS client (each tenant has its key); unset: None."""
    env = os.environ if environ is None else environ
    value = env.get("TENANCY_KMS") or ""
    if not value:
        return None
    if value != "aws":
        raise ConfigurationError(f"TENANCY_KMS is {value!r}; expected `aws` or nothing")
    import boto3

    return boto3.client("kms")


def data_plane_admin_from_env(settings: Settings | None = None) -> str | None:
    """`TENANCY_DATA_PLANE_ADMIN_URL`: set only where tenant stacks once created a Postgres
    schema and role per tenant (they no longer do), so a purge drops them; optional, since a
    current install has none to drop."""
    settings = settings or Settings.from_env()
    return (settings.extra or {}).get("TENANCY_DATA_PLANE_ADMIN_URL")


@dataclass(frozen=True)
class PurgeOutcome:
    slug: str
    outcome: str  # purged | blocked_by_hold | resumed
    steps: int


def purge_due(
    db: Database, targets: PurgeTargets, now: datetime, actor: str = "retention"
) -> list[PurgeOutcome]:
    """Purge every deleted tenant whose 30 days are over (a held one gets its audited
    `blocked_by_hold` instead), and finish purges an interruption left unfinished."""
    from tenancy.lifecycle import RESTORE_WINDOW, Transition
    from tenancy.lifecycle_runtime import apply_runtime_state
    from tenancy.registry import list_tenants
    from tenancy.transitions import apply_transition

    outcomes = []
    for tenant in list_tenants(db, TenantStatus.DELETED):
        assert tenant.deleted_at is not None
        if now < tenant.deleted_at + RESTORE_WINDOW:
            continue
        result = apply_transition(db, tenant.id, Transition.PURGE, actor=actor, now=now)
        if not result.applied:
            outcomes.append(PurgeOutcome(tenant.slug, result.plan.outcome.value, 0))
            continue
        apply_runtime_state(targets.redis, result.tenant)
        steps = finish_purge(db, result.tenant, targets, now)
        outcomes.append(PurgeOutcome(tenant.slug, "purged", len(steps)))
    for tenant in list_tenants(db, TenantStatus.PURGED):
        steps = purge_steps(db, tenant.id)
        if len(steps) < len(STEPS) or any(s["finished_at"] is None for s in steps.values()):
            outcomes.append(
                PurgeOutcome(tenant.slug, "resumed", len(finish_purge(db, tenant, targets, now)))
            )
    return outcomes
