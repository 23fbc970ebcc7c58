"""The object work of a storage move's steps, between the source and target buckets.

Every object copied is entered in `registry.storage_move_objects` with what the source held
when it was read (ETag, size, last modified) and its SHA-256. That entry is how later steps
tell an object the move already carries from one the tenant wrote (or rewrote) since, and
every copy is tagged with the move's id (`storage-move` metadata), which tells the move's own
copies from what the tenant wrote at the target after the switch (the tenant's write wins).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from tenancy import s3_prefix
from tenancy.db.session import Database
from tenancy.errors import TenancyError
from tenancy.s3_prefix import S3Object

MARKER = "storage-move"
#: Listing passes of the copy step: each copies what the tenant wrote during the one before.
COPY_PASSES = 5
Identity = tuple[str, int, datetime]
Tick = Callable[[], None]


class StorageMoveError(TenancyError):
    """A storage move cannot go on; it resumes from the same step once the cause is fixed."""

    def __init__(self, move_id: uuid.UUID, message: str) -> None:
        self.move_id = move_id
        super().__init__(f"storage move {move_id}: {message}")


@dataclass(frozen=True)
class MoveWork:
    """One move's buckets and the registry that holds its ledger."""

    db: Database
    client: Any
    move_id: uuid.UUID
    source: str
    target: str
    prefix: str
    tenant_id: uuid.UUID
    tick: Tick

    def copied(self) -> dict[str, tuple[Identity, str]]:
        """The ledger's objects: key -> (source identity when copied, SHA-256)."""
        with self.db.platform() as conn:
            rows = conn.execute(
                "SELECT key, source_etag, size, source_modified, sha256 "
                "FROM registry.storage_move_objects WHERE move_id = %s",
                (self.move_id,),
            ).fetchall()
        return {
            str(r["key"]): (
                (
                    str(r["source_etag"]),
                    int(str(r["size"])),
                    cast(datetime, r["source_modified"]).astimezone(UTC),
                ),
                str(r["sha256"]),
            )
            for r in rows
        }

    def enter(self, source: S3Object, sha256: str) -> None:
        with self.db.platform() as conn:
            conn.execute(
                "INSERT INTO registry.storage_move_objects (move_id, tenant_id, key, "
                "source_etag, source_modified, size, sha256, copied_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (move_id, key) DO UPDATE SET source_etag = EXCLUDED.source_etag, "
                "source_modified = EXCLUDED.source_modified, size = EXCLUDED.size, "
                "sha256 = EXCLUDED.sha256, copied_at = EXCLUDED.copied_at",
                (
                    self.move_id,
                    self.tenant_id,
                    source.key,
                    source.etag,
                    source.modified,
                    source.size,
                    sha256,
                    datetime.now(UTC),
                ),
            )

    def held(self) -> bool:
        with self.db.platform() as conn:
            row = conn.execute(
                "SELECT legal_hold FROM registry.tenants WHERE id = %s", (self.tenant_id,)
            ).fetchone()
        return bool(row and row["legal_hold"])

    def forget(self, keys: list[str]) -> None:
        with self.db.platform() as conn:
            conn.execute(
                "DELETE FROM registry.storage_move_objects WHERE move_id = %s AND key = ANY(%s)",
                (self.move_id, keys),
            )

    def bring_over(self, obj: S3Object, known: dict[str, tuple[Identity, str]]) -> str:
        """Make sure the target holds `obj` or something newer; say which case it was.

        `unchanged`: the move copied this very object. `superseded`: the tenant wrote the key
        at the target after the switch. `adopted`: a copy of it is there already (a run
        stopped between the copy and its ledger entry). `copied`: copied now. `vanished`:
        gone at the source meanwhile.
        """
        entry = known.get(obj.key)
        if entry is not None and entry[0] == identity(obj):
            return "unchanged"
        meta = s3_prefix.head(self.client, self.target, obj.key)
        if meta is not None:
            tags = {k.lower(): v for k, v in meta.get("Metadata", {}).items()}
            if tags.get(MARKER) != str(self.move_id):
                return "superseded"
            if tags.get("source-etag") == obj.etag and int(meta["ContentLength"]) == obj.size:
                self.enter(obj, tags["sha256"])
                known[obj.key] = (identity(obj), tags["sha256"])
                return "adopted"
        copy = s3_prefix.copy_object(
            self.client, self.source, self.target, obj.key, {MARKER: str(self.move_id)}
        )
        if copy is None:
            return "vanished"
        self.enter(copy.source, copy.sha256)
        known[obj.key] = (identity(copy.source), copy.sha256)
        self.tick()
        return "copied"


def identity(obj: S3Object) -> Identity:
    return (obj.etag, obj.size, obj.modified)


def _count(counts: dict[str, int], outcome: str) -> None:
    counts[outcome] = counts.get(outcome, 0) + 1


def copy_step(work: MoveWork) -> dict[str, Any]:
    """Copy every object under the prefix, pass after pass until one finds nothing new."""
    for bucket, role in ((work.target, "target"), (work.source, "source")):
        if not s3_prefix.bucket_exists(work.client, bucket):
            raise StorageMoveError(
                work.move_id,
                f"the {role} bucket {bucket!r} does not exist; the tenant's stack creates a "
                "dedicated bucket (`tenancy stacks generate`, then deploy), then resume the move",
            )
    known = work.copied()
    counts: dict[str, int] = {}
    passes, fresh = 0, 1
    while fresh and passes < COPY_PASSES:
        passes, fresh = passes + 1, 0
        for obj in s3_prefix.list_objects(work.client, work.source, work.prefix):
            outcome = work.bring_over(obj, known)
            _count(counts, outcome)
            fresh += outcome in ("copied", "adopted")
    return {"objects": len(known), "passes": passes, "outcomes": counts}


def verify_step(work: MoveWork) -> dict[str, Any]:
    """Every copied object is at the target with its size (listing) and SHA-256 (bytes read
    back). What differs is taken off the ledger and the copy step reopened, so a resume
    copies it again; the move does not switch until this passes."""
    known = work.copied()
    listed = {o.key: o for o in s3_prefix.list_objects(work.client, work.target, work.prefix)}
    wrong: list[str] = []
    checked = total = same_etag = 0
    for key, ((etag, size, _), sha256) in sorted(known.items()):
        there = listed.get(key)
        if there is None or there.size != size:
            wrong.append(key)
            continue
        # Equal ETags (plain single-part objects) agree already; under SSE-KMS an ETag is not
        # a digest of the bytes, so the SHA-256 of the bytes read back decides either way.
        same_etag += there.etag == etag
        if s3_prefix.sha256_of(work.client, work.target, key) != sha256:
            wrong.append(key)
            continue
        checked += 1
        total += size
    source = list(s3_prefix.list_objects(work.client, work.source, work.prefix))
    pending = [o.key for o in source if known.get(o.key, (None,))[0] != identity(o)]
    if wrong:
        work.forget(wrong)
        with work.db.platform() as conn:
            conn.execute(
                "DELETE FROM registry.storage_move_steps WHERE move_id = %s AND step = 'copy'",
                (work.move_id,),
            )
        raise StorageMoveError(
            work.move_id,
            f"{len(wrong)} object(s) differ at {work.target!r} (first: {wrong[:3]}); the copy "
            "step is reopened for them: resume the move",
        )
    return {
        "objects": checked,
        "bytes": total,
        "sha256_verified": checked,
        "etag_equal": same_etag,
        "written_at_source_since_copy": len(pending),
    }


def catch_up_step(work: MoveWork) -> dict[str, Any]:
    """After the switch: bring over what the tenant wrote at the source between the copy and
    the switch, and mirror what it deleted there (only the move's own copies are deleted)."""
    known = work.copied()
    counts: dict[str, int] = {}
    present: set[str] = set()
    for obj in s3_prefix.list_objects(work.client, work.source, work.prefix):
        present.add(obj.key)
        _count(counts, work.bring_over(obj, known))
    mirrored: list[str] = []
    if work.held():
        # Under legal hold even the tenant's own deletions are not carried over: the copy stays.
        kept = len(set(known) - present)
        return {"outcomes": counts, "deleted_at_source_kept_for_hold": kept}
    for key in sorted(set(known) - present):
        meta = s3_prefix.head(work.client, work.target, key)
        if meta is None:
            continue
        tags = {k.lower(): v for k, v in meta.get("Metadata", {}).items()}
        if tags.get(MARKER) == str(work.move_id) and tags.get("sha256") == known[key][1]:
            mirrored.append(key)
    s3_prefix.delete_keys(work.client, work.target, mirrored)
    return {"outcomes": counts, "deleted_at_source_mirrored": len(mirrored)}


def remove_old_step(work: MoveWork, source_is_dedicated: bool) -> dict[str, Any]:
    """Remove the source. Each listed version goes only once the target holds the current
    object (or a newer write of the tenant's), and only the versions listed are deleted, so a
    straggling write at the source is a new version that the next pass brings over first.
    A dedicated source bucket is deleted when nothing but the tenant's prefix was in it."""
    if source_is_dedicated and not s3_prefix.bucket_exists(work.client, work.source):
        return {"bucket_deleted": work.source, "absent_already": True}
    known = work.copied()
    counts: dict[str, int] = {}
    removed = {"versions": 0, "delete_markers": 0}
    passes = 0
    while passes < COPY_PASSES:
        versions = list(s3_prefix.list_versions(work.client, work.source, work.prefix))
        if not versions:
            break
        passes += 1
        for version in versions:
            if version.current is not None:
                _count(counts, work.bring_over(version.current, known))
        s3_prefix.delete_versions(work.client, work.source, versions)
        gone = s3_prefix.count_versions(versions)
        removed = {k: removed[k] + gone[k] for k in removed}
        work.tick()
    left = sum(1 for _ in s3_prefix.list_versions(work.client, work.source, work.prefix))
    if left:
        raise StorageMoveError(
            work.move_id,
            f"{left} version(s) still under {work.prefix} in {work.source!r} after {passes} "
            "passes (is the tenant still writing there?); resume the move",
        )
    detail: dict[str, Any] = {"outcomes": counts, "passes": passes, **removed}
    if source_is_dedicated:
        strays = sum(1 for _ in s3_prefix.list_versions(work.client, work.source, ""))
        if strays:
            detail["bucket_kept"] = f"{strays} version(s) outside {work.prefix}"
        else:
            detail["bucket_deleted"] = s3_prefix.remove_bucket(work.client, work.source)["bucket"]
    return detail


def as_json(detail: dict[str, Any]) -> str:
    return json.dumps(detail, default=str)
