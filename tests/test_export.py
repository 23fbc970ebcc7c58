"""Export bundles: what goes in, the manifest, tamper detection, S3, and the CLI."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from typer.testing import CliRunner

from tenancy.cli.main import app
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.devstack.redis import RedisServer
from tenancy.export_bundle import export_tenant, recorded_export
from tenancy.export_manifest import verify_bundle
from tenancy.lifecycle import LifecycleError, Transition
from tenancy.object_store import LocalObjectStore, ObjectStore, S3ObjectStore, tenant_prefix
from tenancy.transitions import apply_transition, deletion_record
from tenancy.usage_warehouse import WarehouseLocation, open_warehouse
from tests.db.factories import make_agent, make_document, make_tenant
from tests.warehouses import KINDS, warehouse_at


def seed(db: Database, store: ObjectStore, warehouse: WarehouseLocation) -> tuple[Any, Any]:
    acme = make_tenant(db, "acme").tenant
    globex = make_tenant(db, "globex").tenant
    for t in (acme, globex):
        make_agent(db, t.id)
        make_document(db, t.id, f"{t.slug}.pdf")
        store.put(f"{tenant_prefix(t.id)}documents/{t.slug}.pdf", f"pdf of {t.slug}".encode())
        store.put(f"{tenant_prefix(t.id)}uploads/raw.bin", bytes(range(256)))
    with open_warehouse(warehouse) as conn:
        conn.execute(
            "CREATE TABLE daily_tenant_usage (day DATE, tenant_id UUID, metric VARCHAR, "
            "endpoint VARCHAR, value BIGINT)"
        )
        for t, n in ((acme, 7), (globex, 9)):
            conn.execute(
                "INSERT INTO daily_tenant_usage VALUES ('2026-01-02', ?, 'api_calls', '', ?)",
                [str(t.id), n],
            )
    return acme, globex


@pytest.mark.parametrize("kind", KINDS)
def test_bundle_round_trip_holds_only_the_tenant(
    db: Database, superuser: psycopg.Connection, tmp_path: Path, kind: str
) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    warehouse = warehouse_at(kind, tmp_path)
    acme, globex = seed(db, store, warehouse)
    result = export_tenant(db, store, "acme", warehouse=warehouse, actor="ops")
    bundle = result.bundle_prefix
    assert bundle == f"{tenant_prefix(acme.id)}exports/{result.export_id}/"
    names = sorted(k.removeprefix(bundle) for k in store.keys(bundle))
    assert names == [
        "manifest.json",
        "objects/documents/acme.pdf",
        "objects/uploads/raw.bin",
        "registry/agents.jsonl",
        "registry/audit_log.jsonl",
        "registry/documents.jsonl",
        "registry/memberships.jsonl",
        "registry/tenant.jsonl",
        "usage/daily_tenant_usage.jsonl",
    ]
    assert store.get(bundle + "objects/documents/acme.pdf") == b"pdf of acme"
    usage = [
        json.loads(line)
        for line in store.get(bundle + "usage/daily_tenant_usage.jsonl").splitlines()
    ]
    assert [(u["tenant_id"], u["value"]) for u in usage] == [(str(acme.id), 7)]
    members = store.get(bundle + "registry/memberships.jsonl").decode()
    assert "owner@acme.example.com" in members and "globex" not in members
    for name in ("agents", "documents", "audit_log", "tenant"):
        assert str(globex.id) not in store.get(bundle + f"registry/{name}.jsonl").decode(), name

    report = verify_bundle(store, bundle, result.manifest_sha256)
    assert report.ok and report.files == 8, report.problems
    recorded = recorded_export(db, acme.id)
    assert recorded is not None and recorded["manifest_sha256"] == result.manifest_sha256
    actions = [
        r[0]
        for r in superuser.execute(
            "SELECT action FROM registry.audit_log WHERE tenant_id = %s ORDER BY seq", (acme.id,)
        ).fetchall()
    ]
    assert actions[-2:] == ["tenant.export.started", "tenant.export"]
    kinds = superuser.execute(
        "SELECT kind, body FROM registry.notification_outbox WHERE tenant_id = %s "
        "AND kind <> 'welcome'",
        (acme.id,),
    ).fetchall()
    assert (
        len(kinds) == 1 and kinds[0][0] == "export_ready" and result.manifest_sha256 in kinds[0][1]
    )

    second = export_tenant(db, store, "acme", warehouse=warehouse)
    assert not any(
        "exports/" in k.removeprefix(second.bundle_prefix) for k in store.keys(second.bundle_prefix)
    ), "an export does not contain earlier exports"


def test_tampering_is_detected(db: Database, tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    seed(db, store, warehouse_at("lake", tmp_path))
    result = export_tenant(db, store, "acme", warehouse=warehouse_at("lake", tmp_path))
    bundle, expected = result.bundle_prefix, result.manifest_sha256
    root = tmp_path / "objects"

    doc = root / bundle / "objects/documents/acme.pdf"
    doc.write_bytes(b"pdf of acmE")
    (root / bundle / "registry/agents.jsonl").unlink()
    (root / bundle / "objects/planted.txt").write_bytes(b"x")
    problems = verify_bundle(store, bundle, expected).problems
    assert len(problems) == 3
    assert problems[0].startswith("objects/documents/acme.pdf: SHA-256 ")
    assert problems[1] == "registry/agents.jsonl: listed in the manifest but missing"
    assert problems[2] == "objects/planted.txt: in the bundle but not in the manifest"

    # Rewriting the manifest to match only moves the problem to the manifest's own digest.
    manifest = json.loads((root / bundle / "manifest.json").read_bytes())
    manifest["files"] = [f for f in manifest["files"] if f["path"] != "registry/agents.jsonl"]
    for entry in manifest["files"]:
        if entry["path"] == "objects/documents/acme.pdf":
            entry["sha256"] = __import__("hashlib").sha256(doc.read_bytes()).hexdigest()
    (root / bundle / "objects/planted.txt").unlink()
    (root / bundle / "manifest.json").write_text(json.dumps(manifest))
    forged = verify_bundle(store, bundle, expected)
    assert verify_bundle(store, bundle).ok, "consistent with itself"
    assert forged.problems == [
        f"manifest.json has SHA-256 {forged.manifest_sha256}; expected {expected}, recorded when "
        "the export was made"
    ]
    (root / bundle / "manifest.json").unlink()
    assert verify_bundle(store, bundle).problems == [
        "manifest.json is missing: the bundle is incomplete or not a bundle"
    ]


def test_export_to_s3(db: Database, moto_endpoint: str, tmp_path: Path) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    bucket = f"shared-{uuid.uuid4().hex[:8]}"
    client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    store = S3ObjectStore(client, bucket)
    seed(db, store, warehouse_at("lake", tmp_path))
    result = export_tenant(db, store, "acme", warehouse=warehouse_at("file", tmp_path))
    assert result.location.startswith(f"s3://{bucket}/tenants/")
    manifest = json.loads(store.get(result.bundle_prefix + "manifest.json"))
    assert manifest["sources"]["usage"].startswith("no warehouse at ")
    assert verify_bundle(store, result.bundle_prefix, result.manifest_sha256).ok
    store.put(result.bundle_prefix + "registry/tenant.jsonl", b"{}\n")
    assert not verify_bundle(store, result.bundle_prefix, result.manifest_sha256).ok


def test_soft_delete_exports_and_purge_records_the_digest(
    cli_env: RegistryUrls,
    db: Database,
    redis_server: RedisServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TENANCY_REDIS_URL", redis_server.url)
    monkeypatch.setenv("TENANCY_RUN_DIR", str(tmp_path))
    store = LocalObjectStore(tmp_path / "objects")
    acme, _ = seed(db, store, warehouse_at("lake", tmp_path))
    runner = CliRunner()
    deleted = runner.invoke(
        app, ["tenants", "delete", "acme", "--reason", "closing", "--yes", "--json"]
    )
    assert deleted.exit_code == 0, deleted.output
    data = json.loads(deleted.stdout)
    assert data["to"] == "deleted" and data["export"]["files"] == 8
    bundle = data["export"]["bundle_prefix"]
    ok = runner.invoke(app, ["tenants", "verify-export", bundle])
    assert ok.exit_code == 0 and "intact, 8 files" in ok.output
    (tmp_path / "objects" / bundle / "registry/tenant.jsonl").write_bytes(b"{}\n")
    bad = runner.invoke(app, ["tenants", "verify-export", bundle, "--json"])
    assert bad.exit_code == 1 and json.loads(bad.stdout)["problems"][0].startswith(
        "registry/tenant.jsonl"
    )

    apply_transition(db, "acme", Transition.PURGE, force=True)
    record = deletion_record(db, acme.id)
    assert (
        record is not None and record["export_manifest_sha256"] == data["export"]["manifest_sha256"]
    )
    with pytest.raises(LifecycleError, match="cannot export tenant 'acme': it is purged"):
        export_tenant(db, store, "acme", warehouse=warehouse_at("lake", tmp_path))


class HoldCountingStore(LocalObjectStore):
    """Counts the object bytes read but not yet written back into a bundle: what the export
    holds in memory at once."""

    def __init__(self, root: Path, prefix: str) -> None:
        super().__init__(root)
        self.prefix = prefix
        self.held: dict[str, int] = {}
        self.peak = 0

    def get(self, key: str) -> bytes:
        data = super().get(key)
        self.held[key.removeprefix(self.prefix)] = len(data)
        self.peak = max(self.peak, sum(self.held.values()))
        return data

    def put(self, key: str, data: bytes) -> None:
        super().put(key, data)
        if "/objects/" in key:
            self.held.pop(key.split("/objects/", 1)[1], None)


def test_a_large_bundle_is_written_one_object_at_a_time(db: Database, tmp_path: Path) -> None:
    acme = make_tenant(db, "acme").tenant
    prefix = tenant_prefix(acme.id)
    store = HoldCountingStore(tmp_path / "objects", prefix)
    size, count = 64 * 1024, 40
    for i in range(count):
        store.put(f"{prefix}uploads/{i:03}.bin", bytes([i]) * size)
    result = export_tenant(db, store, acme.id, warehouse=warehouse_at("lake", tmp_path))
    assert result.bytes > 2 * 1024 * 1024, "a bundle larger than the 2 MiB threshold"
    assert store.peak == size, "never more than one object held at once"
    report = verify_bundle(store, result.bundle_prefix, result.manifest_sha256)
    assert report.ok and report.files == result.files >= count
